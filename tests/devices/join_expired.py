#!/usr/bin/env python3
"""A request to join that the key service has deleted (rejected or expired,
then kept --join-retention-days, then swept): the joining device's `sync`
reports a rejection or expiry the person can act on ("ask for a new
invitation"), not a generic 404, and forgets the pending join. The service's
clock is moved forward (libfaketime), so nothing waits days."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

DAY = 24 * 3600

with tempfile.TemporaryDirectory() as work, KeyService(
        MAILSEAL, work, settable_clock=True, extra=["--unverified", "--join-retention-days", "1"]) as service:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--name", "Alice", "--service", service.url)
    devices = {name: Home(work, name) for name in ("watch", "phone", "tablet")}
    for name, device in devices.items():
        device.must("device", "join", "alice@example.com", "--service", service.url, "--name", name, "--wait", "0")
    rejected = alice.run("device", "reject", "--all")
    check(rejected.returncode == 0, "Alice rejects every pending request", rejected.stderr.decode())

    # While the service still keeps it, a rejected request says so.
    watch = devices["watch"].run("sync")
    check(watch.returncode != 0 and b"was rejected" in watch.stderr,
          "a rejected request the service still holds: sync says it was rejected", watch.stderr.decode())

    # The phone's (rejected) and the tablet's (never decided: it expires after
    # 60 minutes) are deleted a day later.
    service.move_clock(3 * DAY)
    for name in ("phone", "tablet"):
        synced = devices[name].run("sync")
        stderr = synced.stderr.decode(errors="replace")
        check(synced.returncode != 0 and "no longer holds this device's request to join" in stderr
              and "rejected, or it expired" in stderr and service.url in stderr,
              f"{name}: a deleted request is reported as rejected or expired, naming the service", stderr)
        check("ask for a new invitation" in stderr and "device join --pin" in stderr,
              f"{name}: the hint says what to do: ask for a new invitation and join again", stderr)
        check("404" not in stderr and "no such resource" not in stderr,
              f"{name}: not a generic refusal (no HTTP 404)", stderr)
        again = devices[name].run("sync")
        check(again.returncode != 0 and b"no mailseal profile" in again.stderr,
              f"{name}: the pending join is forgotten (nothing stored, nothing left to finish)",
              again.stderr.decode())

finish(minimum=10)
