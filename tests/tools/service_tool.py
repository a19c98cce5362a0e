"""Test helpers for the key service: run `mailseal serve` on 127.0.0.1, send
raw HTTP requests, and sign requests the way docs/service.md describes, with
openssl rather than mailseal, so that the tests check the protocol and not
only mailseal against itself."""
import hashlib
import re
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import base64
import http.client
import sqlite3
import urllib.parse

import postgres_tool
from mailseal_test import faketime_environment


class KeyService:
    """`mailseal serve` on 127.0.0.1. With settable_clock, the service runs
    under libfaketime (the faketime package), reading its clock's offset from
    a file on every look at the clock, so that a test moves the service's
    clock forward (move_clock) instead of sleeping; the monotonic clock, which
    times connections, stays real.

    Under tests/tools/with_postgres.py, MAILSEAL_SERVICE_PROCESSES (2 there)
    `serve` processes share the database and the port (--reuse-port: the
    kernel hands each connection to one of them), so that a suite's requests
    go to several processes, as on a service that outgrew one; `process` is
    the first, `processes` all of them."""

    def __init__(self, mailseal, work, extra=(), settable_clock=False):
        self.mailseal = mailseal
        # Under tests/tools/with_postgres.py (MAILSEAL_POSTGRES), each folder's
        # service keeps its data in its own database of that cluster; else
        # in a SQLite file in the folder.
        self.postgres = postgres_tool.base_uri()
        if self.postgres:
            name = "service_" + hashlib.sha256(os.path.abspath(work).encode()).hexdigest()[:16]
            self.database = postgres_tool.create_database(self.postgres, name)
        else:
            self.database = os.path.join(work, "service.db")
        self.work = work
        self.extra = list(extra)
        self.count = int(os.environ.get("MAILSEAL_SERVICE_PROCESSES", "1")) if self.postgres else 1
        if self.count > 1:
            self.extra.append("--reuse-port")
        self.process = None
        self.processes = []
        self.url = None
        self.clock_file = os.path.join(work, "service-clock") if settable_clock else None

    def command(self, listen="127.0.0.1:0"):
        serve = [self.mailseal, "serve", "--listen", listen, "--db", self.database, *self.extra]
        if self.clock_file is None:
            return serve, None
        self.move_clock(0)
        # The service itself is the process started (not a wrapper that forks),
        # so that SIGTERM at the end stops it.
        return serve, faketime_environment(timestamp_file=self.clock_file, multithreaded=True)

    def move_clock(self, seconds):
        """Sets the service's clock `seconds` ahead of the real one (atomically:
        the service never reads half a file)."""
        temporary = self.clock_file + ".new"
        with open(temporary, "w") as out:
            out.write(f"{seconds:+d}\n")
        os.replace(temporary, self.clock_file)

    def start(self, listen):
        """Starts one `serve` process; the URL it printed."""
        command, environment = self.command(listen)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
        self.processes.append(process)
        line = process.stdout.readline().decode().strip()
        if not line.startswith("http"):
            for started in self.processes:
                started.kill()
            raise RuntimeError("the key service did not start: " + process.stderr.read().decode())
        return line

    def __enter__(self):
        line = self.start("127.0.0.1:0")
        self.process = self.processes[0]
        self.url = line
        parsed = urllib.parse.urlparse(line)
        self.host, self.port = parsed.hostname, parsed.port
        for _ in range(1, self.count):
            self.start(f"127.0.0.1:{self.port}")
        return self

    def __exit__(self, *exception):
        """Stops every process; exit_status is the first non-zero status, else 0."""
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        statuses = []
        for process in self.processes:
            try:
                statuses.append(process.wait(timeout=20))
            except subprocess.TimeoutExpired:
                process.kill()
                raise RuntimeError("the key service did not stop on SIGTERM")
        self.exit_status = next((status for status in statuses if status != 0), 0)
        return False

    def alive(self):
        return all(process.poll() is None for process in self.processes)

    def request(self, method, target, body=None, headers=None, content_type="application/json", timeout=30):
        """(status, JSON answer or {'raw': text})"""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        all_headers = dict(headers or {})
        if body is not None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            if content_type:
                all_headers["Content-Type"] = content_type
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        text = response.read()
        connection.close()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, {"raw": text.decode(errors="replace")}

    def rows(self, sql, parameters=()):
        """The rows of a query on the service's database, whichever back end:
        tuples (of text, from PostgreSQL). Parameters as `?`."""
        if not self.postgres:
            connection = sqlite3.connect(self.database)
            try:
                return connection.execute(sql, parameters).fetchall()
            finally:
                connection.close()
        for value in parameters:
            sql = sql.replace("?", "'" + str(value).replace("'", "''") + "'", 1)
        return postgres_tool.psql(self.database, sql)

    def write(self, sql, parameters=()):
        """Edits the service's SQLite database as its operator could (the
        tests of a tampering service). Parameters as `?`."""
        connection = sqlite3.connect(self.database)
        try:
            connection.execute(sql, parameters)
            connection.commit()
        finally:
            connection.close()

    def tables(self):
        """The names of the service's tables."""
        if not self.postgres:
            return [row[0] for row in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [row[0] for row in self.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]

    def stored_bytes(self):
        """Everything the database holds, as bytes: the SQLite files, or a
        dump of the PostgreSQL database with its BYTEA values decoded too."""
        if not self.postgres:
            return b"".join(open(os.path.join(self.work, name), "rb").read() for name in os.listdir(self.work)
                            if name.startswith("service.db"))
        dump = subprocess.run(["pg_dump", "--data-only", "-d", self.database], capture_output=True, check=True).stdout
        decoded = [bytes.fromhex(hex_text.decode()) for hex_text in re.findall(rb"\\x((?:[0-9a-f]{2})+)", dump)]
        return dump + b"".join(decoded)

    def account_fingerprint(self, address):
        status, answer = self.request("GET", "/v1/addresses/" + urllib.parse.quote(address, safe=""))
        if status != 200:
            raise RuntimeError(f"no profile for {address}: {answer}")
        return answer["fingerprint"]


def typed_digest(body):
    """UDF typed content digest (SHA-512) of a request body."""
    inner = hashlib.sha512(body).digest()
    return hashlib.sha512(b"application/octet-stream:" + inner).hexdigest()


def sign_request(key_file, key_id, method, target, body, now=None, nonce=None):
    """The Authorization header for a request, signed with openssl."""
    now = int(time.time()) if now is None else now
    nonce = secrets.token_hex(16) if nonce is None else nonce
    text = f"mailseal-request-1\n{method}\n{target}\n{now}\n{nonce}\n{typed_digest(body)}"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], input=text.encode(),
                               capture_output=True, check=True).stdout
    return (f'Mailseal-Signature key="{key_id}", time="{now}", nonce="{nonce}", '
            f'signature="{base64.b64encode(signature).decode()}"')


def raw(service, method, target, source="127.0.0.2", headers=None, body=b""):
    """(status, headers {lower-case name: value}, JSON or text) of one request
    from `source` over a plain socket (Linux routes all of 127/8 to lo)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: keys", "Connection: close", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in (headers or [])]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
        connection.bind((source, 0))
        connection.settimeout(30)
        connection.connect((service.host, service.port))
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode(errors="replace").split("\r\n")
    found = {name.strip().lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
    try:
        document = json.loads(text)
    except ValueError:
        document = {"raw": text.decode(errors="replace")}
    return int(status_line.split()[1]), found, document


class ThrowawayDevice:
    """A joining device's P-256 keys made with openssl, as a spammer makes them."""

    def __init__(self, work, number):
        self.key = os.path.join(work, f"spam-{number}.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                        self.key], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.spki = base64.b64encode(der).decode()

    def signed_join(self, fingerprint):
        """A join request to the profile, signed: (target, headers, body)."""
        target = f"/v1/accounts/{fingerprint}/requests"
        body = json.dumps({"device_name": "spam", "signature_key": self.spki, "agreement_key": self.spki,
                           "device_nonce": secrets.token_hex(16)}).encode()
        return target, [("Authorization", sign_request(self.key, "device", "POST", target, body))], body

    def join(self, service, fingerprint, source):
        target, headers, body = self.signed_join(fingerprint)
        return raw(service, "POST", target, source, headers, body)


VERIFY_LINK = re.compile(r"/verify/([0-9a-f]{64})")


def challenge_token(upstream, address, kept):
    """The token of the first challenge mail to `address` that the SMTP
    server (smtp_tool.Upstream) received, waiting up to 10 s; mails for
    others stay in `kept`. None when none came."""
    for _ in range(200):
        kept += upstream.take()
        for mail in kept:
            if address in mail.recipients:
                kept.remove(mail)
                found = VERIFY_LINK.search(mail.content.decode(errors="replace"))
                return found.group(1) if found else None
        time.sleep(0.05)
    return None
