#!/usr/bin/env python3
"""Several `mailseal serve` processes on one port (--reuse-port) and one
SQLite database, as bench/service_bench.py runs them: four started at once on
a new database all start (its schema is made once, not raced); lookups
through the shared port all answer the same document; a publication through
one process is what every process answers next (none answers from its
memoized copy); with three stopped the fourth still answers. Who can share
the port: a process without --reuse-port is refused it, and (run as root) so
is a process of another user with --reuse-port (Linux's SO_REUSEPORT rule)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402

require_mailseal()

ADDRESS = "alice@example.com"
LOOKUP = "/v1/addresses/alice%40example.com"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(port, database, *extra, as_nobody=False):
    nobody = {"user": 65534, "group": 65534, "extra_groups": []} if as_nobody else {}
    return subprocess.Popen([MAILSEAL, "serve", "--listen", f"127.0.0.1:{port}", "--db", database, *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **nobody)


def started(process):
    """The URL the process printed, or its error once it exited."""
    line = process.stdout.readline().strip()
    if line.startswith("http"):
        return True, line
    process.wait(timeout=20)
    return False, process.stderr.read().strip()


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=20)


def lookups(port, count):
    """`count` lookups, each on a new connection (the kernel picks a process per connection)."""
    answers = []
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", LOOKUP)
        response = connection.getresponse()
        answers.append((response.status, response.read()))
        connection.close()
    return answers


with tempfile.TemporaryDirectory() as work:
    # The schema race: each round a new database, four processes at once.
    outcomes = []
    for round_number in range(5):
        port = free_port()
        group = [start(port, os.path.join(work, f"race-{round_number}.db"), "--reuse-port") for _ in range(4)]
        outcomes += [started(process) for process in group]
        stop(group)
    check(all(ok for ok, _ in outcomes), "4 serve --reuse-port at once on a new database all start (5 rounds)",
          [detail for ok, detail in outcomes if not ok][:3])

    port = free_port()
    database = os.path.join(work, "service.db")
    group = [start(port, database, "--reuse-port")]
    ok, url = started(group[0])
    check(ok, "a first serve --reuse-port starts", url)
    group += [start(port, database, "--reuse-port") for _ in range(3)]
    results = [started(process) for process in group[1:]]
    check(all(ok for ok, _ in results), "three more join it on the same port and database", results)
    try:
        alone = start(port, os.path.join(work, "other.db"))
        ok, detail = started(alone)
        check(not ok and "cannot listen" in detail and alone.returncode != 0,
              "a serve without --reuse-port is refused the shared port", detail)
        if os.geteuid() == 0:
            stranger = start(port, os.path.join(work, "stranger.db"), "--reuse-port", as_nobody=True)
            ok, detail = started(stranger)
            check(not ok and "cannot listen" in detail,
                  "another user's serve --reuse-port is refused the port (SO_REUSEPORT needs the same uid)", detail)
        else:
            print("# not root: another user's process is not tried", flush=True)

        alice = Home.at(os.path.join(work, "alice"))
        alice.must("init", ADDRESS, "--suite", "modern", "--service", url)
        answers = lookups(port, 40)
        check(all(status == 200 for status, _ in answers) and len({body for _, body in answers}) == 1,
              "40 lookups through the shared port all answer the same document",
              {(status, body[:80]) for status, body in answers})
        before = json.loads(answers[0][1])["updated_at"]
        time.sleep(1.1)  # the publication's time is in seconds
        alice.must("publish", "--service", url)
        answers = lookups(port, 40)
        times = {json.loads(body).get("updated_at") for status, body in answers if status == 200}
        check(len(answers) == 40 and all(status == 200 for status, _ in answers) and times and before not in times
              and len(times) == 1, "after a publication through one process, every lookup answers the new one",
              (before, times))
        stop(group[:3])
        answers = lookups(port, 10)
        check(all(status == 200 for status, _ in answers), "with three stopped, the fourth still answers on the port",
              {status for status, _ in answers})
    finally:
        stop(group)

finish(minimum=7)
