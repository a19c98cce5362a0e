#!/usr/bin/env python3
"""What an admin device never takes from an escrow, refused or not (docs/service.md, "What a refused escrow
still gives"; review of issue 14, fourth round).

Three admin devices, the laptop, the desk and the spare, and a phone. The spare is stolen; its client is the stock
one with an edited store, as a thief's would be.

1. Its escrow removes the laptop, lowers the phone to read, and revokes the profile's root and the device
   certificates of the active desk and phone. The laptop refuses it and says what it took (the phone's lower role);
   once the person removed the spare there, the laptop's own revocation list revokes neither the root nor an active
   device, and Bob still encrypts to Alice.
2. Its escrow lists a made-up removed device carrying the laptop's agreement certificate, so that its removal would
   revoke it. The laptop refuses the list whole and revokes nothing of its own; `device remove` of the spare still
   goes on (a malformed list must not stop the thief's removal) and says why the escrow was refused."""
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from clock_tool import dated_message  # noqa: E402
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from profile_tool import (admins_and_phone, correspondents, crl_verdict, published_root_and_crl,  # noqa: E402
                          serial_of, store_rows)
from service_tool import KeyService  # noqa: E402

require_mailseal()

lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]


def device_certificates(device, of):
    return list(store_rows(device, "SELECT signature_certificate, agreement_certificate FROM devices "
                           "WHERE device_id = ?", (of,))[0])


def revoked_serials(device):
    return {row[0] for row in store_rows(device, "SELECT serial FROM revocations")}


def thief_revokes(spare, serials):
    """The thief's client: revocations added to its store, sealed into its next escrow."""
    issuer = store_rows(spare, "SELECT fingerprint FROM profile")[0][0]
    with sqlite3.connect(os.path.join(spare.home, "mailseal.db")) as db:
        for serial in serials:
            db.execute("INSERT INTO revocations VALUES (?, ?, 'thief', 1)", (issuer, serial))


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    laptop, desk, phone, spare = admins_and_phone(work, service.url, spares=("spare",))
    fingerprint = service.account_fingerprint("alice@example.com")
    laptop_id, desk_id, spare_id, phone_id = (d.device_id() for d in (laptop, desk, spare, phone))
    correspondents(work, service.url, ["bob"])
    bob = Home(work, "bob")
    bob.must("lookup", "alice@example.com")
    bob.must("contact", "pin", "alice@example.com", laptop.json("fingerprint")["fingerprint"])

    root_serial = serial_of(store_rows(spare, "SELECT root_certificate FROM profile")[0][0])
    active = {name: device_certificates(spare, of) for name, of in (("desk", desk_id), ("phone", phone_id))}
    thief_revokes(spare, [root_serial] + [serial_of(der) for pair in active.values() for der in pair])
    with sqlite3.connect(os.path.join(spare.home, "mailseal.db")) as db:
        db.execute("UPDATE devices SET role = 'read' WHERE device_id = ?", (phone_id,))
    spare.must("device", "remove", laptop_id)

    refusal = laptop.run("sync")
    said = refusal.stderr.decode()
    check(refusal.returncode != 0 and "removes this device" in said, "the laptop refuses the thief's escrow", said)
    check(f"device {phone_id} lowered to read" in said, "the refusal names what it took: the phone's lower role",
          said)
    check(root_serial not in revoked_serials(laptop), "the laptop does not take the revocation of the profile's root")
    check(not any(serial_of(der) in revoked_serials(laptop) for pair in active.values() for der in pair),
          "nor the revocation of the active desk's and phone's device certificates")

    removal = laptop.run("device", "remove", spare_id)
    check(removal.returncode == 0, "the person removes the spare on the laptop", removal.stderr.decode())
    root, crl = published_root_and_crl(service, fingerprint, laptop, work)
    for name, pair in active.items():
        verdicts = [crl_verdict(work, root, crl, der) for der in pair]
        check(verdicts == ["good", "good"], f"the laptop's published CRL leaves the active {name} unrevoked", verdicts)
    bob.must("lookup", "alice@example.com")
    sent = bob.run("encrypt", "-o", os.path.join(work, "to-alice.eml"),
                   stdin=dated_message("bob@example.org", "alice@example.com", "still", "hello"))
    check(sent.returncode == 0, "Bob still encrypts to Alice (her root is not revoked)", sent.stderr.decode())

with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    laptop, desk, phone, spare = admins_and_phone(work, service.url, spares=("spare",))
    fingerprint = service.account_fingerprint("alice@example.com")
    laptop_id, spare_id = laptop.device_id(), spare.device_id()
    escrow_before = service.rows("SELECT escrow, escrow_id FROM accounts WHERE fingerprint = ?", (fingerprint,))[0]
    # A device only the spare knows, made to carry the laptop's agreement certificate and listed removed.
    extra = Home(work, "extra")
    invite = spare.json("device", "invite", "--role", "read")
    extra.must("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"], "--wait", "0",
               "--name", "extra")
    spare.must("sync")
    known = {laptop_id, spare_id, desk.device_id(), phone.device_id()}
    extra_id = next(row[0] for row in store_rows(spare, "SELECT device_id FROM devices") if row[0] not in known)
    laptop_signature, laptop_agreement = device_certificates(laptop, laptop_id)
    with sqlite3.connect(os.path.join(spare.home, "mailseal.db")) as db:
        db.execute("UPDATE devices SET agreement_certificate = ?, status = 'removed' WHERE device_id = ?",
                   (laptop_agreement, extra_id))
    # The spare's stock client checks its own store against the escrow it published last: serve the older one.
    service.write("UPDATE accounts SET escrow = ?, escrow_id = ? WHERE fingerprint = ?", (*escrow_before, fingerprint))
    spare.must("device", "remove", laptop_id)

    refusal = laptop.run("sync")
    said = refusal.stderr.decode()
    check(refusal.returncode != 0 and f"with a certificate of device {laptop_id}" in said,
          "the laptop refuses a list whose made-up device carries the laptop's certificate", said)
    check(serial_of(laptop_agreement) not in revoked_serials(laptop), "the laptop does not revoke its own certificate")
    removal = laptop.run("device", "remove", spare_id)
    said = removal.stderr.decode()
    check(removal.returncode == 0, "the malformed list does not stop the person removing the spare", said)
    check("was refused" in said, "'device remove' says the escrow was refused, and why", said)
    root, crl = published_root_and_crl(service, fingerprint, laptop, work)
    verdicts = [crl_verdict(work, root, crl, der) for der in (laptop_signature, laptop_agreement)]
    check(verdicts == ["good", "good"], "the laptop's published CRL leaves its own certificates unrevoked", verdicts)

finish(minimum=12)
