#!/usr/bin/env python3
"""Two admin devices agree on the device list (docs/service.md, "Two admin
devices"), end to end against a real key service. The desk, restored from
Alice's recovery shares, holds the root as the laptop does. Each adds a
device; after syncing both know every device and publish the same list; the
laptop removes the phone and the desk keeps it removed (and takes the
laptop's new keys instead of publishing the old ones again).

Then the service turns hostile, as its operator would: it rewrites the
profile it serves (a read-only device raised to full, the removed phone
active again, the tablet's agreement certificate swapped for the profile's
own mail certificate, a fake "device" made of the profile's mail
certificates) and the escrow the admin devices learn from (altered, another
profile's, an older one served again). The lists it serves are never read:
nothing changes, no key goes where it should not; the escrow's tampering is
refused with a message saying what the service did, and nothing changes; an
older escrow is merged (a no-op), with a warning, and the newer one published."""
import base64
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
    """device id -> (role, status), as the device lists them."""
    return {d["device_id"]: (d["role"], d["status"]) for d in device.json("device", "list")["devices"]}


def store_rows(device, sql, parameters=()):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return db.execute(sql, parameters).fetchall()


def current_records_key(device):
    return store_rows(device, "SELECT key_id FROM records_keys WHERE status = 'current'")


def current_mail_certificates(device):
    return sorted(row[0] for row in store_rows(device, "SELECT certificate FROM mail_keys WHERE status = 'current'"))


def served_devices(service):
    """device id -> (role, status) in the profile the service serves."""
    document = json.loads(service.rows("SELECT document FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0])
    return {d["device_id"]: (d["role"], d["status"]) for d in document["devices"]}


def rewrite_served(service, change):
    """The hostile service edits the device list it serves."""
    row = service.rows("SELECT document FROM accounts WHERE fingerprint = ?", (fingerprint,))[0]
    document = json.loads(row[0])
    change(document["devices"])
    # A new generation, so that the service's memo of lookups serves it too.
    service.write("UPDATE accounts SET document = ?, generation = generation + 1 WHERE fingerprint = ?",
                  (json.dumps(document), fingerprint))


def escrow(service):
    return service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]


def serve_escrow(service, data):
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (data, fingerprint))


def join(admin, device, role):
    invite = admin.json("device", "invite", "--role", role)
    device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                "--name", device.name)
    admin.must("sync")
    device.must("sync")
    return device.device_id()


def can_sign(device):
    message = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nx\r\n"
    return device.run("sign", stdin=message).returncode == 0


def refused(device, words):
    """`sync` fails saying `words`; the device's list is what it was."""
    before = devices_of(device)
    result = device.run("sync")
    return result.returncode != 0 and words in result.stderr.decode() and devices_of(device) == before, \
        result.stderr.decode()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, desk, phone, tablet, watch = (Home(work, name) for name in ("laptop", "desk", "phone", "tablet", "watch"))
    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    fingerprint = service.account_fingerprint("alice@example.com")
    shares = laptop.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    desk.must("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "desk")
    laptop_id, desk_id = laptop.device_id(), desk.device_id()
    laptop.must("sync")
    check(devices_of(laptop).get(desk_id) == ("admin", "active"), "the laptop learns the desk its restore published")

    # Each admin device adds a device (the PIN's MAC key stays with the one that invited).
    phone_id = join(laptop, phone, "full")
    tablet_id = join(desk, tablet, "read")
    before_escrow = escrow(service)  # kept by the hostile service for later
    for admin in (laptop, desk, laptop):
        admin.must("sync")
    check(devices_of(laptop) == devices_of(desk) and len(devices_of(laptop)) == 4,
          "after syncing, both admin devices know all four devices, with the same roles", devices_of(desk))
    check(devices_of(desk).get(phone_id) == ("full", "active") and devices_of(laptop).get(tablet_id) == ("read", "active"),
          "the desk knows the laptop's phone, the laptop the desk's tablet")
    desk.must("publish")
    after_desk = served_devices(service)
    laptop.must("publish")
    check(after_desk == served_devices(service) and len(after_desk) == 4,
          "both admin devices publish the same list of four", after_desk)
    check(phone.run("sync").returncode == 0 and tablet.run("sync").returncode == 0, "the phone and the tablet sync")
    check(len(current_records_key(laptop)) == 1 and current_records_key(laptop) == current_records_key(desk),
          "one current records key on both", (current_records_key(laptop), current_records_key(desk)))

    # The laptop removes the phone; the desk does not bring it back.
    records_key_before = current_records_key(laptop)
    laptop.must("device", "remove", phone_id)
    desk.must("sync")
    check(devices_of(desk).get(phone_id) == ("full", "removed"), "the desk learns the removal")
    desk.must("publish")
    check(served_devices(service).get(phone_id) == ("full", "removed"), "the desk's publication keeps the phone removed")
    check(len(current_mail_certificates(desk)) == 2 and current_mail_certificates(desk) == current_mail_certificates(laptop),
          "the desk publishes the laptop's new mail certificates, not the ones the phone holds")
    check(len(current_records_key(laptop)) == 1 and current_records_key(laptop) == current_records_key(desk)
          and current_records_key(laptop) != records_key_before, "one new current records key on both after the removal")
    gone = phone.run("--json", "sync")
    check(gone.returncode == 1 and json.loads(gone.stdout or "{}").get("removed") is True,
          "the phone is told it was removed", gone.stdout)

    # The desk adds a read-only watch; the service rewrites what it serves
    # before the laptop syncs.
    watch_id = join(desk, watch, "read")
    tablet_agreement = store_rows(laptop, "SELECT agreement_certificate FROM devices WHERE device_id = ?",
                                  (tablet_id,))[0][0]
    pem = laptop.certificates()
    mail = [base64.b64encode(subprocess.run(["openssl", "x509", "-outform", "DER"], input=block.encode(),
                                            capture_output=True, check=True).stdout).decode()
            for block in ["-----BEGIN CERTIFICATE-----" + part for part in open(pem).read().split(
                "-----BEGIN CERTIFICATE-----")[1:3]]]
    fake_id = "MFAKE-DEVICE-MADE-OF-MAIL-CERTIFICATES"

    def hostile(devices):
        for entry in devices:
            if entry["device_id"] == watch_id:
                entry["role"] = "full"  # (a)
            if entry["device_id"] == phone_id:
                entry["status"] = "active"  # (b)
            if entry["device_id"] == tablet_id:
                entry["agreement_certificate"] = mail[1]  # (c)
        devices.append({"device_id": fake_id, "name": "fake", "role": "full", "status": "active",
                        "signature_certificate": mail[0], "agreement_certificate": mail[1]})  # (c)

    rewrite_served(service, hostile)
    synced = laptop.must("sync")
    check(b"the key service served a device list the profile's admin devices did not seal" in synced.stderr,
          "the laptop says the service's list was not what the admin devices sealed", synced.stderr)
    known = devices_of(laptop)
    check(known.get(watch_id) == ("read", "active"),
          "(a) the laptop learns the watch as read-only, whatever the service lists", known)
    check(known.get(phone_id) == ("full", "removed"), "(b) the phone stays removed on the laptop")
    check(fake_id not in known, "(c) no fake device made of the profile's mail certificates")
    check(store_rows(laptop, "SELECT agreement_certificate FROM devices WHERE device_id = ?", (tablet_id,))[0][0]
          == tablet_agreement, "(c) the tablet's agreement certificate is the one the root certified for it")
    check(not service.rows("SELECT 1 FROM bundles WHERE device_id = ?", (fake_id,)),
          "(c) no key bundle was sealed for the fake device")
    watch.must("sync")
    check(not can_sign(watch), "(a) the watch received no signing key")
    check(tablet.run("sync").returncode == 0, "(c) the tablet opens the bundles sealed to its own key")
    served = served_devices(service)
    check(served.get(watch_id) == ("read", "active") and served.get(phone_id) == ("full", "removed")
          and fake_id not in served, "the laptop's sync published the true list again", served)
    quiet = laptop.json("sync")
    check(quiet["served_list_corrected"] is None, "the next sync finds the list as sealed", quiet)

    # The escrow, the one thing an admin device learns from: altered, another
    # profile's, or an older one served again. The first two are refused and
    # nothing changes; the older one is merged (every merge only adds, so it
    # changes nothing) and the newer state is published again.
    current = escrow(service)
    serve_escrow(service, current[:-1] + bytes([current[-1] ^ 1]))
    ok, text = refused(desk, "the escrow the key service serves for this profile was altered")
    check(ok, "an altered escrow is refused, nothing changed", text)
    bob = Home(work, "bob")
    bob.must("init", "bob@example.org", "--suite", "modern", "--service", url)
    bob_escrow = service.rows("SELECT escrow FROM accounts WHERE fingerprint != ?", (fingerprint,))[0][0]
    serve_escrow(service, bob_escrow)
    ok, text = refused(desk, "was altered, or not sealed by an admin device")
    check(ok, "another profile's escrow is refused, nothing changed", text)
    serve_escrow(service, before_escrow)
    rewrite_served(service, lambda devices: [entry.update(status="active") for entry in devices])
    older = desk.run("--json", "sync")
    check(older.returncode == 0 and json.loads(older.stdout or "{}").get("older_escrow_merged") is True
          and b"served an older escrow than this device has seen: it was merged" in older.stderr,
          "an older escrow served again (the phone active in it) is merged, with a warning", older.stderr)
    check(devices_of(desk).get(phone_id) == ("full", "removed"), "(b) the desk keeps the phone removed")
    check(served_devices(service).get(phone_id) == ("full", "removed") and escrow(service) != before_escrow,
          "the desk's sync publishes the newer state over the older escrow", served_devices(service))
    quiet = desk.json("sync")
    check(quiet["older_escrow_merged"] is False, "the warning is given once", quiet)
    serve_escrow(service, current)
    desk.must("sync")
    laptop.must("sync")
    check(devices_of(laptop) == devices_of(desk), "once the service serves the escrow again, both agree")

    # Two removals at once: the service withholds the laptop's removal of the
    # tablet from the desk, which removes the watch meanwhile. Each admin
    # device sent its new keys to the device the other removed; the keys
    # both end with reached neither.
    withheld = escrow(service)
    laptop.must("device", "remove", tablet_id)
    watch.must("sync")  # takes the laptop's new keys: it is still active there
    serve_escrow(service, withheld)
    desk.must("device", "remove", watch_id)
    tablet.run("sync")  # takes the desk's new keys: the desk's publication listed it active again
    for admin in (laptop, desk, laptop):
        admin.must("sync")
    final = devices_of(laptop)
    check(final == devices_of(desk) and final.get(tablet_id) == ("read", "removed")
          and final.get(watch_id) == ("read", "removed"), "both removals stand on both admin devices", final)
    current = current_mail_certificates(laptop)
    check(len(current) == 2 and current == current_mail_certificates(desk),
          "after two removals at once, one set of current mail certificates on both")
    check(len(current_records_key(laptop)) == 1 and current_records_key(laptop) == current_records_key(desk),
          "and one current records key")
    for name, gone_device in (("tablet", tablet), ("watch", watch)):
        held = [row[0] for row in store_rows(gone_device, "SELECT certificate FROM mail_keys")]
        keys = store_rows(gone_device, "SELECT key_id FROM records_keys")
        check(not set(current) & set(held) and current_records_key(laptop)[0] not in keys,
              f"the removed {name} holds neither the current mail keys nor the current records key")

finish(minimum=33)
