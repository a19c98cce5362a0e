#!/usr/bin/env python3
"""Lookups from memory on PostgreSQL (docs/service.md, "Back ends", "Lookups
from memory"), with two `mailseal serve` processes on one database: every
change made through the first is what the second answers next, although
the second answers repeated lookups without asking the database.

- The second process answers lookups without a statement (PostgreSQL's
  log_statement=all on a throwaway cluster counts them).
- A verification, a publication, a withdrawal (the address, and the
  profile's list of addresses at its other address) and a claim dropped by
  another profile's confirmation, each made through the first process, are
  answered by the second at once.
- With a lookup limit set, a lookup from memory makes one statement: its
  token from the bucket all processes share.
- Each change waits for every listener to answer its fence: the other
  process's listener answers with a statement (in the log), on the channel
  of the writing process's listener, which answers its own fence without
  one; the writers' connections do not LISTEN.
- Its listener connection killed (pg_terminate_backend) and kept from
  reconnecting: every lookup reads the database, and a change made then is
  answered at once; let back in, it listens again and the memo resumes, and
  changes are still seen.
- The writing process's listener killed and kept out: its fence is
  answered on the writing connection's own channel (it LISTENs, then
  UNLISTENs) and the other process sees the change at once; the next
  change's fence is answered the same way.

Starts its own throwaway cluster (tests/tools/postgres_tool.py); skips
where PostgreSQL or aiosmtpd is not installed."""
import os
import re
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402
import postgres_tool  # noqa: E402

try:
    from smtp_tool import Upstream  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from service_tool import KeyService, challenge_token, raw  # noqa: E402

require_mailseal()
try:
    postgres_tool.server_programs()
except postgres_tool.Unavailable as reason:
    skip(str(reason))

# CTest's timeout ends a test with SIGTERM: the cluster is stopped then too.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

STATEMENT = re.compile(r"LOG:  (execute [^:]*|statement): (.*)")
BACKEND = re.compile(r"\[(\d+)\]")
FENCE = re.compile(r"'fence mailseal_ack_(\d+) \d+'")
ANSWER = "pg_notify(c, p)"


class StatementLog:
    """The statements the cluster ran (log_statement = all), counted from
    a mark: every one, but the listeners' heartbeats (SELECT 1)."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "log")
        self.start = 0

    def lines(self):
        with open(self.path, errors="replace") as log:
            return log.read().splitlines()

    def mark(self):
        self.start = len(self.lines())

    def since_mark(self):
        return [statement for _, statement in self.by_backend()]

    def by_backend(self):
        """(backend pid, statement) since the mark, but heartbeats."""
        out = []
        for line in self.lines()[self.start:]:
            match, backend = STATEMENT.search(line), BACKEND.search(line)
            if match and match.group(2).strip() != "SELECT 1":
                out.append((backend.group(1) if backend else None, match.group(2)))
        return out

    def fence_channels(self):
        """The backend pids named by the fences' answer channels since the mark."""
        return {match.group(1) for line in self.lines()[self.start:] for match in [FENCE.search(line)] if match}


def lookup(service, address):
    """(status, fingerprint or None, addresses listed) of GET /v1/addresses/ADDRESS."""
    status, _, answer = raw(service, "GET", "/v1/addresses/" + address.replace("@", "%40"))
    if status != 200:
        return status, None, ()
    return status, answer.get("fingerprint"), tuple(sorted(answer.get("addresses", [])))


def listeners(database_uri, pid):
    """The backend pids of the lookup listener of the serve process `pid`."""
    return [row[0] for row in postgres_tool.psql(
        database_uri, f"SELECT pid FROM pg_stat_activity WHERE application_name = 'mailseal-serve lookups {pid}'")]


def still_listening(statements):
    """The backends whose last (UN)LISTEN on a fence's answer channel,
    among (backend, statement) pairs, was a LISTEN."""
    last = {}
    for backend, statement in statements:
        if statement.startswith(("LISTEN mailseal_ack_", "UNLISTEN mailseal_ack_")):
            last[backend] = statement
    return {backend for backend, statement in last.items() if statement.startswith("LISTEN")}


def wait_for(condition, attempts=100, pause=0.1):
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(pause)
    return False


with postgres_tool.Cluster() as cluster, tempfile.TemporaryDirectory() as work, Upstream() as upstream:
    postgres_tool.psql(cluster.uri, "ALTER SYSTEM SET log_statement = 'all'")
    postgres_tool.psql(cluster.uri, "SELECT pg_reload_conf()")
    log = StatementLog(cluster.folder)
    os.environ["MAILSEAL_POSTGRES"] = cluster.uri
    extra = ["--smtp", f"127.0.0.1:{upstream.port}", "--mail-from", "keys@keys.test", "--limit", "lookup=0/1s"]
    kept = []
    with KeyService(MAILSEAL, work, extra=extra) as first, KeyService(MAILSEAL, work, extra=extra) as second:
        database = first.database
        check(wait_for(lambda: listeners(cluster.uri, second.process.pid)),
              "the second process has its listener connection, named in pg_stat_activity")

        # --- Verification through the first, lookups through the second --------
        alice = Home(work, "alice")
        alice.must("init", "alice@example.com", "al@example.com", "--name", "Alice", "--service", first.url)
        tokens = {address: challenge_token(upstream, address, kept) for address in ("alice@example.com", "al@example.com")}
        before = lookup(second, "alice@example.com")
        raw(first, "POST", f"/verify/{tokens['alice@example.com']}")
        after = lookup(second, "alice@example.com")
        fingerprint = after[1]
        check(before[0] == 404 and after[0] == 200 and fingerprint and after[2] == ("alice@example.com",),
              "verification: confirmed through the first process, served by the second at once", (before, after))
        raw(first, "POST", f"/verify/{tokens['al@example.com']}")
        after = lookup(second, "alice@example.com")
        check(after[2] == ("al@example.com", "alice@example.com"),
              "verification: the second process's memoized answer lists the address verified through the first",
              after)

        # --- The second answers from memory --------------------------------------
        lookup(second, "alice@example.com")
        log.mark()
        answers = {lookup(second, "alice@example.com") for _ in range(20)}
        statements = log.since_mark()
        check(answers == {after} and statements == [],
              "memo: 20 lookups through the second process run no statement (limits lifted)", (answers, statements))

        # --- A publication through the first -----------------------------------
        def devices(service):
            status, answer = service.request("GET", "/v1/addresses/alice%40example.com")
            return len(answer.get("devices", [])) if status == 200 else None

        count = devices(second)
        invite = alice.json("device", "invite", "--expires", "10m")
        phone = Home(work, "phone")
        phone.must("device", "join", "alice@example.com", "--service", first.url, "--pin", invite["pin"], "--wait", "0")
        alice.must("sync")  # accepts the phone and publishes through the first process
        check(count is not None and devices(second) == count + 1,
              "publication: the device published through the first is in the second's next answer", (count, devices(second)))

        # --- Withdrawal through the first ------------------------------------------
        lookup(second, "al@example.com")
        log.mark()
        alice.must("address", "withdraw", "al@example.com", "--service", first.url)
        statements = log.by_backend()
        answers = {backend for backend, statement in statements if ANSWER in statement}
        first_listener, second_listener = listeners(cluster.uri, first.process.pid), listeners(cluster.uri, second.process.pid)
        check(answers == set(second_listener) and len(second_listener) == 1,
              "withdrawal: the second's listener answered the first's fence with a statement, the first's own "
              "listener without one", (answers, first_listener, second_listener))
        check(log.fence_channels() == set(first_listener),
              "withdrawal: the fence is answered on the channel of the first's listener", (log.fence_channels(), first_listener))
        check(not [s for s in log.since_mark() if s.startswith("LISTEN")],
              "withdrawal: no writing connection LISTENs (one listening backend a process)", statements)
        check(lookup(second, "al@example.com")[0] == 404,
              "withdrawal: the address withdrawn through the first is unknown to the second at once")
        check(lookup(second, "alice@example.com")[2] == ("alice@example.com",),
              "withdrawal: the profile's other address no longer lists it on the second")

        # --- A claim dropped by another profile's confirmation ---------------------
        carol_old, carol_new = Home(work, "carol-old"), Home(work, "carol-new")
        carol_old.must("init", "carol@example.com", "--name", "Carol", "--service", first.url)
        raw(first, "POST", f"/verify/{challenge_token(upstream, 'carol@example.com', kept)}")
        old = lookup(second, "carol@example.com")
        lookup(second, "carol@example.com")
        carol_new.must("init", "carol@example.com", "--name", "Carol", "--service", first.url)
        link = challenge_token(upstream, "carol@example.com", kept)
        carol_new.must("address", "confirm", link, "--service", first.url)
        new = lookup(second, "carol@example.com")
        check(old[0] == 200 and new[0] == 200 and new[1] != old[1],
              "confirmation: the profile that took the address over through the first is served by the second "
              "at once (the old claim deleted)", (old, new))

        # --- A lookup limit set: one statement a lookup, its token -------------------
        limited = [a for a in extra if a not in ("--limit", "lookup=0/1s")]
        with KeyService(MAILSEAL, work, extra=limited) as third:
            check(wait_for(lambda: listeners(cluster.uri, third.process.pid)),
                  "limit set: a third process (default lookup limit) on the database listens")
            lookup(third, "carol@example.com")
            lookup(third, "carol@example.com")
            log.mark()
            answers = {lookup(third, "carol@example.com") for _ in range(10)}
            statements = log.since_mark()
            tokens = [s for s in statements if "rate_buckets" in s]
            check(answers == {new} and len(tokens) == 10 and len(statements) == 10,
                  "limit set: each lookup from memory makes one statement, the token it takes from the shared "
                  "bucket", statements)

        # --- The listener killed, and kept out --------------------------------------
        name = database.split("?")[0].rsplit("/", 1)[1]
        postgres_tool.psql(cluster.uri, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        killed = listeners(cluster.uri, second.process.pid)
        postgres_tool.psql(cluster.uri, f"SELECT pg_terminate_backend({killed[0]})")
        check(len(killed) == 1 and wait_for(lambda: not listeners(cluster.uri, second.process.pid)),
              "listener lost: its backend is terminated (pg_terminate_backend)", killed)


        def reads_database():
            log.mark()
            lookup(second, "alice@example.com")
            return any("FROM claims JOIN accounts" in s for s in log.since_mark())

        # The process reads its connection's end a moment after the backend ends.
        check(wait_for(reads_database), "listener lost: lookups through the second read the database again")
        log.mark()
        answers = [lookup(second, "alice@example.com") for _ in range(10)]
        statements = [s for s in log.since_mark() if "FROM claims JOIN accounts" in s]
        check(all(answer[0] == 200 for answer in answers) and len(statements) == 10,
              "listener lost: every lookup through the second reads the database (10 lookups, 10 queries)",
              (answers[:1], len(statements)))
        carol_new.must("address", "withdraw", "carol@example.com", "--service", first.url)
        check(lookup(second, "carol@example.com")[0] == 404,
              "listener lost: a withdrawal through the first is seen by the second at once")
        check(second.alive(), "listener lost: the second process keeps serving")

        # --- Let back in: the memo resumes ------------------------------------------
        postgres_tool.psql(cluster.uri, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        check(wait_for(lambda: listeners(cluster.uri, second.process.pid), attempts=200),
              "listener back: the second process connects its listener again")

        def memo_resumed():
            lookup(second, "alice@example.com")
            log.mark()
            for _ in range(5):
                lookup(second, "alice@example.com")
            return log.since_mark() == []

        check(wait_for(memo_resumed, attempts=50, pause=0.2),
              "listener back: lookups through the second run no statement again")
        status_before = lookup(second, "alice@example.com")
        withdrawn = alice.must("address", "withdraw", "alice@example.com", "--service", first.url)
        status_after = lookup(second, "alice@example.com")
        check(status_before[0] == 200 and status_after[0] == 404,
              "listener back: a withdrawal through the first is seen by the second at once",
              (status_before, status_after, lookup(first, "alice@example.com"), withdrawn.stderr, withdrawn.stdout,
               first.rows("SELECT address, account, state FROM claims")))

        # --- The writing process's listener killed, and kept out --------------------
        dave = Home(work, "dave")
        dave.must("init", "dave@example.com", "--name", "Dave", "--service", first.url)
        raw(first, "POST", f"/verify/{challenge_token(upstream, 'dave@example.com', kept)}")
        def from_memory(service, address):
            lookup(service, address)
            log.mark()
            answers = [lookup(service, address)[0] for _ in range(5)]
            return answers == [200] * 5 and log.since_mark() == []

        check(wait_for(lambda: from_memory(second, "dave@example.com")),
              "own listener lost: the second answers Dave's address from memory")
        postgres_tool.psql(cluster.uri, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        killed = listeners(cluster.uri, first.process.pid)
        postgres_tool.psql(cluster.uri, f"SELECT pg_terminate_backend({killed[0]})")
        check(len(killed) == 1 and wait_for(lambda: not listeners(cluster.uri, first.process.pid)),
              "own listener lost: the first's listener backend is terminated", killed)
        # Whether the first has read the end of its listener's connection yet
        # or not, its fence is answered on the writing connection's channel.
        log.mark()
        dave.must("address", "withdraw", "dave@example.com", "--service", first.url)
        after = lookup(second, "dave@example.com")
        statements = log.by_backend()
        writers = {backend for backend, statement in statements if statement.startswith("LISTEN mailseal_ack_")}
        answers = {backend for backend, statement in statements if ANSWER in statement}
        check(after[0] == 404, "own listener lost: a withdrawal through the first is seen by the second at once", after)
        check(len(writers) == 1 and writers <= log.fence_channels() and answers == set(listeners(cluster.uri, second.process.pid)),
              "own listener lost: the first's writing connection LISTENs and the second's listener answers the fence "
              "on its channel", (writers, log.fence_channels(), answers))
        check(writers and not still_listening(statements),
              "own listener lost: the writing connection UNLISTENs once its fence is answered (it does not stay "
              "LISTENing, woken by every notification)", [s for s in statements if "LISTEN" in s[1]])
        # A second change while the listener is still out: a fence on a
        # connection that UNLISTENed is answered all the same.
        log.mark()
        dave.must("publish", "--service", first.url)
        statements = log.by_backend()
        again = {backend for backend, statement in statements if statement.startswith("LISTEN mailseal_ack_")}
        answers = {backend for backend, statement in statements if ANSWER in statement}
        check(len(again) == 1 and again <= log.fence_channels() and answers == set(listeners(cluster.uri, second.process.pid))
              and not still_listening(statements),
              "own listener lost: the next change's fence LISTENs again, is answered, and UNLISTENs",
              [s for s in statements if "LISTEN" in s[1] or ANSWER in s[1]])
        postgres_tool.psql(cluster.uri, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

finish(minimum=27)
