#!/usr/bin/env python3
"""Adding a device takes two commands (issue 14): `device invite` on a device
the person has, `device join --pin` on the new one, which waits until its
keys arrive. Nobody runs `sync`: the admin device's always-running gateway
syncs by itself (`gateway --sync SECONDS`) and accepts the PIN join.

Also: a join that nobody accepts in time gives up with a clear error and a
non-zero exit, and the request can still be finished later with `sync`; a
gateway whose key service is down logs the failure and goes on serving;
`--sync 0` never syncs; a negative interval is a usage error."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

try:
    from smtp_tool import Gateway, free_port  # noqa: E402
except ImportError as missing:  # python3-aiosmtpd, which scripts/install-deps.sh installs
    print(f"SKIP: {missing}")
    sys.exit(77)

require_mailseal()


def encrypted_to(sender, recipient_certificates, text, work):
    """A message from `sender` encrypted to the certificates in the PEM file; its path."""
    plain = os.path.join(work, "plain.eml")
    with open(plain, "w") as out:
        out.write(f"From: {sender.name}@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\n{text}\r\n")
    sender.must("contact", "import", recipient_certificates)
    out = os.path.join(work, "to-alice.eml")
    sender.must("encrypt", "--to", "alice@example.com", "-o", out, plain)
    return out


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=["--unverified"]) as service:
    alice = Home(work, "alice")
    phone = Home(work, "phone")
    alice.must("init", "alice@example.com", "--name", "Alice", "--device-name", "laptop", "--service", service.url)
    unused_upstream = free_port()  # nothing is sent: the gateway only syncs here

    with Gateway(MAILSEAL, alice.home, unused_upstream, "--sync", "1") as gateway:
        invite = alice.json("device", "invite")
        started = time.monotonic()
        joined = phone.run("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"],
                           "--name", "phone", "--wait", "120")
        waited = time.monotonic() - started
        said = joined.stderr.decode(errors="replace")
        check(joined.returncode == 0 and "joined the profile" in said,
              "`device join --pin` waits until the keys arrive, without anyone running sync", said)
        log = gateway.wait_for_log("accepted device phone")
        check("sync: accepted device phone" in log, "the admin device's gateway accepted the PIN join by itself", log)
        check(waited < 120, "it stopped waiting once the keys were there", waited)

    devices = {d["name"]: d for d in alice.json("device", "list")["devices"]}
    check(devices.get("phone", {}).get("status") == "active", "the laptop lists the phone as active", devices)
    status = phone.json("status")
    check(any(k["purpose"] == "encryption" and k["status"] == "current" for k in status["mail_keys"]),
          "the phone holds the profile's current encryption key", status["mail_keys"])

    bob = Home(work, "bob")
    bob.must("init", "bob@example.org", "--name", "Bob")
    message = encrypted_to(bob, alice.certificates(), "read me on the phone", work)
    read = phone.run("decrypt", "--no-learn", message)
    check(read.returncode == 0 and b"read me on the phone" in read.stdout, "the phone decrypts Alice's mail",
          read.stderr.decode(errors="replace"))

    # Nobody accepts in time: a clear error, a non-zero exit, and the request still waits.
    tablet = Home(work, "tablet")
    invite = alice.json("device", "invite")
    late = tablet.run("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"],
                      "--name", "tablet", "--wait", "2")
    said = late.stderr.decode(errors="replace")
    check(late.returncode != 0 and "no admin device accepted this device within 2 s" in said
          and "mailseal sync" in said, "a join nobody accepts in time gives up, saying how to finish", said)
    alice.must("sync")
    finished = tablet.run("sync")
    check(finished.returncode == 0 and "joined the profile" in finished.stderr.decode(errors="replace"),
          "the same request is finished later by sync", finished.stderr.decode(errors="replace"))

    # --wait 0: the old behaviour, for scripts.
    watch = Home(work, "watch")
    invite = alice.json("device", "invite")
    at_once = watch.json("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"],
                         "--wait", "0")
    check("witness" in at_once and "joined" not in at_once, "--wait 0 returns at once with the request", at_once)

    # --sync 0: the gateway never syncs, so the watch's request stays waiting.
    with Gateway(MAILSEAL, alice.home, unused_upstream, "--sync", "0") as quiet:
        time.sleep(2)
        log = quiet.log_so_far().decode(errors="replace")
        check("sync" not in log, "--sync 0: the gateway does not sync", log)
    pending = watch.run("sync")
    check("still waiting" in pending.stderr.decode(errors="replace"), "so the PIN join is still waiting",
          pending.stderr.decode(errors="replace"))

bad = subprocess.run([MAILSEAL, "--home", "/nonexistent", "gateway", "--upstream", "127.0.0.1:25", "--sync", "-1"],
                     capture_output=True)
check(bad.returncode != 0 and b"--sync" in bad.stderr, "a negative sync interval is refused", bad.stderr)

# The key service goes away: the gateway logs the failed sync and keeps serving mail clients.
with tempfile.TemporaryDirectory() as work:
    with KeyService(MAILSEAL, work, extra=["--unverified"]) as service:
        carol = Home(work, "carol")
        carol.must("init", "carol@example.net", "--name", "Carol", "--service", service.url)
    with Gateway(MAILSEAL, carol.home, free_port(), "--sync", "1") as gateway:
        log = gateway.wait_for_log("sync with the key service failed")
        check("sync with the key service failed" in log, "a failed sync is logged", log)
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as client:
            greeting = client.recv(200)
        check(greeting.startswith(b"220"), "and the gateway still greets its mail clients", greeting)
        check(gateway.alive(), "the gateway still runs")

finish(minimum=13)
