#!/usr/bin/env python3
"""Certificates renew themselves (docs/profile.md, "Renewal"), with the clock
moved forward: every mailseal process runs under libfaketime, the key
service's clock moved as far (KeyService(settable_clock=True)).

Alice (two devices: the admin one and one joined by PIN) and Bob are made
today; Carol only ever has Alice's first certificates. Two weeks before the
first mail certificates expire, `sync` on Alice's admin device has renewed
them (the same keys), published them and sent them to her other device;
Bob's `sign` renews his on its own and his `sync` publishes them. Between
Alice and Bob everything works (encrypt, decrypt, sign, verify), Bob's pin
of Alice stands (no conflict), Carol and `openssl cms` still encrypt to
Alice's old certificate and both of Alice's devices read that, also after
the old certificate expired (the archived key)."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from clock_tool import ClockedHome, dated_message  # noqa: E402
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

DAY = 24 * 3600
MAIL_VALIDITY = 2 * 365 * DAY  # profile::kMailValidityDays
TWO_WEEKS_BEFORE = MAIL_VALIDITY - 14 * DAY


class Person(ClockedHome):
    def renewal(self):
        return self.json("status")["renewal"]

    def current(self, purpose):
        """Fingerprints of the current own certificates of `purpose`."""
        return {k["fingerprint"] for k in self.json("status")["mail_keys"]
                if k["purpose"] == purpose and k["status"] == "current" and k["origin"] == "profile"}


message = dated_message


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, settable_clock=True) as service:
    url = service.url
    alice, phone = Person(work, "alice"), Person(work, "phone")
    bob, carol = Person(work, "bob"), Person(work, "carol")

    # --- Today -------------------------------------------------------------
    alice.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
               "--service", url)
    pin = alice.json("device", "invite", "--expires", "10m")["pin"]
    phone.must("device", "join", "alice@example.com", "--service", url, "--pin", pin, "--wait", "0", "--name", "phone")
    phone.must("sync")
    alice.must("sync")
    phone.must("sync")
    bob.must("init", "bob@example.org", "--name", "Bob", "--suite", "modern", "--service", url)
    carol.must("init", "carol@example.net", "--name", "Carol", "--suite", "modern")
    today = alice.renewal()
    check(today["state"] == "none_due" and today["can_renew"] and
          [c["state"] for c in today["certificates"]] == ["valid"] * 3,
          "today: status shows the root and two mail certificates, none due", today)
    phone_today = phone.renewal()
    check(not phone_today["can_renew"], "the phone does not hold the root: it cannot renew", phone_today)
    old_encryption = alice.current("encryption")
    old_signing = alice.current("signing")
    old_pem = alice.path("first-certificates.pem")  # what a legacy correspondent keeps
    alice.must("export", "certificates", "-o", old_pem)

    # Bob compares Alice's fingerprint and pins it; Carol and Bob learn her
    # first certificates from a signed message, Alice learns Bob's.
    bob.must("lookup", "alice@example.com")
    bob.must("contact", "pin", "alice@example.com", alice.json("fingerprint")["fingerprint"])
    signed = alice.path("signed-today.eml")
    alice.must("sign", "-o", signed, stdin=message("alice@example.com", "bob@example.org", "hello", "today"))
    bob.must("learn", signed)
    carol.must("learn", signed)
    from_bob = bob.path("signed-today.eml")
    bob.must("sign", "-o", from_bob, stdin=message("bob@example.org", "alice@example.com", "hello", "from bob"))
    alice.must("learn", from_bob)
    phone.must("learn", from_bob)

    # --- Two weeks before the first certificates expire --------------------
    ClockedHome.offset = TWO_WEEKS_BEFORE
    service.move_clock(TWO_WEEKS_BEFORE)
    due = alice.renewal()
    check(due["state"] == "due" and [c["state"] for c in due["certificates"][1:]] == ["due", "due"],
          "two weeks before: status says the mail certificates are due", due)
    check(phone.renewal()["state"] == "waiting_for_admin", "... and on the phone: waiting for the admin device")
    synced = alice.json("sync")["renewal"]
    check(len(synced["renewed"]) == 2 and synced["published"] and synced["devices_updated"] == 1,
          "alice's sync renews both certificates, publishes them and sends them to the phone", synced)
    after = alice.renewal()
    check(after["state"] == "none_due" and all(c["state"] == "valid" for c in after["certificates"]),
          "after the sync nothing is due", after)
    new_encryption = alice.current("encryption")
    check(new_encryption and not (new_encryption & old_encryption) and alice.current("signing") != old_signing,
          "new certificates are current", new_encryption)
    keys = alice.json("status")["mail_keys"]
    check(sum(1 for k in keys if k["status"] == "archived") == 2, "the old certificates stay, archived", keys)
    again = alice.json("sync")["renewal"]
    check(not again["renewed"] and not again["published"], "a second sync renews nothing", again)
    phone_sync = phone.json("sync")
    check(phone_sync["keys_added"] == 2 and phone.current("encryption") == new_encryption and
          phone.renewal()["state"] == "none_due", "the phone's sync takes the renewed certificates", phone_sync)

    # Bob has not synced: his `sign` notices and renews on its own device (no network) ...
    bob_signed = bob.path("signed-later.eml")
    signing = bob.run("sign", "-o", bob_signed, stdin=message("bob@example.org", "alice@example.com", "later",
                                                              "bob two years on"))
    check(signing.returncode == 0 and b"renewed 2 certificate(s)" in signing.stderr,
          "bob's sign renews his certificates before signing", signing.stderr.decode())
    check(bob.renewal()["state"] == "unpublished", "... status says they wait to be published")
    published = bob.json("sync")["renewal"]
    check(published["published"] and not published["renewed"], "... and bob's sync publishes them", published)
    check(bob.renewal()["state"] == "none_due", "... then nothing waits")

    # Between Alice and Bob everything works, without a conflict.
    found = bob.json("lookup", "alice@example.com")
    check(found["trust"]["level"] == "full", "bob finds alice's renewed certificates: still full (the pin)", found)
    trust = bob.json("trust", "alice@example.com")
    check(trust["level"] == "full" and trust["certificate"] not in old_encryption | old_signing,
          "bob's verdict for alice is about a renewed certificate, full, no conflict", trust)
    to_alice = bob.path("to-alice.eml")
    encrypted = bob.json("encrypt", "-o", to_alice,
                         stdin=message("bob@example.org", "alice@example.com", "renewed", "bob's secret"))
    check(encrypted["trust"]["alice@example.com"]["level"] == "full", "bob encrypts to alice (full)", encrypted)
    for reader in (alice, phone):
        ok, detail = reader.decrypts(to_alice, "bob's secret")
        check(ok, f"{reader.name} decrypts bob's message", detail)
    read = alice.json("decrypt", to_alice)
    check(read["signature"]["valid"] and read["trust"]["level"] not in ("conflict", "none"),
          "alice verifies bob's renewed signing certificate without a conflict", read)
    verified = alice.json("verify", bob_signed)
    check(verified["valid"], "alice verifies the message bob's sign renewed for", verified)
    from_phone = phone.path("to-bob.eml")
    phone.must("encrypt", "-o", from_phone, stdin=message("alice@example.com", "bob@example.org", "re", "phone's"))
    reply = bob.json("decrypt", from_phone)
    check(reply["signature"]["valid"] and reply["trust"]["level"] == "full" and
          reply["signature"]["signer"]["fingerprint"] in phone.current("signing"),
          "bob reads the phone's reply, signed with the renewed certificate: full", reply)

    # Carol still has only Alice's first certificates: she encrypts to the old one.
    carol_before = carol.json("trust", "alice@example.com")
    check(carol_before["certificate"] in old_encryption | old_signing and carol_before["level"] == "marginal",
          "carol has only alice's first certificates (trust on first use, no conflict)", carol_before)
    to_alice_old = carol.path("to-alice.eml")
    carol.must("encrypt", "-o", to_alice_old,
               stdin=message("carol@example.net", "alice@example.com", "old", "carol's secret"))
    made_by_openssl = os.path.join(work, "openssl.eml")
    body = message("dave@example.org", "alice@example.com", "openssl", "openssl's secret")
    # export certificates wrote the signing, the encryption certificate, then the root.
    with open(old_pem) as source:
        pems = source.read().split("-----END CERTIFICATE-----")
    old_encryption_pem = os.path.join(work, "old-encryption.pem")
    with open(old_encryption_pem, "w") as out:
        out.write(pems[1].strip() + "\n-----END CERTIFICATE-----\n")
    made = subprocess.run(["openssl", "cms", "-encrypt", "-aes256", "-recip", old_encryption_pem, "-out",
                           made_by_openssl], input=body, capture_output=True)
    check(made.returncode == 0, "openssl cms encrypts to alice's old certificate", made.stderr.decode())
    for reader in (alice, phone):
        ok, detail = reader.decrypts(to_alice_old, "carol's secret")
        check(ok, f"{reader.name} reads carol's message to the old certificate", detail)
        result = reader.run("decrypt", "--no-learn", "--allow-unauthenticated", made_by_openssl)
        check(result.returncode == 0 and b"openssl's secret" in result.stdout,
              f"{reader.name} reads openssl's message to the old certificate", result.stderr.decode())
    signed_later = alice.path("signed-later.eml")
    alice.must("sign", "-o", signed_later, stdin=message("alice@example.com", "carol@example.net", "new", "renewed"))
    carol.must("learn", signed_later)
    carol_trust = carol.json("trust", "alice@example.com")
    check(carol_trust["level"] not in ("conflict", "none") and carol_trust["certificate"] not in old_signing,
          "carol learns alice's renewed certificate from signed mail: no conflict", carol_trust)

    # --- After the first certificates expired -----------------------------
    ClockedHome.offset = MAIL_VALIDITY + DAY
    service.move_clock(MAIL_VALIDITY + DAY)
    for reader in (alice, phone):
        ok, detail = reader.decrypts(to_alice_old, "carol's secret")
        check(ok, f"{reader.name} still reads mail to the expired certificate (the archived key)", detail)
    late = alice.renewal()
    check(late["state"] == "none_due" and [c["state"] for c in late["certificates"]] == ["valid"] * 3,
          "after the old certificates expired, the current ones are valid", late)
    later_to_alice = bob.path("later.eml")
    bob.must("encrypt", "-o", later_to_alice,
             stdin=message("bob@example.org", "alice@example.com", "later", "still secret"))
    ok, detail = phone.decrypts(later_to_alice, "still secret")
    check(ok, "bob still encrypts to alice after the first certificates expired", detail)

finish(minimum=33)
