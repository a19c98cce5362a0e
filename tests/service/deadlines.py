#!/usr/bin/env python3
"""The client's deadline on every request to a key service (docs/service.md,
"Deadlines"), against "services" that are raw sockets (tests/tools/
hostile_service.py): one that trickles its answer a byte a second (each read
gets a byte in time, so cpp-httplib's per-read timeouts never fire) and one
that never answers. `lookup`, `sync` (a full profile's, and a joining
device's), `device join --wait` and `publish` end within a bound with an
error naming the service; a gateway's sync stuck on such a service ends at
the deadline, and a gateway told to stop (SIGTERM) meanwhile stops promptly,
long before the deadline.

The deadline is set to 3 s here ($MAILSEAL_SERVICE_TIMEOUT); the bound that
proves "does not hang" is the harness timeout of each command (30 s), never
a measure of speed."""
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402
from hostile_service import HostileService  # noqa: E402

try:
    from smtp_tool import Gateway, free_port  # noqa: E402
except ImportError as missing:  # python3-aiosmtpd, which scripts/install-deps.sh installs
    print(f"SKIP: {missing}")
    sys.exit(77)

require_mailseal()

DEADLINE = 3
BOUND = 30  # seconds: ten deadlines; a command still running then hangs


def environment(deadline=DEADLINE):
    env = dict(os.environ)
    env["MAILSEAL_SERVICE_TIMEOUT"] = str(deadline)
    return env


def bounded(home, *arguments, deadline=DEADLINE):
    """Runs mailseal for `home`; (exit status, stderr), or (None, why) when it
    still ran after BOUND seconds (then it is killed)."""
    try:
        result = subprocess.run([MAILSEAL, "--home", home.home, *arguments], capture_output=True,
                                env=environment(deadline), timeout=BOUND)
    except subprocess.TimeoutExpired:
        return None, f"still running after {BOUND} s: it hangs"
    return result.returncode, result.stderr.decode(errors="replace")


def ends_naming_the_service(outcome, service, description):
    status, stderr = outcome
    check(status is not None and status != 0 and service.url in stderr
          and f"did not answer within {DEADLINE} s" in stderr,
          f"{description}: ends with an error naming the service and its deadline", f"{status}: {stderr}")


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=["--unverified"]) as real:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--name", "Alice", "--service", real.url)
    bob = Home(work, "bob")
    bob.must("init", "bob@example.org", "--name", "Bob")

    for mode in ("trickle", "silent"):
        with HostileService(mode) as hostile:
            ends_naming_the_service(bounded(bob, "lookup", "alice@example.com", "--service", hostile.url), hostile,
                                    f"{mode}: lookup")
            check(hostile.taken(mode) >= 1, f"{mode}: the lookup did reach the hostile service",
                  hostile.connections)
            ends_naming_the_service(bounded(alice, "sync", "--service", hostile.url), hostile, f"{mode}: sync")
            ends_naming_the_service(bounded(bob, "publish", "--service", hostile.url), hostile, f"{mode}: publish")
            phone = Home(work, f"phone-{mode}")
            status, stderr = bounded(phone, "device", "join", "alice@example.com", "--service", hostile.url,
                                     "--wait", "60")
            check(status is not None and status != 0 and hostile.url in stderr,
                  f"{mode}: device join --wait 60 ends (its request to join is never answered) naming the service",
                  f"{status}: {stderr}")

    # A device whose request to join waits at the real service; the service
    # it then asks to finish joining trickles.
    tablet = Home(work, "tablet")
    tablet.must("device", "join", "alice@example.com", "--service", real.url, "--name", "tablet", "--wait", "0")
    with HostileService("trickle") as hostile:
        ends_naming_the_service(bounded(tablet, "sync", "--service", hostile.url), hostile,
                                "trickle: a joining device's sync")
    status, stderr = bounded(tablet, "sync")
    check(status == 0, "the request to join is still there: sync with the real service still works", stderr)

    # A valid deadline setting is checked.
    status, stderr = bounded(bob, "lookup", "alice@example.com", "--service", real.url, deadline="forever")
    check(status == 2 and "MAILSEAL_SERVICE_TIMEOUT" in stderr,
          "a deadline that is not a number of seconds is a usage error", f"{status}: {stderr}")
    status, stderr = bounded(bob, "lookup", "alice@example.com", "--service", real.url)
    check(status == 0, "a service that answers is not cut by the deadline", stderr)

    # The gateway: its sync is stuck on a trickling service with the default
    # deadline (30 s); SIGTERM stops it without waiting for the deadline.
    carol = Home(work, "carol")
    with HostileService("forward", upstream=("127.0.0.1", int(real.url.rsplit(":", 1)[1]))) as hostile:
        carol.must("init", "carol@example.net", "--name", "Carol", "--service", hostile.url)
        hostile.mode = "trickle"
        env = dict(os.environ)
        env.pop("MAILSEAL_SERVICE_TIMEOUT", None)
        with Gateway(MAILSEAL, carol.home, free_port(), "--sync", "1", env=env) as gateway:
            reached = hostile.wait_for_connection("trickle")
            check(reached, "gateway: its sync reached the trickling service", hostile.connections)
            time.sleep(1)  # well inside the sync's request, far from its 30 s deadline
            gateway.process.send_signal(signal.SIGTERM)
            try:
                status = gateway.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                status = None
            check(status == 0, "gateway: SIGTERM stops it while its sync is stuck (not after the 30 s deadline)",
                  f"exit {status}; log: {gateway.log_so_far().decode(errors='replace')}")
            gateway.stop()
            log = gateway.log.decode(errors="replace")
            check("cancelled" in log, "gateway: the log says the sync's request was cancelled", log)

        # With the deadline at 3 s, the stuck sync ends by itself, is logged,
        # and the gateway goes on.
        with Gateway(MAILSEAL, carol.home, free_port(), "--sync", "1", env=environment()) as gateway:
            log = gateway.wait_for_log("did not answer within", BOUND)
            check(f"sync with the key service failed: the key service at {hostile.url} did not answer within "
                  f"{DEADLINE} s" in log, "gateway: a sync stuck on the service ends at the deadline, logged", log)
            check(gateway.alive(), "gateway: and the gateway goes on running")

finish(minimum=19)
