#!/usr/bin/env python3
"""Two `mailseal serve` processes on one PostgreSQL database
(docs/service.md, "Back ends"), tried as an attacker would: what one
process accepted, the other must not accept again.

- A signed request replayed to the other process is refused (its nonce is in
  the shared database).
- A PIN used on one process fails on the other.
- Two claimants confirming the same address at once, each on its own
  process: one wins, the other is refused, one claim is left.
- Rate limits count the requests made to both processes.
- Four processes starting together on a new database: one makes the schema.

Starts its own throwaway cluster (tests/tools/postgres_tool.py); skips
where PostgreSQL or aiosmtpd is not installed."""
import os
import signal
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402
import postgres_tool  # noqa: E402

try:
    from smtp_tool import Upstream  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from service_tool import KeyService, challenge_token, ThrowawayDevice, raw  # noqa: E402

require_mailseal()
try:
    postgres_tool.server_programs()
except postgres_tool.Unavailable as reason:
    skip(str(reason))

# CTest's timeout ends a test with SIGTERM: the cluster is stopped then too.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


with postgres_tool.Cluster() as cluster, tempfile.TemporaryDirectory() as work, Upstream() as upstream:
    # --- Four processes starting together on a new database -----------------
    # One makes the schema (under the migration's advisory lock); the others
    # wait and find it made.
    fresh = cluster.create_database("started_together")
    starting = [subprocess.Popen([MAILSEAL, "serve", "--listen", "127.0.0.1:0", "--db", fresh],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    lines = [process.stdout.readline().decode().strip() for process in starting]
    for process in starting:
        process.terminate()
    errors = [process.communicate(timeout=20)[1].decode() for process in starting]
    check(all(line.startswith("http://") for line in lines),
          "four processes started together on a new database all start", errors)
    check(postgres_tool.psql(fresh, "SELECT version FROM mailseal_schema") == [("6",)],
          "the schema was made once, at version 6")

    os.environ["MAILSEAL_POSTGRES"] = cluster.uri
    # Both processes: the same database (KeyService names it by the folder), the same limits.
    extra = ["--smtp", f"127.0.0.1:{upstream.port}", "--mail-from", "keys@keys.test", "--limit", "lookup=40/1d"]
    with KeyService(MAILSEAL, work, extra=extra) as first, KeyService(MAILSEAL, work, extra=extra) as second:
        check(first.database == second.database and first.database.startswith("postgresql://") and
              first.port != second.port, "two service processes on one PostgreSQL database",
              (first.database, second.database))
        kept = []
        alice = Home(work, "alice")
        alice.must("init", "alice@example.com", "--name", "Alice", "--service", first.url)
        token = challenge_token(upstream, "alice@example.com", kept)
        status, _, answer = raw(second, "POST", f"/verify/{token}")
        check(status == 200, "a claim made on the first process is confirmed on the second", answer)
        fingerprint = first.account_fingerprint("alice@example.com")
        check(second.account_fingerprint("alice@example.com") == fingerprint, "both serve the verified address")

        # --- Replays across processes -----------------------------------------
        for name, (to, again) in {"first to second": (first, second), "second to first": (second, first)}.items():
            target, headers, body = ThrowawayDevice(work, "replay-" + name.replace(" ", "-")).signed_join(fingerprint)
            status, _, answer = raw(to, "POST", target, headers=headers, body=body)
            check(status == 201, f"replay {name}: the signed join request is taken", answer)
            status, _, answer = raw(again, "POST", target, headers=headers, body=body)
            check(status == 401 and answer.get("error", {}).get("code") == "replayed",
                  f"replay {name}: the same request sent to the other process is refused as replayed", answer)
        # Both at once: one is taken.
        target, headers, body = ThrowawayDevice(work, "replay-at-once").signed_join(fingerprint)
        answers = [None, None]

        def send(index, service):
            answers[index] = raw(service, "POST", target, headers=headers, body=body)[::2]

        threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate((first, second))]
        [t.start() for t in threads]
        [t.join() for t in threads]
        check(sorted(status for status, _ in answers) == [201, 401],
              "replay at once: of the same request sent to both processes together, one is taken", answers)

        # --- A PIN is used once ------------------------------------------------
        invite = alice.json("device", "invite", "--expires", "10m")
        phone, thief = Home(work, "phone"), Home(work, "thief")
        joined = phone.run("device", "join", "alice@example.com", "--service", second.url, "--pin", invite["pin"], "--wait", "0")
        check(joined.returncode == 0, "PIN: the phone joins through the second process", joined.stderr.decode())
        reused = thief.run("device", "join", "alice@example.com", "--service", first.url, "--pin", invite["pin"], "--wait", "0")
        check(reused.returncode != 0 and b"used" in reused.stderr,
              "PIN: the same PIN on the first process is refused as used", reused.stderr.decode())

        # --- A publication through one process, the next lookup through the other ---
        # The second process has memoized its answers (a lookup is one query
        # that checks the profile's generation); the first publishes the
        # phone's device within the same second: the second answers it next.
        def devices_seen(service):
            status, profile = service.request("GET", "/v1/addresses/alice%40example.com")
            status_fp, by_fingerprint = service.request("GET", "/v1/accounts/" + fingerprint)
            return (len(profile.get("devices", [])) if status == 200 else None,
                    len(by_fingerprint.get("devices", [])) if status_fp == 200 else None)

        before = [devices_seen(second) for _ in range(2)]
        alice.must("sync")  # accepts the phone (PIN) and publishes through the first process
        after = devices_seen(second)
        check(before[0] == before[1] and after[0] == after[1] == before[0][0] + 1,
              "memo: a publication through the first process is what the second answers next, "
              "by address and by fingerprint", (before, after))

        # --- Two claimants at once, one on each process --------------------------
        for round_ in range(3):
            address = f"dave{round_}@example.com"
            claimants = [Home(work, f"dave{round_}-{n}") for n in range(2)]
            [home.json("init", address, "--name", "Dave", "--service", service.url)
                    for home, service in zip(claimants, (first, second))]
            tokens = [challenge_token(upstream, address, kept) for _ in claimants]
            answers = [None, None]

            def confirm(index, service):
                answers[index] = raw(service, "POST", f"/verify/{tokens[index]}")[::2]

            threads = [threading.Thread(target=confirm, args=(i, s)) for i, s in enumerate((first, second))]
            [t.start() for t in threads]
            [t.join() for t in threads]
            statuses = [status for status, _ in answers]
            claims = first.rows("SELECT account, state FROM claims WHERE address = ?", (address,))
            # The loser finds its claim gone (404), or loses inside the
            # database's lock (409), depending on which came first.
            check(None not in tokens and statuses.count(200) == 1 and [s for s in statuses if s != 200][0] in (404, 409),
                  f"two claimants, round {round_}: confirming at once on two processes, one wins", statuses)
            check(len(claims) == 1 and claims[0][1] == "verified" and
                  second.account_fingerprint(address) == first.account_fingerprint(address) == claims[0][0],
                  f"two claimants, round {round_}: one verified claim is left, served by both", claims)

        # --- Rate limits count both processes -------------------------------------
        statuses = [raw(service, "GET", "/v1/health", source="127.0.0.9")[0]
                    for service in (first, second) for _ in range(25)]
        check(statuses.count(200) == 40 and statuses.count(429) == 10 and statuses[:25] == [200] * 25,
              "rate limits: lookup=40/1d admits 40 lookups from one client over both processes, "
              "then 429 on either", statuses)
        status, _, _ = raw(first, "GET", "/v1/health", source="127.0.0.9")
        check(status == 429, "rate limits: the first process refuses too once the second used the rest", status)

finish(minimum=19)
