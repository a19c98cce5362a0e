#!/usr/bin/env python3
"""Ten years on (docs/profile.md, "The root's renewal"): every mailseal process
runs under libfaketime, the key service's clock moved as far.

Alice (an admin laptop and a phone joined by PIN) and Bob are made today; Bob
pins Alice's fingerprint, Carol learns Alice's first certificates from one
signed message. Seven years on the root is due: Alice's `sync` renews the
root (the same key, so the same fingerprint), both devices' certificates
(five years, expired) and the mail certificates, publishes them and sends
them to the phone, which adopts them. Ten years and a month on, after the
first root certificate expired: Bob's pin stands (no conflict), mail between
Alice's two devices and Bob works both ways, and Carol, who never looked
Alice up again, verifies Alice's new signature as the same identity."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from clock_tool import ClockedHome, dated_message  # noqa: E402
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

DAY = 24 * 3600
SEVEN_YEARS = 7 * 365 * DAY
TEN_YEARS_ON = 10 * 365 * DAY + 30 * DAY  # profile::kRootValidityDays, and a month


class Person(ClockedHome):
    def root(self):
        return self.json("status")["renewal"]["certificates"][0]


message = dated_message


def move_to(service, seconds):
    ClockedHome.offset = seconds
    service.move_clock(seconds)


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, settable_clock=True) as service:
    url = service.url
    alice, phone = Person(work, "alice"), Person(work, "phone")
    bob, carol = Person(work, "bob"), Person(work, "carol")

    # --- Today -------------------------------------------------------------
    alice.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
               "--service", url)
    pin = alice.json("device", "invite", "--expires", "10m")["pin"]
    phone.must("device", "join", "alice@example.com", "--service", url, "--pin", pin, "--wait", "0", "--name", "phone")
    alice.must("sync")
    phone.must("sync")
    bob.must("init", "bob@example.org", "--name", "Bob", "--suite", "modern", "--service", url)
    carol.must("init", "carol@example.net", "--name", "Carol", "--suite", "modern")
    fingerprint = alice.json("fingerprint")["fingerprint"]
    first_root = alice.root()
    bob.must("lookup", "alice@example.com")
    bob.must("contact", "pin", "alice@example.com", fingerprint)
    signed = alice.path("signed-today.eml")
    alice.must("sign", "-o", signed, stdin=message("alice@example.com", "carol@example.net", "hello", "today"))
    carol.must("learn", signed)
    bob_signed = bob.path("signed-today.eml")
    bob.must("sign", "-o", bob_signed, stdin=message("bob@example.org", "alice@example.com", "hello", "from bob"))
    alice.must("learn", bob_signed)
    phone.must("learn", bob_signed)

    # --- Seven years on: the root is due -----------------------------------
    move_to(service, SEVEN_YEARS)
    due = alice.root()
    check(due["state"] == "due", "seven years on, status says the root is due", due)
    synced = alice.json("sync")
    renewal = synced["renewal"]
    check(len(renewal["renewed"]) == 7 and renewal["published"] and renewal["devices_updated"] == 1,
          "alice's sync renews the root, both devices' certificates (two each) and both mail certificates, "
          "publishes them and sends them to the phone", synced)
    root = alice.root()
    check(root["state"] == "valid" and root["not_after"] > first_root["not_after"],
          "the renewed root lasts ten more years", root)
    check(alice.json("fingerprint")["fingerprint"] == fingerprint, "the profile's fingerprint is the same")
    check(not alice.json("sync")["renewal"]["renewed"], "a second sync renews nothing")
    phone_sync = phone.run("--json", "sync")
    check(phone_sync.returncode == 0, "the phone, whose device certificates expired, still syncs",
          phone_sync.stderr.decode())
    phone_root = phone.root()
    check(phone_root["not_after"] == root["not_after"] and phone.json("status")["renewal"]["state"] == "none_due",
          "the phone adopts the renewed root and its renewed certificates", phone_root)
    phone_devices = {d["name"]: d for d in phone.json("device", "list")["devices"]}
    check("phone" in phone_devices, "the phone still lists itself", phone_devices)
    found = bob.json("lookup", "alice@example.com")
    check(found["trust"]["level"] == "full", "bob looks alice up again: full, his pin stands", found)

    # --- Ten years and a month on: the first root has expired --------------
    move_to(service, TEN_YEARS_ON)
    # Each admin device syncs (their gateways would, every minute): the mail
    # certificates renewed at seven years are due again.
    for person in (alice, phone, bob):
        person.must("sync")
    found = bob.json("lookup", "alice@example.com")
    check(found["trust"]["level"] == "full", "ten years on, bob looks alice up: full, his pin stands", found)
    to_alice = bob.path("to-alice.eml")
    encrypted = bob.json("encrypt", "-o", to_alice,
                         stdin=message("bob@example.org", "alice@example.com", "ten years", "bob's secret"))
    check(encrypted["trust"]["alice@example.com"]["level"] == "full",
          "ten years on, bob encrypts to alice: full, no conflict", encrypted)
    for reader in (alice, phone):
        ok, detail = reader.decrypts(to_alice, "bob's secret")
        check(ok, f"{reader.name} decrypts it", detail)
    read = alice.json("decrypt", to_alice)
    check(read["signature"]["valid"] and read["trust"]["level"] not in ("conflict", "none"),
          "alice verifies bob's signature under his renewed root", read)
    phone.must("lookup", "bob@example.org")  # Bob's renewed certificates (his old ones expired)
    from_phone = phone.path("to-bob.eml")
    phone.must("encrypt", "-o", from_phone,
               stdin=message("alice@example.com", "bob@example.org", "re", "the phone's reply"))
    reply = bob.json("decrypt", from_phone)
    check(reply["signature"]["valid"] and reply["trust"]["level"] == "full",
          "bob reads the phone's reply: valid under the renewed root, full (the pin of the same fingerprint)", reply)
    later = alice.path("signed-later.eml")
    alice.must("sign", "-o", later, stdin=message("alice@example.com", "carol@example.net", "again", "ten years"))
    verified = carol.json("verify", later)
    check(verified["valid"] and verified["trust"]["level"] not in ("conflict", "none"),
          "carol, who only ever saw alice's first root, verifies her new signature: the same identity", verified)

    # Alice gives her profile up after the renewal: the revocation names the
    # renewed root's serial, and Bob (whose store first saw the old root) sees it.
    revocation = alice.path("revocation.pem")
    alice.must("export", "revocation", "-o", revocation)
    bob.must("contact", "import", revocation)
    revoked = bob.json("trust", "alice@example.com")
    check(revoked["level"] == "revoked", "a revocation by the renewed root revokes alice for bob", revoked)

finish(minimum=17)
