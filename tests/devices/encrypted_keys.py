#!/usr/bin/env python3
"""Devices whose key files are encrypted, end to end: a real key service on
127.0.0.1, one home per device. Alice makes her profile with a passphrase; a
second device joins with a passphrase of its own, a third by PIN with none.
Every device writes each key file as its own passphrase says (the pending
join's keys included), and nothing that needs one of its private keys works
without that passphrase. Removing the third device rotates the keys: the
admin device's new key files are encrypted, and the second device stores
the keys it receives under its passphrase. Two recovery shares restore the
profile under a third passphrase."""
import email.utils
import os
import secrets
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, mailseal, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()
os.environ.pop("MAILSEAL_PASSPHRASE", None)  # each device gives its own, or none

ENCRYPTED = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
PLAIN = "-----BEGIN PRIVATE KEY-----"


class Device(Home):
    """A home whose commands get `passphrase` (written to a file of its own)
    unless run `bare`."""

    def __init__(self, work, name, passphrase=None):
        super().__init__(work, name)
        self.passphrase_file = None
        if passphrase is not None:
            self.passphrase_file = self.path("passphrase")
            with open(self.passphrase_file, "w") as out:
                out.write(passphrase + "\n")

    def run(self, *arguments, stdin=None, env=None):
        unlock = ["--passphrase-file", self.passphrase_file] if self.passphrase_file else []
        return mailseal("--home", self.home, *unlock, *arguments, stdin=stdin, env=env)

    def bare(self, *arguments):
        """The command without the passphrase."""
        return mailseal("--home", self.home, *arguments)

    def key_files(self):
        """The PEM of every key file in the store, by name."""
        folder = os.path.join(self.home, "keys")
        return {name: open(os.path.join(folder, name)).read() for name in sorted(os.listdir(folder))}

    def decrypts(self, message, text, bare=False):
        result = self.bare("decrypt", "--no-learn", message) if bare else self.run("decrypt", "--no-learn", message)
        return result.returncode == 0 and text.encode() in result.stdout


def all_start_with(files, header):
    return bool(files) and all(pem.startswith(header) for pem in files.values())


def refused_for_passphrase(result):
    return result.returncode == 1 and b"passphrase" in result.stderr


def message(sender, to, subject, body):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{secrets.token_hex(8)}@test>\r\n\r\n{body}\r\n").encode()


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work) as service:
    url = service.url
    admin = Device(work, "admin", "admin passphrase")
    laptop = Device(work, "laptop", "laptop passphrase")
    phone = Device(work, "phone")
    tablet = Device(work, "tablet")

    created = admin.json("init", "alice@example.com", "--suite", "modern", "--device-name", "admin", "--service", url)
    check(created["published"], "the admin device makes the profile with a passphrase and publishes it", created)
    files = admin.key_files()
    check(len(files) == 5 and all_start_with(files, ENCRYPTED),
          "every key file of the admin device is encrypted (root, two device keys, two mail keys)", list(files))
    check(admin.json("status")["keys_encrypted"], "status says the keys are encrypted")
    check(refused_for_passphrase(admin.bare("device", "pending")),
          "without the passphrase the admin device cannot sign as the root")

    # The laptop joins by witness, with a passphrase of its own.
    ticket = laptop.json("device", "join", "alice@example.com", "--service", url, "--name", "laptop")
    pending_join = open(os.path.join(laptop.home, "join.json")).read()
    check(pending_join.count(ENCRYPTED) == 2 and PLAIN not in pending_join,
          "the pending join keeps the laptop's two keys encrypted")
    admin.must("device", "accept", ticket["witness"], "--role", "full")
    check(refused_for_passphrase(laptop.bare("sync")) and os.path.exists(os.path.join(laptop.home, "join.json")),
          "the laptop cannot finish its join without its passphrase, and the join stays pending")
    wrong = mailseal("--home", laptop.home, "--passphrase-file", admin.passphrase_file, "sync")
    check(wrong.returncode == 1 and b"wrong passphrase" in wrong.stderr, "nor with another passphrase",
          wrong.stderr.decode())
    joined = laptop.json("sync")
    check(joined["joined"] and joined["keys_added"] == 2, "with its passphrase the laptop joins", joined)
    files = laptop.key_files()
    check(len(files) == 4 and all_start_with(files, ENCRYPTED),
          "every key file of the laptop is encrypted (two device keys, two mail keys)", list(files))
    check(laptop.json("status")["keys_encrypted"], "the laptop's status says its keys are encrypted")

    # The phone joins by PIN, without a passphrase.
    invite = admin.json("device", "invite", "--expires", "10m")
    phone.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0", "--name", "phone")
    pending_join = open(os.path.join(phone.home, "join.json")).read()
    check(pending_join.count(PLAIN) == 2 and ENCRYPTED not in pending_join,
          "the phone's pending join keeps its keys unencrypted")
    check(refused_for_passphrase(admin.bare("sync")), "the admin device accepts no PIN request without its passphrase")
    accepted = admin.json("sync")["accepted"]
    check(len(accepted) == 1, "with it, the admin device accepts the phone by its PIN", accepted)
    joined = phone.json("sync")
    check(joined["joined"], "the phone joins", joined)
    files = phone.key_files()
    check(len(files) == 4 and all_start_with(files, PLAIN), "no key file of the phone is encrypted", list(files))
    check(not phone.json("status")["keys_encrypted"], "the phone's status says its keys are not encrypted")

    # The tablet joins by PIN too, without a passphrase.
    invite = admin.json("device", "invite", "--expires", "10m")
    tablet.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0", "--name", "tablet")
    admin.must("sync")
    check(tablet.json("sync")["joined"], "the tablet joins")

    bob = Device(work, "bob")
    bob.must("init", "bob@example.org", "--suite", "modern", "--service", url)
    bob.must("lookup", "alice@example.com")
    first_message = os.path.join(work, "first.eml")
    bob.must("encrypt", "-o", first_message,
             stdin=message("bob@example.org", "alice@example.com", "one", "the first secret"))
    refused = laptop.bare("decrypt", "--no-learn", first_message)
    check(refused_for_passphrase(refused) and b"first secret" not in refused.stdout,
          "the laptop decrypts nothing without its passphrase", refused.stderr.decode())
    check(laptop.decrypts(first_message, "the first secret"), "the laptop decrypts with its passphrase")
    check(phone.decrypts(first_message, "the first secret", bare=True), "the phone decrypts without one")

    # The phone is lost: new keys for everyone else.
    phone_id = phone.device_id()
    check(refused_for_passphrase(admin.bare("device", "remove", phone_id)),
          "removing a device needs the admin device's passphrase")
    removal = admin.json("device", "remove", phone_id)
    check(removal["devices_updated"] == 2 and removal["rotated"] == ["alice@example.com"],
          "removing the phone rotates the keys and sends them to the laptop and the tablet", removal)
    # Seven key files, and two records keys (trust records: the first one,
    # and the one the removal made).
    files = admin.key_files()
    check(len(files) == 9 and all_start_with(files, ENCRYPTED), "the admin device's new key files are encrypted",
          list(files))
    check(refused_for_passphrase(laptop.bare("sync")), "the laptop takes no bundle without its passphrase")
    synced = laptop.json("sync")
    check(synced["keys_added"] == 2, "with it, the laptop takes the new keys", synced)
    files = laptop.key_files()
    check(len(files) == 8 and all_start_with(files, ENCRYPTED),
          "the laptop stores the keys it received under its passphrase", list(files))
    # A passphrase given to a device whose keys are not encrypted (here in
    # the environment, as a shell profile might set it for another device)
    # does not encrypt the keys it receives: its store stays as it was made.
    stray = dict(os.environ, MAILSEAL_PASSPHRASE="a passphrase meant for another device")
    synced = mailseal("--home", tablet.home, "sync", "--json", env=stray)
    check(synced.returncode == 0, "the tablet takes the new keys", synced.stderr.decode())
    files = tablet.key_files()
    check(len(files) == 8 and all_start_with(files, PLAIN),
          "the tablet stores them unencrypted, like the rest of its store", list(files))
    bob.must("lookup", "alice@example.com")
    second_message = os.path.join(work, "second.eml")
    bob.must("encrypt", "-o", second_message,
             stdin=message("bob@example.org", "alice@example.com", "two", "the second secret"))
    check(laptop.decrypts(second_message, "the second secret") and admin.decrypts(second_message, "the second secret"),
          "the laptop and the admin device decrypt Bob's second message with their passphrases")
    check(tablet.decrypts(second_message, "the second secret", bare=True), "the tablet decrypts it without one")

    # Recovery, under a third passphrase.
    check(refused_for_passphrase(admin.bare("recovery", "create", "--shares", "3", "--quorum", "2")),
          "recovery shares need the admin device's passphrase")
    shares = admin.json("recovery", "create", "--shares", "3", "--quorum", "2")["shares"]
    restored_home = Device(work, "restored", "restored passphrase")
    restored = restored_home.json("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "restored")
    check(restored["mail_keys"] == 4, "two shares restore the profile under a new passphrase", restored)
    files = restored_home.key_files()
    check(len(files) == 9 and all_start_with(files, ENCRYPTED),
          "every key file of the restored device is encrypted (root, two device keys, four mail keys, two records "
          "keys)", list(files))
    check(restored_home.json("status")["keys_encrypted"], "the restored device's status says so")
    check(restored_home.decrypts(second_message, "the second secret")
          and not restored_home.decrypts(second_message, "the second secret", bare=True),
          "the restored device decrypts with its passphrase only")

finish(minimum=34)
