#!/usr/bin/python3
"""Client set-ups stay current: mailseal remembers the Thunderbird and mutt
set-ups of a device (`status` shows them, current or not), and `sync`
refreshes the stale ones after a trust change (a pin) and after a device
removal rotated the keys; while Thunderbird runs it says what to rerun
instead. Checked with NSS's tools on the profile's database."""
import fcntl
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()
os.environ.pop("MAILSEAL_PASSPHRASE", None)

PREFS = ('// Mozilla User Preferences\n'
         'user_pref("mail.identity.id1.fullName", "Alice");\n'
         'user_pref("mail.identity.id1.useremail", "alice@example.com");\n')


def run(*arguments, stdin=None):
    return subprocess.run(list(arguments), capture_output=True, input=stdin)


def clients_of(home):
    return {c["kind"]: c for c in home.json("status")["clients"]}


def pref(profile, name):
    with open(os.path.join(profile, "prefs.js")) as handle:
        lines = [line for line in handle.read().splitlines() if f'"mail.identity.id1.{name}"' in line]
    return lines[-1] if lines else ""


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work) as service:
    admin, laptop, phone, bob = (Home(work, name) for name in ("admin", "laptop", "phone", "bob"))
    admin.must("init", "alice@example.com", "--name", "Alice", "--device-name", "admin", "--service", service.url)
    for device in (laptop, phone):
        invite = admin.json("device", "invite", "--expires", "10m")
        device.must("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"], "--wait", "0",
                    "--name", device.name)
        admin.must("sync")
        device.must("sync")

    profile = os.path.join(work, "thunderbird")
    os.makedirs(profile)
    with open(os.path.join(profile, "prefs.js"), "w") as out:
        out.write(PREFS)
    database = "sql:" + profile
    laptop.must("setup", "thunderbird", "--profile", profile)
    mutt = os.path.join(work, "mutt")
    laptop.must("setup", "mutt", "--dir", mutt)
    clients = clients_of(laptop)
    check(set(clients) == {"thunderbird", "mutt"} and clients["thunderbird"]["location"] == profile
          and clients["mutt"]["location"] == mutt
          and all(c["keys_current"] and c["trust_current"] for c in clients.values()),
          "status lists the Thunderbird profile and mutt's folder the laptop set up, both current", clients)
    text = laptop.must("status").stdout.decode()
    check(f"client       thunderbird {profile} (current)" in text, "status says so in its text too", text)

    # A trust change: the laptop pins Bob.
    bob.must("init", "bob@example.org", "--name", "Bob")
    note = os.path.join(work, "from-bob.eml")
    with open(note, "wb") as out:
        out.write(b"From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    bob.must("sign", note, "-o", note + ".signed")
    laptop.must("learn", note + ".signed")
    laptop.must("contact", "pin", "bob@example.org", bob.must("fingerprint").stdout.decode().strip())
    clients = clients_of(laptop)
    check(not clients["thunderbird"]["trust_current"] and clients["thunderbird"]["keys_current"]
          and clients["mutt"]["trust_current"],
          "after the pin, status says Thunderbird's trust changed (mutt takes no correspondents' roots)", clients)
    synced = laptop.json("sync")
    refreshed = {c["kind"]: c for c in synced.get("clients", [])}
    listing = run("certutil", "-L", "-d", database).stdout.decode()
    bob_lines = [line for line in listing.splitlines() if line.startswith("mailseal contact bob@example.org")]
    check(list(refreshed) == ["thunderbird"] and refreshed["thunderbird"]["refreshed"]
          and len(bob_lines) == 1 and bob_lines[0].split()[-1] == ",C,",
          "sync refreshes Thunderbird: Bob's root is now trusted for email in its database", (synced, listing))
    check(all(c["trust_current"] for c in clients_of(laptop).values()), "and status says it is current")

    # A device removal rotates the keys; the laptop receives them while Thunderbird runs.
    encryption_before = pref(profile, "encryption_cert_dbkey")
    key_file = os.path.join(mutt, "alice@example.com-encryption.key")
    with open(key_file, "rb") as handle:
        mutt_key_before = handle.read()
    removal = admin.json("device", "remove", phone.device_id())
    check(removal.get("rotated") == ["alice@example.com"], "removing the phone rotates Alice's keys", removal)
    with open(os.path.join(profile, ".parentlock"), "w") as parent_lock:
        fcntl.lockf(parent_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = laptop.run("--json", "sync")
        text_result = laptop.run("sync")
    synced = json.loads(result.stdout) if result.returncode == 0 else {}
    refreshed = {c["kind"]: c for c in synced.get("clients", [])}
    with open(key_file, "rb") as handle:
        mutt_key_after = handle.read()
    check(synced.get("keys_added", 0) > 0 and refreshed.get("mutt", {}).get("refreshed")
          and mutt_key_after != mutt_key_before,
          "sync takes the new keys and writes them into mutt's folder", synced)
    tb = refreshed.get("thunderbird", {})
    check(not tb.get("refreshed") and "Thunderbird is running" in (tb.get("problem") or "")
          and tb.get("rerun") == f"mailseal setup thunderbird --profile '{profile}'"
          and pref(profile, "encryption_cert_dbkey") == encryption_before,
          "while Thunderbird runs, sync leaves its profile alone and says what to rerun", tb)
    check(b"Thunderbird is running" in text_result.stderr and b"mailseal setup thunderbird --profile" in
          text_result.stderr, "the text output says it too", text_result.stderr.decode())
    check(not clients_of(laptop)["thunderbird"]["keys_current"], "status still shows Thunderbird's keys as changed")

    synced = laptop.json("sync")
    refreshed = {c["kind"]: c for c in synced.get("clients", [])}
    check(refreshed.get("thunderbird", {}).get("refreshed") and "mutt" not in refreshed
          and pref(profile, "encryption_cert_dbkey") != encryption_before,
          "after Thunderbird quit, sync refreshes it: prefs.js names the new encryption certificate", synced)
    # A message to Alice's current (rotated) encryption certificate, made by OpenSSL: NSS reads it with the
    # refreshed database.
    exported = os.path.join(work, "alice-now.pem")
    laptop.must("export", "certificates", "-o", exported)
    with open(exported, "rb") as handle:
        blocks = [b + b"-----END CERTIFICATE-----\n" for b in handle.read().split(b"-----END CERTIFICATE-----")
                  if b"BEGIN" in b]
    recipient = os.path.join(work, "alice-encryption-now.pem")
    with open(recipient, "wb") as out:
        out.write(next((b for b in blocks if b"Key Encipherment" in
                        run("openssl", "x509", "-noout", "-ext", "keyUsage", stdin=b).stdout), b""))
    made = run("openssl", "cms", "-encrypt", "-aes-256-cbc", "-recip", recipient, "-outform", "DER",
               stdin=b"after the rotation\n")
    decrypted = run("cmsutil", "-D", "-d", database, "-p", "", stdin=made.stdout)
    check(made.returncode == 0 and decrypted.returncode == 0 and b"after the rotation" in decrypted.stdout,
          "NSS decrypts a message to the rotated encryption certificate with the refreshed database",
          made.stderr.decode() + decrypted.stderr.decode())
    check(all(c["keys_current"] and c["trust_current"] for c in clients_of(laptop).values()),
          "status: every client current again")

    # Without a key service, sync still refreshes the clients.
    alone = Home(work, "alone")
    alone.must("init", "alice@example.com", "--name", "Alice")
    alone_profile = os.path.join(work, "alone-thunderbird")
    os.makedirs(alone_profile)
    with open(os.path.join(alone_profile, "prefs.js"), "w") as out:
        out.write(PREFS)
    alone.must("setup", "thunderbird", "--profile", alone_profile)
    alone.must("learn", note + ".signed")
    alone.must("contact", "pin", "bob@example.org", bob.must("fingerprint").stdout.decode().strip())
    result = alone.run("sync")
    check(result.returncode == 0 and b"no key service" in result.stderr and b"refreshed the thunderbird set-up"
          in result.stderr, "with no key service, sync refreshes the clients and says so", result.stderr.decode())

finish(minimum=14)
