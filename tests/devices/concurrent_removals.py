#!/usr/bin/env python3
"""Two admin devices remove a full device each at the same time, nothing
hostile (docs/service.md, "Two admin devices"): the laptop removes the tablet
and seals its new signing key into the watch's bundle (still active there);
the desk, at the same moment (the service still serving the escrow from
before the laptop's removal), removes the watch and seals its own new signing
key into the tablet's bundle. When they merge, one of the two new signing
certificates loses the tie-break and is archived: it is revoked too, since a
removed device holds it. Checked as a correspondent would: every signing
certificate either removed device holds fails `openssl verify -crl_check`
against the root and the CRL the profile publishes, and `openssl cms -verify`
with that CRL refuses what the removed devices sign. Then the desk is stolen
and the thief's escrow removes the laptop: the laptop refuses it, removes the
desk, and then ignores the thief's escrow (with a warning) and publishes over
it."""
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from profile_tool import pem_of, published_root_and_crl  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def devices_of(device):
    return {d["device_id"]: (d["role"], d["status"]) for d in device.json("device", "list")["devices"]}


def store_rows(device, sql):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return db.execute(sql).fetchall()



lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, desk = Home(work, "laptop"), Home(work, "desk")
    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    fingerprint = service.account_fingerprint("alice@example.com")
    shares = laptop.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    desk.must("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "desk")
    laptop.must("sync")

    def join(name):
        device = Home(work, name)
        invite = desk.json("device", "invite", "--role", "full")
        device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                    "--name", name)
        desk.must("sync")
        device.must("sync")
        return device, device.device_id()

    tablet, tablet_id = join("tablet")
    watch, watch_id = join("watch")
    for admin in (laptop, desk, laptop):
        admin.must("sync")
    tablet.must("sync")
    watch.must("sync")

    # The two removals race: the desk's learns from the escrow from before the
    # laptop's (served again, as when both commands run at the same moment).
    before = service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]
    laptop.must("device", "remove", tablet_id)
    watch.must("sync")  # still active on the laptop: takes its new keys
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (before, fingerprint))
    desk.must("device", "remove", watch_id)
    tablet.run("sync")
    for admin in (laptop, desk, laptop, desk):
        admin.must("sync")
    check(devices_of(laptop) == devices_of(desk) and devices_of(laptop).get(tablet_id) == ("full", "removed")
          and devices_of(laptop).get(watch_id) == ("full", "removed"), "both removals stand on both admin devices")

    root, crl = published_root_and_crl(service, fingerprint, laptop, work)
    held = []
    for name, gone in (("tablet", tablet), ("watch", watch)):
        held += [(name, der) for (der,) in store_rows(gone, "SELECT certificate FROM mail_keys WHERE purpose = 'signing'")]
    check(len(held) >= 4, "each removed device holds the old signing certificate and one new one", len(held))
    passing = []
    for index, (name, der) in enumerate(held):
        path = os.path.join(work, f"held{index}.pem")
        with open(path, "w") as out:
            out.write(pem_of(der))
        plain = subprocess.run(["openssl", "verify", "-CAfile", root, "-purpose", "any", path], capture_output=True)
        checked = subprocess.run(["openssl", "verify", "-CAfile", root, "-CRLfile", crl, "-crl_check", "-purpose",
                                  "any", path], capture_output=True)
        if plain.returncode == 0 and checked.returncode == 0:
            passing.append((name, checked.stdout.decode().strip()))
    check(not passing, "every signing certificate a removed device holds is named in the published CRL", passing)

    message = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: after removal\r\n\r\nhi\r\n"
    for name, gone in (("tablet", tablet), ("watch", watch)):
        signed = gone.run("sign", stdin=message)
        if signed.returncode != 0:
            continue  # nothing current to sign with: nothing to verify
        mail = os.path.join(work, f"{name}.eml")
        with open(mail, "wb") as out:
            out.write(signed.stdout)
        def cms_verify(*extra):
            return subprocess.run(["openssl", "cms", "-verify", "-in", mail, "-CAfile", root, *extra, "-purpose",
                                   "any", "-out", "/dev/null"], capture_output=True)
        plain, checked = cms_verify(), cms_verify("-CRLfile", crl, "-crl_check")
        check(plain.returncode == 0 and checked.returncode != 0,
              f"what the removed {name} signs verifies against the root, and fails with the published CRL",
              (plain.stderr + checked.stderr).decode()[:300])

    # The desk is stolen. The thief removes the laptop and publishes: an
    # escrow sealed with the root's secret. The laptop refuses to take its
    # own removal, and says so.
    laptop_id, desk_id = laptop.device_id(), desk.device_id()
    desk.must("device", "remove", laptop_id)
    thiefs = service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]
    listed = devices_of(laptop)
    synced = laptop.run("sync")
    check(synced.returncode != 0 and b"an escrow sealed by an admin device removes this device" in synced.stderr
          and b"stolen or compromised" in synced.stderr,
          "the laptop refuses an escrow that removes it, saying a stolen admin device may have written it",
          synced.stderr.decode())
    check(devices_of(laptop) == listed and listed.get(laptop_id) == ("admin", "active")
          and listed.get(desk_id) == ("admin", "active"), "and takes nothing from it", devices_of(laptop))
    # What the refusal says to do: remove the desk on the laptop. The thief's
    # escrow served again (the thief publishes again) is then ignored with a
    # warning, and the laptop publishes over it.
    removed = laptop.run("device", "remove", desk_id)
    check(removed.returncode == 0, "the laptop removes the stolen desk although the served escrow removes the laptop",
          removed.stderr.decode())
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (thiefs, fingerprint))
    synced = laptop.run("sync")
    check(synced.returncode == 0 and b"after an admin device was removed here" in synced.stderr
          and devices_of(laptop).get(laptop_id) == ("admin", "active")
          and devices_of(laptop).get(desk_id) == ("admin", "removed"),
          "the thief's escrow served again after that is ignored, with a warning", synced.stderr.decode())
    check(service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0] != thiefs,
          "and the laptop publishes over it")

finish(minimum=10)
