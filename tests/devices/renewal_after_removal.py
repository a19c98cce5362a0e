#!/usr/bin/env python3
"""A renewal on one admin device must not undo a removal made on the other
(docs/service.md, "Two admin devices"; review of issue 14, finding 1).

The laptop and the desk (restored from recovery shares) are admin devices,
the phone a full one. In the mail certificates' renewal window the laptop
removes the stolen phone: new mail keys, the old signing certificate and the
phone's device certificates revoked. The key service keeps serving the desk
the escrow from before the removal (docs/service.md admits a service can
withhold; two publications that overlap do the same). The desk's sync
renews the old mail certificates (the same keys, which the phone holds) and
the phone's device certificates, and publishes; the phone takes the renewed
certificates. Then both admin devices sync until they agree.

Checked as a correspondent and as OpenSSL see it: no current mail key of
either admin device is one the phone holds; Bob's mail to Alice is not
readable on the phone; every signing certificate the phone holds, and every
device certificate either admin device keeps for it, fails
`openssl verify -crl_check` against the root and the CRL the profile
publishes; what the phone signs fails `openssl cms -verify -crl_check`.

The renewed encryption certificate (review of issue 14, second round, F1):
it begins after the laptop's new one, so Bob, who looked Alice up while the
desk's renewal was published, and Carol, who looks her up afterwards and
then verifies a message the thief signs on the phone (carrying that
certificate), would encrypt to the phone's key unless it is revoked and
published in the CRL, and a revoked signer teaches no certificate."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from clock_tool import ClockedHome, dated_message  # noqa: E402
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import admins_and_phone, pem_of, published_root_and_crl  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

DAY = 24 * 3600
TWO_WEEKS_BEFORE = 2 * 365 * DAY - 14 * DAY  # profile::kMailValidityDays, less two weeks


def rows(device, sql, parameters=()):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return db.execute(sql, parameters).fetchall()


def public_key(der):
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"], input=der,
                          capture_output=True, check=True).stdout


def current_keys(device):
    return {(purpose, public_key(der)) for (purpose, der) in
            rows(device, "SELECT purpose, certificate FROM mail_keys WHERE status = 'current' AND origin = 'profile'")}



lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted, settable_clock=True) as service:
    url = service.url
    laptop, desk, phone = admins_and_phone(work, url, ClockedHome)
    fingerprint = service.account_fingerprint("alice@example.com")
    bob = ClockedHome(work, "bob")
    phone_id = phone.device_id()
    bob.must("init", "bob@example.org", "--name", "Bob", "--suite", "modern", "--service", url)
    held_by_phone = current_keys(phone)

    # The renewal window; the laptop removes the stolen phone.
    ClockedHome.offset = TWO_WEEKS_BEFORE
    service.move_clock(TWO_WEEKS_BEFORE)
    before = service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]
    laptop.must("device", "remove", phone_id)
    check(not (current_keys(laptop) & held_by_phone), "the laptop's removal rotated every mail key")
    # The service serves the desk the escrow from before the removal.
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (before, fingerprint))
    ClockedHome.offset = TWO_WEEKS_BEFORE + 120
    service.move_clock(TWO_WEEKS_BEFORE + 120)
    renewal = desk.json("sync")["renewal"]
    check(len(renewal["renewed"]) >= 2 and renewal["published"],
          "the desk, not knowing of the removal, renewed the old mail certificates and published them", renewal)
    phone.must("sync")  # takes the desk's renewed certificates
    # Bob looks Alice up now, and so holds the desk's renewed certificates.
    bob.must("lookup", "alice@example.com")
    for device in (laptop, desk, laptop, desk):
        device.must("sync")

    on_laptop, on_desk = current_keys(laptop), current_keys(desk)
    check(on_laptop == on_desk and len(on_laptop) == 2, "the two admin devices agree on the current mail keys")
    check(not (on_laptop & held_by_phone), "no current mail key of the profile is one the removed phone holds",
          f"{len(on_laptop & held_by_phone)} of {len(on_laptop)}")
    listed = {d["device_id"]: d["status"] for d in desk.json("device", "list")["devices"]}
    check(listed.get(phone_id) == "removed", "the desk lists the phone removed", listed.get(phone_id))

    # Bob finds Alice's published certificate and encrypts to her.
    bob.must("lookup", "alice@example.com")
    bob.must("contact", "pin", "alice@example.com", laptop.json("fingerprint")["fingerprint"])
    mail = os.path.join(work, "to-alice.eml")
    bob.must("encrypt", "-o", mail,
             stdin=dated_message("bob@example.org", "alice@example.com", "after", "secret-after-removal"))
    check(laptop.decrypts(mail, "secret-after-removal")[0] and desk.decrypts(mail, "secret-after-removal")[0],
          "both admin devices read Bob's mail")
    check(not phone.decrypts(mail, "secret-after-removal")[0], "the removed phone cannot read Bob's mail")

    # The root and the CRL the profile publishes, as a correspondent's OpenSSL takes them.
    root, crl = published_root_and_crl(service, fingerprint, laptop, work)
    at = str(int(time.time()) + ClockedHome.offset)

    def verifies(der, name, with_crl):
        path = os.path.join(work, f"{name}.pem")
        with open(path, "w") as out:
            out.write(pem_of(der))
        extra = ["-CRLfile", crl, "-crl_check"] if with_crl else []
        return subprocess.run(["openssl", "verify", "-CAfile", root, *extra, "-purpose", "any", "-attime", at, path],
                              capture_output=True).returncode == 0

    held = [(f"phone-{purpose}", der) for (purpose, der) in
            rows(phone, "SELECT purpose, certificate FROM mail_keys WHERE status = 'current' ORDER BY purpose DESC")]
    for device in (laptop, desk):
        for (signature, agreement) in rows(device, "SELECT signature_certificate, agreement_certificate FROM devices "
                                                   "WHERE device_id = ?", (phone_id,)):
            held += [(f"{device.name}-phone-signature", signature), (f"{device.name}-phone-agreement", agreement)]
    renewed_by_desk = {der for (der,) in rows(desk, "SELECT certificate FROM mail_keys")}
    check(len(held) == 6 and held[0][0] == "phone-signing" and held[1][0] == "phone-encryption"
          and {held[0][1], held[1][1]} <= renewed_by_desk,
          "the phone holds the current signing and encryption certificates the desk renewed", [n for n, _ in held])
    passing = [name for index, (name, der) in enumerate(held)
               if verifies(der, f"held{index}", False) and verifies(der, f"held{index}", True)]
    check(not passing, "every mail certificate the removed phone holds (encryption too), and every device "
          "certificate kept for it, fails openssl verify -crl_check against the published CRL", passing)

    signed = phone.run("sign", stdin=dated_message("alice@example.com", "bob@example.org", "x", "signed by the thief"))
    if signed.returncode == 0:
        message = os.path.join(work, "thief.eml")
        with open(message, "wb") as out:
            out.write(signed.stdout)

        def cms_verify(*extra):
            return subprocess.run(["openssl", "cms", "-verify", "-in", message, "-CAfile", root, *extra, "-purpose",
                                   "any", "-attime", at, "-out", "/dev/null"], capture_output=True)
        plain, checked = cms_verify(), cms_verify("-CRLfile", crl, "-crl_check")
        check(plain.returncode == 0 and checked.returncode != 0,
              "what the removed phone signs verifies against the root, and fails with the published CRL",
              (plain.stderr + checked.stderr).decode()[:300])
        verified = bob.run("--json", "verify", message)
        trust = json.loads(verified.stdout or b"{}").get("trust", {})
        check(trust.get("level") == "revoked", "Bob's mailseal, which looked Alice up after the removal, shows what "
              "the removed phone signs as revoked", verified.stdout.decode()[:300])

    # Carol looks Alice up after the admin devices agree; then the thief signs
    # a message to her on the phone, which carries the renewed encryption
    # certificate, and she verifies it.
    carol = ClockedHome(work, "carol")
    carol.must("init", "carol@example.org", "--name", "Carol", "--suite", "modern", "--service", url)
    carol.must("lookup", "alice@example.com")
    carol.must("contact", "pin", "alice@example.com", laptop.json("fingerprint")["fingerprint"])
    to_carol = os.path.join(work, "thief-to-carol.eml")
    with open(to_carol, "wb") as out:
        out.write(phone.must("sign", stdin=dated_message("alice@example.com", "carol@example.org", "hi",
                                                         "from the thief")).stdout)
    verified = carol.run("--json", "verify", to_carol)
    check(json.loads(verified.stdout or b"{}").get("trust", {}).get("level") == "revoked",
          "Carol's mailseal shows what the removed phone signs as revoked", verified.stdout.decode()[:300])
    carols = os.path.join(work, "carol-to-alice.eml")
    carol.must("encrypt", "-o", carols,
               stdin=dated_message("carol@example.org", "alice@example.com", "later", "carol-secret"))
    check(laptop.decrypts(carols, "carol-secret")[0], "the laptop reads Carol's mail")
    check(not phone.decrypts(carols, "carol-secret")[0],
          "the removed phone cannot read Carol's mail after she verified the thief's signed message")

finish(minimum=14)
