#!/usr/bin/env python3
"""What a removed device's records past its removal's cut decided is taken
back on a device that had merged them (docs/security.md, "The cut").

Device 1 (admin) pins Carol and anchors two CAs (X at 90, Z at 60); every
device syncs. Device 2 is stolen: before the person removes it, the thief
unpins Carol, removes both anchors, anchors a CA of its own (Y at 120), pins
Dave and pins then unpins Erin, whom device 3 pinned meanwhile without knowing it (a
conflict). Device 3 syncs and merges all of it. The service then withholds
device 2's new record from device 1 while device 1 removes device 2, so the
removal's cut ends before it; the service serves it again afterwards.

On device 3, the decision of device 1's anchor of Z is made to look like one
noted by an older mailseal (its changes not kept), so that what the thief's
removal of Z replaced cannot be rebuilt there.

At its next sync device 3 takes back the six decisions: Carol is `full`
again (device 1's pin, applied again whole), anchor X is back at 90, Y and
the pin of Dave are gone, Erin has device 3's own pin and no conflict,
anchor Z is named for the person to decide again, and device 3 is back at
the cut in device 2's log. The person's own decision made on device 3 before
that sync (Y kept, at 30) is not lost to the take-back and reaches device 1.
It says so once; device 1 shows the same."""
import json
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import (correspondents, devices_of_one_profile, openssl_ca_and_mail_certificate,  # noqa: E402
                          trust_level)
from records_tool import merged_position  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def anchors(device):
    """Fingerprint -> amount of a device's trust anchors."""
    return {anchor["fingerprint"]: anchor["amount"] for anchor in device.json("trust", "anchor", "list")["anchors"]}


def conflicts(device):
    return [conflict["subject"] for conflict in device.json("status")["trust_sync"]["conflicts"]]


def forget_changes(device, fingerprint):
    """The decisions about the anchor `fingerprint` (any UDF presentation of it) in a device's store as mailseal
    before schema 13 noted them, without their changes: the subjects changed."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        subjects = [row[0] for row in db.execute("SELECT DISTINCT address FROM record_decisions WHERE address LIKE ?",
                                                 ("anchor:" + fingerprint + "%",))]
        db.execute("UPDATE record_decisions SET changes = NULL WHERE address LIKE ?", ("anchor:" + fingerprint + "%",))
    return subjects


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("carol", "dave", "erin"), (one, two, three))
    cas = {}
    for name, address in (("x", "xavier@example.net"), ("y", "yolanda@example.net"), ("z", "zora@example.net")):
        ca, mail = openssl_ca_and_mail_certificate(work, address, name)
        for device in (one, two, three):
            device.must("contact", "import", mail)
        cas[name] = ca
    one.must("contact", "pin", "carol@example.org", people["carol"])
    one.must("trust", "anchor", "add", cas["x"], "--amount", "90")
    one.must("trust", "anchor", "add", cas["z"], "--amount", "60")
    for device in (one, two, three, one):
        device.must("sync")
    fingerprints = {amount: fingerprint for fingerprint, amount in anchors(three).items()}
    x, z = fingerprints.get(90), fingerprints.get(60)
    check(trust_level(three, "carol@example.org") == "full" and x and z,
          "device 3 has device 1's pin of Carol and its anchors X (90) and Z (60)", anchors(three))

    two_id = two.device_id()
    cut = merged_position(one, two_id)
    three.must("contact", "pin", "erin@example.org", people["erin"])  # not yet synced: device 2 does not know it
    two.must("contact", "unpin", "carol@example.org")
    two.must("trust", "anchor", "remove", x)
    two.must("trust", "anchor", "remove", z)
    two.must("trust", "anchor", "add", cas["y"], "--amount", "120")
    two.must("contact", "pin", "dave@example.org", people["dave"])
    two.must("contact", "pin", "erin@example.org", people["erin"])
    two.must("contact", "unpin", "erin@example.org")
    two.must("sync")
    three.must("sync")
    y = next((fingerprint for fingerprint, amount in anchors(three).items() if amount == 120), None)
    check(trust_level(three, "carol@example.org") != "full" and set(anchors(three)) == {y}
          and trust_level(three, "dave@example.org") == "full" and conflicts(three) == ["erin@example.org"],
          "device 3 merged device 2's record: Carol unpinned, X and Z gone, Y at 120, Dave pinned, Erin in conflict",
          (anchors(three), conflicts(three)))

    withheld = service.rows("SELECT account, device_id, seq, sealed, created_at FROM trust_records "
                            "WHERE device_id = ? AND seq > ? ORDER BY seq", (two_id, cut))
    check(len(withheld) == 1, "device 2's decisions are in one record after what device 1 merged", len(withheld))
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq > ?", (two_id, cut))
    removal = one.json("device", "remove", two_id)
    for row in withheld:
        service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) "
                      "VALUES (?, ?, ?, ?, ?)", row)
    check(removal.get("cut") == cut, "device 2 is removed with a cut before its record", (removal, cut))
    one.must("sync")

    # The person, on device 3, keeps the thief's anchor Y but at 30 (not yet synced when the take-back runs).
    three.must("trust", "anchor", "add", cas["y"], "--amount", "30")
    forgotten = forget_changes(three, z)
    check(len(forgotten) == 1, "device 3's decisions of anchor Z keep no changes", forgotten)
    past = three.run("--json", "sync")
    report = json.loads(past.stdout or b"{}").get("records", {})
    check(past.returncode == 0 and report.get("past_cut") == [
          {"removed": two_id, "cut": cut, "merged": cut + 1, "other_fork": False, "fork_from": 0, "taken_back": 6,
           "decide_again": forgotten}],
          "device 3 takes back the six decisions of device 2's record past the cut, naming anchor Z", report)
    check(trust_level(three, "carol@example.org") == "full",
          "device 3: Carol is 'full' again (device 1's pin, applied again)")
    check(anchors(three) == {x: 90, y: 30},
          "device 3: anchor X is back at 90, Y at the person's 30 (decided here, not the thief's), Z is left to the "
          "person", anchors(three))
    check(trust_level(three, "dave@example.org") != "full", "device 3: device 2's pin of Dave is gone")
    check(trust_level(three, "erin@example.org") == "full" and conflicts(three) == [],
          "device 3: Erin has device 3's own pin, and the conflict with device 2's unpin is gone", conflicts(three))
    check(merged_position(three, two_id) == cut, "device 3 is back at the cut in device 2's log",
          merged_position(three, two_id))

    again = three.run("sync")
    check(report.get("refused") == 1 and report.get("refused_new") == 1,
          "device 3 refuses device 2's record past the cut, and warns of it", report)
    check(again.returncode == 0 and f"removed device {two_id}".encode() not in again.stderr
          and b"of removed devices refused" not in again.stderr
          and trust_level(three, "dave@example.org") != "full" and anchors(three) == {x: 90, y: 30},
          "once: the next sync says nothing more and merges nothing of it again", again.stderr.decode())
    one.must("sync")
    check(trust_level(one, "carol@example.org") == "full" and trust_level(one, "dave@example.org") != "full"
          and anchors(one) == {x: 90, y: 30, z: 60} and trust_level(one, "erin@example.org") == "full",
          "device 1 shows the same, Y at 30 included, Z aside (it never merged device 2's removal of it)",
          anchors(one))
    text = three.run("sync")
    check(text.returncode == 0, "device 3 syncs on", text.stderr.decode())
finish(minimum=14)
