#!/usr/bin/env python3
"""One admin device and the escrow's roster clock (docs/service.md, "Two admin
devices"), against a real key service: two publications at once on the same
device (the gateway's periodic sync and the person's `publish`) never lock it
out, and neither does the service's operator restoring a backup (an older
escrow and profile): the device merges the older escrow (which changes
nothing), warns once, publishes the newer state again, and `device remove`
of a phone afterwards completes and reaches the phone. A full device served
its bundle from before the removal again keeps what the removal archived
archived."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def devices_of(device):
    return {d["device_id"]: (d["role"], d["status"]) for d in device.json("device", "list")["devices"]}


def current_certificates(device):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return sorted(db.execute("SELECT purpose, certificate FROM mail_keys "
                                 "WHERE status = 'current' AND origin = 'profile'").fetchall())


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, phone = Home(work, "laptop"), Home(work, "phone")
    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    fingerprint = service.account_fingerprint("alice@example.com")
    laptop.must("sync")

    # Two publications at once, many times: each seals and remembers one clock.
    failures = []
    for attempt in range(12):
        runs = [subprocess.Popen([MAILSEAL, "--home", laptop.home, "publish"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE) for _ in range(2)]
        for run in runs:
            run.communicate()
        for _ in range(2):
            result = laptop.run("sync")
            if result.returncode != 0:
                failures.append(result.stderr.decode())
    check(not failures, "after two publications at once on one device, every sync succeeds", failures[:1])
    check(laptop.run("publish").returncode == 0 and laptop.run("sync").returncode == 0,
          "and publishing and syncing go on working")

    # The operator restores last night's backup of the account.
    def join(device):
        invite = laptop.json("device", "invite", "--role", "full")
        device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                    "--name", device.name)
        laptop.must("sync")
        device.must("sync")
        return device.device_id()

    phone_id = join(phone)
    tablet = Home(work, "tablet")
    tablet_id = join(tablet)
    def restore(row):
        service.write("UPDATE accounts SET document = ?, escrow = ?, updated_at = ?, generation = generation + 1 "
                      "WHERE fingerprint = ?", (*row, fingerprint))

    backup = service.rows("SELECT document, escrow, updated_at FROM accounts WHERE fingerprint = ?", (fingerprint,))[0]
    laptop.must("publish")
    restore(backup)
    synced = laptop.run("--json", "sync")
    check(synced.returncode == 0 and json.loads(synced.stdout or "{}").get("older_escrow_merged") is True
          and b"served an older escrow than this device has seen" in synced.stderr,
          "after the restore, sync merges the older escrow and warns", synced.stderr)
    restored = service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]
    check(restored != backup[1], "and publishes the newer state over it")
    check(laptop.json("sync")["older_escrow_merged"] is False, "the warning is given once")
    published = laptop.run("--json", "publish")
    check(published.returncode == 0 and json.loads(published.stdout)["older_escrow_merged"] is False,
          "publish works after the restore")

    # Restored again, then the phone is removed: the removal completes.
    old_bundle = service.rows("SELECT bundle FROM bundles WHERE device_id = ?", (tablet_id,))[0][0]
    held_before = current_certificates(tablet)
    restore(backup)
    removed = laptop.run("device", "remove", phone_id)
    check(removed.returncode == 0 and devices_of(laptop).get(phone_id) == ("full", "removed"),
          "`device remove` after a restore completes", removed.stderr)
    gone = phone.run("--json", "sync")
    check(gone.returncode == 1 and json.loads(gone.stdout or "{}").get("removed") is True,
          "the phone is told it was removed", gone.stdout)
    check(laptop.run("sync").returncode == 0, "the laptop syncs on")

    # The service serves the tablet its bundle from before the removal again:
    # the certificates the removal archived (the phone holds their keys) stay
    # archived on the tablet.
    tablet.must("sync")
    after_removal = current_certificates(tablet)
    check(len(after_removal) == 2 and not set(after_removal) & set(held_before),
          "the tablet takes the keys made at the phone's removal")
    service.write("UPDATE bundles SET bundle = ? WHERE device_id = ?", (old_bundle, tablet_id))
    replayed = tablet.run("sync")
    check(replayed.returncode == 0 and current_certificates(tablet) == after_removal,
          "a bundle from before the removal served again makes no archived certificate current",
          replayed.stderr.decode())
    exported = open(tablet.certificates()).read().count("BEGIN CERTIFICATE")
    check(exported == 3, "the tablet exports the two current mail certificates and the root", exported)


finish(minimum=12)
