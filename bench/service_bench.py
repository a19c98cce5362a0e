#!/usr/bin/python3
"""Throughput and latency of the key service (`mailseal serve`) against its
peer in the same run: nginx serving the same profile document (the exact
bytes a lookup answers) as a static file at the same path.

  lookups    GET /v1/addresses/alice%40example.com, keep-alive, wrk
  publishes  PUT /v1/accounts/FP, the same profile again, each request signed
             by its root key with its own nonce (made just before each run
             with Python's cryptography, as tests/tools/service_tool.py signs;
             sent once each by wrk through bench/service_bench.lua; a run
             that uses them all up is made again with twice as many)

with 1, 2 and 4 `serve --reuse-port` processes sharing one port and one
database (SQLite by default; --db postgresql starts a throwaway PostgreSQL
cluster with initdb and pg_ctl). The rate limits are lifted for the bench
(--limit NAME=0/1s); nothing else is. Rounds alternate the order of the
targets; the table shows medians. ratio = the service's lookups per second /
nginx's (worker_processes auto: one per core). Target: at least 0.5.

Needs nginx and wrk (scripts/install-deps.sh --bench); never run in CI:

  /usr/bin/python3 bench/service_bench.py [--db sqlite|postgresql] [--rounds 5]
      [--seconds 5] [--threads 2] [--connections 32] [--publishes 2000]
      [--processes 1,2,4] [--mailseal PATH]
"""
import argparse
import base64
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
from service_tool import typed_digest  # noqa: E402

ADDRESS = "alice@example.com"
LOOKUP = "/v1/addresses/alice%40example.com"
LIFTED = ["lookup", "signed", "new-profile", "account"]
PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def must(*command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"service_bench: {' '.join(command)} failed:\n{result.stderr.strip()}")
    return result.stdout


def wait_for(url, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Postgres:
    """A throwaway cluster in `folder`, reached over its Unix socket there.
    initdb refuses to run as root; then the cluster belongs to `postgres`."""

    def __init__(self, folder):
        self.folder = folder
        self.data = os.path.join(folder, "data")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def __enter__(self):
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            raise SystemExit("service_bench: --db postgresql needs Debian's postgresql (PostgreSQL 15): "
                             f"no {PG_BIN}/initdb")
        os.makedirs(self.folder)
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
            os.chmod(os.path.dirname(self.folder), 0o755)
        must(*self.as_user, os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "bench")
        self.port = free_port()
        must(*self.as_user, os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-l",
             os.path.join(self.folder, "log"), "-o", f"-k {self.folder} -p {self.port} -c listen_addresses=''",
             "start")
        must(*self.as_user, os.path.join(PG_BIN, "createdb"), "-h", self.folder, "-p", str(self.port), "-U", "bench",
             "service")
        return self

    def url(self):
        return f"postgresql://bench@/service?host={self.folder}&port={self.port}"

    def __exit__(self, *exception):
        subprocess.run([*self.as_user, os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "stop"],
                       capture_output=True)


class Services:
    """`count` serve processes sharing one port (--reuse-port) and one database."""

    def __init__(self, mailseal, database, count):
        self.port = free_port()
        self.count = count
        limits = [argument for name in LIFTED for argument in ("--limit", f"{name}=0/1s")]
        self.processes = []
        for _ in range(count):
            process = subprocess.Popen([mailseal, "serve", "--listen", f"127.0.0.1:{self.port}", "--reuse-port",
                                        "--db", database, *limits], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.processes.append(process)
            line = process.stdout.readline().strip()
            if not line.startswith("http"):
                self.stop()
                error = process.stderr.read().strip()
                if database.startswith("postgresql:"):
                    raise SystemExit("service_bench: this mailseal cannot serve from PostgreSQL yet "
                                     f"(serve --db postgresql://... failed: {error})")
                raise SystemExit(f"service_bench: mailseal serve did not start: {error}")
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class Nginx:
    """nginx serving `document` as the file at LOOKUP's path."""

    def __init__(self, document, workers):
        # Its own folder, readable by all: started by root, nginx's workers run as nobody.
        folder = self.folder = tempfile.mkdtemp(prefix="mailseal-service-bench-nginx.")
        root = os.path.join(folder, "www")
        os.makedirs(os.path.join(root, "v1", "addresses"), exist_ok=True)
        with open(os.path.join(root, "v1", "addresses", ADDRESS), "wb") as out:
            out.write(document)
        for path, _, files in os.walk(folder):
            os.chmod(path, 0o755)
            for name in files:
                os.chmod(os.path.join(path, name), 0o644)
        self.port = free_port()
        configuration = os.path.join(folder, f"nginx-{workers}.conf")
        with open(configuration, "w") as out:
            out.write(f"""worker_processes {workers};
daemon off;
pid {folder}/nginx-{workers}.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  types {{ }}
  default_type application/json;
  keepalive_requests 1000000;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  server {{
    listen 127.0.0.1:{self.port};
    root {root};
  }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-p", folder, "-c", configuration], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            served = wait_for(self.url + LOOKUP)
        except OSError as error:
            self.stop()
            raise SystemExit(f"service_bench: nginx does not serve the document: {error}")
        if served != document:
            self.stop()
            raise SystemExit("service_bench: nginx does not serve the document as given")

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=20)
        shutil.rmtree(self.folder, ignore_errors=True)


def wrk(arguments, url, *script_arguments):
    """One run of wrk for --seconds; with a request file (publishes), only
    their answers count. None when the file ran out before the end."""
    command = ["wrk", "-t", str(arguments.threads), "-c", str(arguments.connections), "-d", f"{arguments.seconds}s",
               "--timeout", "10s", "-s", os.path.join(HERE, "service_bench.lua"), url]
    if script_arguments:
        command += ["--", *script_arguments]
    output = must(*command)
    result = json.loads(output.strip().splitlines()[-1])
    if result["socket_errors"] or result["non_2xx"]:
        raise SystemExit(f"service_bench: {url}: {result['non_2xx']} answers not 2xx, "
                         f"{result['socket_errors']} socket errors")
    if result["exhausted"]:
        return None
    done = result["answered"] if script_arguments else result["requests"]
    return {"per_second": done / result["seconds"], "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000, "requests": done}


def publication(profile):
    """The publish body for a profile as the service answers it (GET /v1/accounts/FP)."""
    document = json.loads(profile)
    return json.dumps({name: document[name] for name in
                       ("root", "certificates", "endorsements", "revocations", "devices")}).encode()


def write_publishes(key, fingerprint, body, port, count, threads, prefix):
    """`count` signed publishes, fresh nonces, split among wrk's threads."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    with open(key, "rb") as handle:
        private = serialization.load_pem_private_key(handle.read(), password=None)
    target = f"/v1/accounts/{fingerprint}"
    digest = typed_digest(body)
    files = [open(f"{prefix}.{thread}", "wb") for thread in range(threads)]
    now = int(time.time())
    for number in range(count):
        nonce = secrets.token_hex(16)
        text = f"mailseal-request-1\nPUT\n{target}\n{now}\n{nonce}\n{digest}".encode()
        signature = private.sign(text, ec.ECDSA(hashes.SHA256()))
        authorization = (f'Mailseal-Signature key="root", time="{now}", nonce="{nonce}", '
                         f'signature="{base64.b64encode(signature).decode()}"')
        request = (f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                   f"Authorization: {authorization}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        files[number % threads].write(f"{len(request)}\n".encode() + request)
    for handle in files:
        handle.close()


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({model}), Linux {platform.release()}, {nginx}, "
            f"{subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.splitlines()[0].split(' [')[0]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailseal", default=os.path.join(HERE, "..", "build", "src", "cli", "mailseal"))
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--publishes", type=int, default=2000, help="signed publishes made for a run at first")
    arguments = parser.parse_args()
    mailseal = os.path.abspath(arguments.mailseal)
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"service_bench: {tool} is not installed (scripts/install-deps.sh --bench installs it)")
    counts = [int(n) for n in arguments.processes.split(",")]
    work = tempfile.mkdtemp(prefix="mailseal-service-bench.")
    started = []
    postgres = None
    try:
        if arguments.db == "postgresql":
            postgres = Postgres(os.path.join(work, "postgres")).__enter__()
            database = postgres.url()
        else:
            database = os.path.join(work, "service.db")
        # One process first: it makes the database, and Alice publishes.
        groups = {counts[0]: Services(mailseal, database, counts[0])}
        started.append(groups[counts[0]])
        home = os.path.join(work, "alice")
        must(mailseal, "--home", home, "init", ADDRESS, "--suite", "modern", "--service", groups[counts[0]].url)
        for count in counts[1:]:
            groups[count] = Services(mailseal, database, count)
            started.append(groups[count])
        document = wait_for(groups[counts[0]].url + LOOKUP)
        fingerprint = json.loads(document)["fingerprint"]
        body = publication(wait_for(groups[counts[0]].url + "/v1/accounts/" + fingerprint))
        key = next(os.path.join(home, "keys", name) for name in os.listdir(os.path.join(home, "keys"))
                   if name.startswith("root-"))
        nginx = {}
        for workers in (1, os.cpu_count()):
            nginx[workers] = Nginx(document, workers)
            started.append(nginx[workers])
        for count, group in groups.items():
            if wait_for(group.url + LOOKUP) != document:
                raise SystemExit("service_bench: the service processes answer different documents")

        targets = [(f"nginx, {workers} worker{'s' if workers > 1 else ''} (static file)", server.url)
                   for workers, server in nginx.items()]
        targets += [(f"mailseal serve x{count} ({arguments.db})", group.url) for count, group in groups.items()]
        lookups = {name: [] for name, _ in targets}
        publishes = {count: [] for count in groups}
        print(f"# {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}  {machine()}")
        print(f"# document {len(document)} bytes; wrk -t{arguments.threads} -c{arguments.connections} "
              f"-d{arguments.seconds}s; {arguments.rounds} rounds; rate limits lifted", flush=True)
        planned = arguments.publishes
        for round_number in range(arguments.rounds):
            order = targets if round_number % 2 == 0 else list(reversed(targets))
            for name, url in order:
                result = wrk(arguments, url + LOOKUP)
                lookups[name].append(result)
                print(json.dumps({"round": round_number, "case": "lookup", "target": name, **result}), flush=True)
            for count in (counts if round_number % 2 == 0 else list(reversed(counts))):
                prefix = os.path.join(work, f"publish-{round_number}-{count}")
                result = None
                while result is None:  # more requests than the run takes, fresh for each run
                    write_publishes(key, fingerprint, body, groups[count].port, planned, arguments.threads, prefix)
                    result = wrk(arguments, groups[count].url + "/v1/health", prefix)
                    if result is None:
                        planned *= 2
                publishes[count].append(result)
                print(json.dumps({"round": round_number, "case": "publish", "processes": count, **result}), flush=True)

        def median(results, field):
            return statistics.median(result[field] for result in results)

        peer = median(lookups[targets[len(nginx) - 1][0]], "per_second")
        print(f"\n| case ({arguments.db}) | per second | p50 | p99 | ratio to nginx ({os.cpu_count()} workers) |")
        print("|---|---|---|---|---|")
        for name, _ in targets:
            rate = median(lookups[name], "per_second")
            print(f"| lookup, {name} | {rate:,.0f} | {median(lookups[name], 'p50_ms'):.2f} ms | "
                  f"{median(lookups[name], 'p99_ms'):.2f} ms | {rate / peer:.2f} |")
        for count, results in publishes.items():
            print(f"| publish, mailseal serve x{count} ({arguments.db}) | {median(results, 'per_second'):,.0f} | "
                  f"{median(results, 'p50_ms'):.2f} ms | {median(results, 'p99_ms'):.2f} ms | |")
    finally:
        for server in started:
            server.stop()
        if postgres:
            postgres.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
