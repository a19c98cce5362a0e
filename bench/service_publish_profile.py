#!/usr/bin/python3
"""Where a publish's time goes on PostgreSQL (bench/service_profile.md):
signed publishes of one profile (PUT /v1/accounts/FP, as
bench/service_bench.py sends them, through wrk) against `--processes`
`mailseal serve` processes on a throwaway cluster, and around each run:

  - what the cluster's backends wait for: pg_stat_activity sampled every
    20 ms by one psql (\\watch), by wait event and by statement (the
    fence, a listener's answers, COMMIT, or the statement's first words);
  - CPU and context switches a publish, of the serve processes and of
    PostgreSQL's (/proc/PID/task/*/stat and status);
  - WAL fsyncs a publish (pg_stat_wal.wal_sync).

Rate limits lifted as in service_bench.py. Needs wrk and Debian's
postgresql; never run in CI:

  /usr/bin/python3 bench/service_publish_profile.py [--processes 1]
      [--connections 32] [--seconds 4] [--runs 2] [--mailseal PATH]
      [--setting "log_statement='all'"]... [--keep-log FILE]
"""
import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import service_bench as bench  # noqa: E402

WAITS = ("SELECT coalesce(wait_event_type, '-') || ':' || coalesce(wait_event, '-') || ':' || state || ':' || "
         "CASE WHEN application_name LIKE 'mailseal-serve lookups%' THEN 'listener' ELSE 'request' END || ':' || "
         "CASE WHEN query LIKE '%pg_stat_activity%' THEN 'fence' WHEN query LIKE '%unnest%' THEN 'answers' "
         "WHEN query ILIKE '%commit;' THEN 'commit' ELSE left(query, 25) END "
         "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'")


def process_kind(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
    except OSError:
        return None
    if command.startswith(b"postgres") or b"/postgres\0" in command:
        return "postgres"
    if b"mailseal" in command and b"serve\0" in command:
        return "serve"
    return None


def usage():
    """CPU ticks, voluntary and involuntary context switches, by kind of process."""
    totals = {"postgres": [0, 0, 0], "serve": [0, 0, 0]}
    for folder in glob.glob("/proc/[0-9]*"):
        kind = process_kind(os.path.basename(folder))
        if not kind:
            continue
        for task in glob.glob(folder + "/task/*"):
            try:
                with open(task + "/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                with open(task + "/status") as handle:
                    status = handle.read()
            except OSError:
                continue
            totals[kind][0] += int(fields[11]) + int(fields[12])
            totals[kind][1] += int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
            totals[kind][2] += int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
    return totals


def psql(uri, sql):
    return bench.must("psql", "-X", "-q", "-A", "-t", "-d", uri, "-c", sql).strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailseal", default=os.path.join(HERE, "..", "build", "src", "cli", "mailseal"))
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--publishes", type=int, default=6000, help="signed publishes made for each run")
    parser.add_argument("--setting", action="append", default=[], help="ALTER SYSTEM SET this before the runs")
    parser.add_argument("--keep-log", help="copy the cluster's log here at the end")
    arguments = parser.parse_args()
    mailseal = os.path.abspath(arguments.mailseal)
    work = tempfile.mkdtemp(prefix="mailseal-publish-profile.")
    postgres = bench.Postgres(os.path.join(work, "postgres")).__enter__()
    services = None
    try:
        uri = postgres.url()
        for setting in arguments.setting:
            psql(uri, f"ALTER SYSTEM SET {setting}")
        psql(uri, "SELECT pg_reload_conf()")
        services = bench.Services(mailseal, uri, arguments.processes)
        home = os.path.join(work, "alice")
        bench.must(mailseal, "--home", home, "init", bench.ADDRESS, "--suite", "modern", "--service", services.url)
        fingerprint = json.loads(bench.wait_for(services.url + bench.LOOKUP))["fingerprint"]
        body = bench.publication(bench.wait_for(services.url + "/v1/accounts/" + fingerprint))
        key = next(os.path.join(home, "keys", name) for name in os.listdir(os.path.join(home, "keys"))
                   if name.startswith("root-"))

        class Load:
            threads = 1 if arguments.connections == 1 else 2
            connections = arguments.connections
            seconds = arguments.seconds

        print(f"# {arguments.processes} process(es), wrk -c{arguments.connections} -d{arguments.seconds}s, "
              f"{os.path.basename(mailseal)} at {mailseal}", flush=True)
        for run in range(arguments.runs):
            prefix = os.path.join(work, f"publish-{run}")
            bench.write_publishes(key, fingerprint, body, services.port, arguments.publishes, Load.threads, prefix)
            waits_file = os.path.join(work, f"waits-{run}")
            with open(waits_file, "w") as out:
                sampler = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-d", uri], stdin=subprocess.PIPE,
                                           stdout=out, stderr=subprocess.DEVNULL, text=True)
                sampler.stdin.write(WAITS + " \\watch 0.02\n")
                sampler.stdin.flush()
                syncs, before = int(psql(uri, "SELECT wal_sync FROM pg_stat_wal")), usage()
                result = bench.wrk(Load, services.url + "/v1/health", prefix)
                after, syncs = usage(), int(psql(uri, "SELECT wal_sync FROM pg_stat_wal")) - syncs
                sampler.terminate()
                sampler.wait()
            if result is None:
                raise SystemExit("service_publish_profile: the run used up its publishes; raise --publishes")
            count = result["requests"]
            print(json.dumps({"run": run, **result, "load": os.getloadavg()[0], "wal_syncs_a_publish":
                              round(syncs / count, 2)}))
            for kind in after:
                ticks, voluntary, involuntary = (after[kind][i] - before[kind][i] for i in range(3))
                print(f"  {kind}: CPU {10 * ticks / count:.2f} ms a publish, context switches "
                      f"{voluntary / count:.1f} voluntary, {involuntary / count:.1f} involuntary")
            waits = collections.Counter()
            with open(waits_file) as samples:
                for line in samples:
                    if line.strip():
                        waits[line.strip()] += 1
            print(f"  backends' states in {sum(waits.values())} samples (wait event:state:connection:statement):")
            for state, number in waits.most_common(12):
                print(f"    {number:6d} {state}")
    finally:
        if services:
            services.stop()
        if arguments.keep_log:
            shutil.copy(os.path.join(work, "postgres", "log"), arguments.keep_log)
        postgres.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
