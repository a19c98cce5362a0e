#!/usr/bin/env python3
"""A stolen admin device lowers the honest one's role (docs/service.md, "Two
admin devices"; review of issue 14, finding 6).

The laptop (admin), the desk (admin, restored from recovery shares) and the
phone (full). The desk is stolen; the thief sets the laptop's role to read
in the desk's store (SQLite, no forging by hand: mailseal itself seals and
publishes it) and publishes. The laptop's sync refuses the escrow, saying a
stolen admin device may have written it, and keeps its role. The person then
removes the desk on the laptop, which works although the served escrow is the
thief's; afterwards the phone takes the laptop's decisions (a pin of Bob).

Review of issue 14, second round: the thief's desk also syncs, which sends
the phone fresh bundles listing the laptop as read (F2: the phone, which
takes the roster from its bundles, must not lower an admin device's role);
and once removed, the thief lists itself removed, lowers the laptop again
and publishes (F3: the laptop must ignore that escrow and publish over it,
not refuse every sync and publish for good)."""
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import admins_and_phone, correspondents, roles_and_statuses  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, desk, phone = admins_and_phone(work, url)
    people = correspondents(work, url, ["bob"], devices=(laptop, phone))
    laptop_id, desk_id = laptop.device_id(), desk.device_id()

    # The thief lowers the laptop's role on the stolen desk and publishes.
    with sqlite3.connect(os.path.join(desk.home, "mailseal.db")) as db:
        db.execute("UPDATE devices SET role = 'read' WHERE device_id = ?", (laptop_id,))
    desk.must("publish")
    desk.run("sync")  # sends the phone fresh bundles with the thief's list
    phone.must("sync")
    check(roles_and_statuses(phone).get(laptop_id) == ("admin", "active"),
          "the phone keeps the laptop admin whatever the thief's bundles list", roles_and_statuses(phone).get(laptop_id))
    listed = roles_and_statuses(laptop)
    synced = laptop.run("sync")
    check(synced.returncode != 0 and b"lowers this device's role to read" in synced.stderr
          and b"stolen or compromised" in synced.stderr,
          "the laptop refuses an escrow that lowers its own role, saying a stolen admin device may have written it",
          synced.stderr.decode())
    check(roles_and_statuses(laptop) == listed and listed.get(laptop_id) == ("admin", "active"),
          "and takes nothing from it", roles_and_statuses(laptop))

    # What the refusal says to do: remove the desk on the laptop.
    removed = laptop.run("device", "remove", desk_id)
    check(removed.returncode == 0, "the laptop removes the stolen desk although the served escrow is the thief's",
          removed.stderr.decode())
    laptop.must("sync")
    phone.must("sync")
    check(roles_and_statuses(laptop).get(laptop_id) == ("admin", "active") and roles_and_statuses(laptop).get(desk_id)
          == ("admin", "removed"), "the laptop stays admin and the desk is removed", roles_and_statuses(laptop))
    check(roles_and_statuses(phone).get(laptop_id, ("",))[0] == "admin", "the phone lists the laptop as admin",
          roles_and_statuses(phone).get(laptop_id))
    laptop.must("contact", "pin", "bob@example.org", people["bob"])
    for device in (laptop, phone, laptop, phone):
        device.must("sync")
    check(phone.json("trust", "bob@example.org")["level"] == "full", "the phone takes the laptop's pin of Bob")


    # The removed thief lists itself removed, lowers the laptop again and publishes.
    with sqlite3.connect(os.path.join(desk.home, "mailseal.db")) as db:
        db.execute("UPDATE devices SET status = 'removed' WHERE device_id = ?", (desk_id,))
        db.execute("UPDATE devices SET role = 'read' WHERE device_id = ?", (laptop_id,))
    desk.must("publish")
    fingerprint = service.account_fingerprint("alice@example.com")
    escrow_of_alice = ("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))
    thiefs = service.rows(*escrow_of_alice)[0][0]
    synced = laptop.run("sync")
    check(synced.returncode == 0 and b"after an admin device was removed here" in synced.stderr,
          "the laptop ignores, with a warning, an escrow of the removed thief that lists the thief removed",
          synced.stderr.decode())
    check(service.rows(*escrow_of_alice)[0][0] != thiefs, "and publishes over it")
    check(laptop.run("publish").returncode == 0 and roles_and_statuses(laptop).get(laptop_id) == ("admin", "active"),
          "the laptop publishes again and stays admin", roles_and_statuses(laptop))

finish(minimum=10)
