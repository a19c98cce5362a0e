#!/usr/bin/env python3
"""A restore from recovery shares against a key service that serves an old
escrow (docs/service.md, "Recovery"; review of issue 14, finding 2).

Alice's laptop (admin) and phone (full). The phone is stolen; the laptop
removes it (new keys, the phone's certificates revoked in the published CRL).
Then the laptop is lost, and Alice restores from her shares while the
service serves the escrow from before the removal. The restore refuses that
escrow, naming its date and the newer revocation list the root signed, and
stores and publishes nothing (text and --json), until Alice gives her word
(--accept-old-escrow). Then it says when that escrow was sealed and lists its
devices; it takes in the revocation
list the root signed and the service publishes, so it removes the phone
(its device certificates are revoked there), rotates the keys the phone
holds, and its publication's CRL still names every serial the removal
revoked. Bob's mail to Alice after the restore is not readable on the phone.
A restore from the escrow the service serves with its own publication is not
refused."""
import base64
import datetime
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


def current_keys(device):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return {row[0] for row in db.execute("SELECT key_fingerprint FROM mail_keys WHERE status = 'current' AND "
                                             "origin = 'profile'")}


def crl_serials(service, fingerprint):
    document = json.loads(service.rows("SELECT document FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0])
    out = set()
    for item in document.get("revocations", []):
        text = subprocess.run(["openssl", "crl", "-inform", "DER", "-noout", "-text"], input=base64.b64decode(item),
                              capture_output=True, check=True).stdout.decode()
        out |= {line.split(":")[1].strip().upper() for line in text.splitlines() if "Serial Number:" in line}
    return out


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, phone, restored, bob = (Home(work, name) for name in ("laptop", "phone", "restored", "bob"))
    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    fingerprint = service.account_fingerprint("alice@example.com")
    shares = laptop.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    invite = laptop.json("device", "invite", "--role", "full")
    phone.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
               "--name", "phone")
    for device in (laptop, phone, laptop):
        device.must("sync")
    phone_id = phone.device_id()
    phone_keys = current_keys(phone)
    old_escrow = service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]
    laptop.must("device", "remove", phone_id)
    revoked_by_removal = crl_serials(service, fingerprint)
    check(len(revoked_by_removal) >= 3, "the removal revoked the phone's two device certificates and its signing "
          "certificate", len(revoked_by_removal))

    # The laptop is lost; the service serves the escrow from before the removal.
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (old_escrow, fingerprint))
    served = service.rows("SELECT document, escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))
    restore = ("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "restored")
    refused = restored.run("--json", *restore)
    report = json.loads(refused.stdout or b"{}")
    old = report.get("old_escrow") or {}
    check(refused.returncode == 1 and report.get("restored") is False and report.get("device_id") is None
          and revoked_by_removal <= set(old.get("serials_not_in_escrow", []))
          # The removal may fall in the escrow's second (to the second both): the
          # serials it revoked are what the escrow lacks either way.
          and old.get("newest_revocation_list", "") >= report.get("escrow_sealed_at", "~")
          and old.get("accepted") is False,
          "--json: the old escrow is refused, with its date, the newer revocation list's and the serials it lacks",
          (refused.returncode, report, refused.stderr.decode()))
    check({d["device_id"]: d["status"] for d in report.get("devices", [])}.get(phone_id) == "active",
          "--json: the refusal lists the escrow's devices as it holds them (the phone active)", report)
    text_refusal = restored.run(*restore)
    check(text_refusal.returncode == 1 and b"serves an escrow sealed at " + report["escrow_sealed_at"].encode()
          in text_refusal.stderr and b"revocation list at " + old["newest_revocation_list"].encode()
          in text_refusal.stderr and b"--accept-old-escrow" in text_refusal.stderr and not text_refusal.stdout,
          "text: the refusal names the escrow's date, the newer revocation list's and the flag",
          text_refusal.stderr.decode())
    check(not os.path.exists(restored.home) and service.rows(
          "SELECT document, escrow FROM accounts WHERE fingerprint = ?", (fingerprint,)) == served,
          "a refused restore stores nothing here and publishes nothing")
    answer = restored.json(*restore, "--accept-old-escrow")
    check(answer["restored"] and answer["old_escrow"]["accepted"], "--accept-old-escrow restores from it", answer)
    sealed = datetime.datetime.fromisoformat(answer["escrow_sealed_at"].replace("Z", "+00:00"))
    check(abs((datetime.datetime.now(datetime.timezone.utc) - sealed).total_seconds()) < 3600
          and {d["device_id"]: d["status"] for d in answer["devices"]}.get(phone_id) == "removed",
          "the restore says when the escrow was sealed and lists its devices", answer)
    check(answer["removed_by_revocations"] == [phone_id] and answer["rotated"],
          "the phone, active in the old escrow, is removed: the root revoked its device certificates", answer)
    text = Home(work, "again")  # the same, as text, the old escrow served again
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (old_escrow, fingerprint))
    shown = text.run("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "again",
                     "--accept-old-escrow")
    check(shown.returncode == 0 and b"was sealed by an admin device at" in shown.stderr
          and b"restored from it as --accept-old-escrow asked" in shown.stderr
          and phone_id.encode() in shown.stderr and b"older than its removal" in shown.stderr,
          "the restore's text names the escrow's date, its devices and the removal it was older than",
          shown.stderr.decode())
    restored.must("sync")
    listed = {d["device_id"]: d["status"] for d in restored.json("device", "list")["devices"]}
    check(listed.get(phone_id) == "removed", "the restored device lists the phone removed", listed)
    check(not (current_keys(restored) & phone_keys), "the restored device's current mail keys are not the phone's")
    check(revoked_by_removal <= crl_serials(service, fingerprint),
          "the published CRL still names every serial the removal revoked")

    phone.run("sync")
    bob.must("init", "bob@example.org", "--name", "Bob", "--suite", "modern", "--service", url)
    bob.must("lookup", "alice@example.com")
    bob.must("contact", "pin", "alice@example.com", restored.json("fingerprint")["fingerprint"])
    mail = os.path.join(work, "to-alice.eml")
    bob.must("encrypt", "-o", mail,
             stdin=b"From: bob@example.org\r\nTo: alice@example.com\r\nSubject: s\r\n\r\nsecret-after-restore\r\n")
    check(restored.run("decrypt", "--no-learn", mail).returncode == 0, "the restored device reads Bob's mail")
    read = phone.run("decrypt", "--no-learn", mail)
    check(not (read.returncode == 0 and b"secret-after-restore" in read.stdout),
          "the removed phone cannot read Bob's mail after the restore")

    restored.must("sync")
    fresh = Home(work, "fresh").json("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "fresh")
    check(fresh["restored"] and fresh["old_escrow"] is None,
          "the escrow served with its own publication's revocation list is restored without a word", fresh)

finish(minimum=15)
