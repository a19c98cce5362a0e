#!/usr/bin/env python3
"""A removed device's records merged on one device and refused on another
(docs/security.md, "Known open problems", G6). Three devices of one profile.
Device 3 pins Carol and syncs; device 2 merges it; device 1 removes device 3
before it synced, so it refuses that record for good, and the two devices
differ about Carol. Nothing reconciles them yet; before, nothing reported it
either. Now device 2's next record names device 3's record in its frontier,
and device 1's sync warns that device 2 merged records of the removed device
3 that this device did not (`sync --json` `records.removed_differences`),
once: device 2's later records name the same record again and are merged
without the warning, and a device that joins later hears of it once too.
A device that merged as much or more says nothing.

This is what a removal by an older mailseal does, which names no cut
(docs/security.md, "The cut"): the removal's cut is taken out of device 1's
store and the service's escrow is emptied, so that device 1 publishes its
device list again without it, as an older mailseal would have."""
import json
import os
import shutil
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile, trust_level  # noqa: E402
from records_tool import merged_position  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("bob", "carol", "dave"), (one, two, three))
    for device in (one, two, three, one, two):
        device.must("sync")
    three_id = three.device_id()

    three.must("contact", "pin", "carol@example.org", people["carol"])
    three.must("sync")
    two.must("sync")
    theirs = merged_position(two, three_id)
    check(trust_level(two, "carol@example.org") == "full", "device 2 merges device 3's pin of Carol")

    ours = merged_position(one, three_id)
    one.must("device", "remove", three_id)
    with sqlite3.connect(os.path.join(one.home, "mailseal.db")) as db:
        db.execute("UPDATE devices SET removal_cut_seq = NULL, removal_cut_hash = NULL")
    service.write("UPDATE accounts SET escrow = NULL, escrow_id = NULL")
    check(ours < theirs, "device 1 had merged less of device 3's log when it removed it", (ours, theirs))
    quiet = one.json("sync")["records"]
    check(quiet["refused"] >= 1 and not quiet["removed_differences"] and trust_level(one, "carol@example.org") != "full",
          "device 1 refuses device 3's pin of Carol; nothing shows the difference yet", quiet)

    two.must("contact", "pin", "bob@example.org", people["bob"])
    two.must("sync")
    # The first report, read twice: as JSON on a copy of device 1, and as the CLI's warning on device 1.
    copy = Home.at(os.path.join(work, "device1-copy"))
    shutil.copytree(one.home, copy.home)
    synced = copy.run("--json", "sync")
    report = json.loads(synced.stdout or b"{}").get("records", {})
    expected = [{"removed": three_id, "other": two.device_id(), "theirs": theirs, "ours": ours}]
    check(synced.returncode == 0 and report.get("removed_differences") == expected
          and trust_level(copy, "bob@example.org") == "full",
          "device 1 merges device 2's record and reports what device 2 merged of device 3 and it did not", report)
    warned = one.run("sync")
    warning = warned.stderr.decode()
    check(warned.returncode == 0 and f"device {two.device_id()} merged the trust records of the removed device "
          f"{three_id} up to number {theirs}, this device only up to {ours}" in warning
          and "decide again" in warning,
          "the CLI warns, naming both devices, the records and what to do", warning)

    one.must("contact", "pin", "dave@example.org", people["dave"])
    one.must("sync")
    two_report = two.json("sync")["records"]
    check(trust_level(two, "dave@example.org") == "full" and not two_report["removed_differences"],
          "device 2, which merged more of device 3's log, reports nothing", two_report)

    # Every later record of device 2 names device 3 again: the difference, unchanged, is not warned of again.
    two.must("contact", "unpin", "bob@example.org", people["bob"])
    two.must("sync")
    again = one.run("--json", "sync")
    again_report = json.loads(again.stdout or b"{}").get("records", {})
    check(again.returncode == 0 and again_report.get("removed_differences") == []
          and trust_level(one, "bob@example.org") != "full",
          "the same difference is reported once: device 2's next record merges without the warning again",
          again_report)

    # A device that joins after the removal differs from device 2 as well (it merges none of device 3's
    # records): it hears of it once, not at every sync.
    four = Home(work, "device4")
    invite = one.json("device", "invite", "--role", "full")
    four.must("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"], "--wait", "0",
              "--name", four.name)
    one.must("sync")
    first = four.json("sync")["records"]
    two.must("contact", "pin", "bob@example.org", people["bob"])
    two.must("sync")
    later = four.json("sync")["records"]
    check([entry["other"] for entry in first["removed_differences"] + later["removed_differences"]].count(
          two.device_id()) == 1, "a device joined after the removal hears of device 2's difference once",
          (first, later))
finish(minimum=8)
