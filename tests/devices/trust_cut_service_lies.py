#!/usr/bin/env python3
"""A hostile key service alone, with no thief, against a device that merged
a removed device's log (docs/security.md, "Leaving another fork"; review of
185f5f2). Through tests/tools/relay_tool.py, in front of a real service:

1. below the cut, the service serves another record under the number this
   device merged last in its regular fetch (one the thief signed), and the
   genuine log when asked for the whole of it. That is the service serving
   two records under one number in one sync: the sync fails saying so, and
   nothing merged is taken back (device 1's log is left out too, so that a sync that took back could
   not merge again), in a store that keeps the records' hashes and in one from before
   they were kept (before, that store went back to the start of the log and
   took back the removed device's honest decisions, F1, and every store
   warned of a fork that was not there, F2). At the cut, with its hash,
   nothing more of that log is needed, and what is served under its number
   changes nothing (third review, N1);
2. below the cut, the service leaves the removed device's log out of its
   answers: the records the removal accepts are withheld, and the sync says
   so (before, nothing was said);
3. a store from before schema 13 (no record's hash) that merged the removed
   device's genuine records past the cut goes back to the cut, taking back
   only what was past it, and does not speak of another fork (F3)."""
import json
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import three_synced_devices, trust_level  # noqa: E402
from records_tool import DeviceLog, merged_position  # noqa: E402
from relay_tool import RecordsRelay  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

LIFTED = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]


def levels(device, names):
    return [trust_level(device, name + "@example.org") for name in names]


def forget(device, table, of):
    """A store's rows of `table` about device `of` (a store from before they were kept)."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        db.execute(f"DELETE FROM {table} WHERE device_id = ?", (of,))


def thief_record(home, seq, address, fingerprint):
    """Record `seq` of a device's log signed again with its first pin moved to `address`: another record under
    the same number, as a thief holding the device's key signs it."""
    log = DeviceLog(home)
    record = dict(log.open(seq))
    pin = next(change for change in record["changes"] if change["kind"] == "pin")
    return log.seal(dict(record, changes=[dict(pin, address=address, fingerprint=fingerprint)]))


def removed_one_record_past_device_3(work, url, names):
    """Device 2 pins Bob, device 3 merges that, device 2 pins Carol, and device 1 removes device 2 with the cut at
    that last record: device 3 is one record below the cut."""
    one, two, three, people = three_synced_devices(work, url, names)
    two.must("contact", "pin", "bob@example.org", people["bob"])
    two.must("sync")
    three.must("sync")
    two.must("contact", "pin", "carol@example.org", people["carol"])
    two.must("sync")
    one.must("sync")
    return one, two, three, people, one.json("device", "remove", two.device_id())["cut"]


def decisions_of(device, of):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return db.execute("SELECT address, seq FROM record_decisions WHERE device_id = ? ORDER BY address",
                          (of,)).fetchall()


# 1. Two records under one number in one sync, in a store with and without the records' hashes and times:
# below the cut (the sync fails), and at the cut (nothing more of that log is needed: the sync goes on).
for forgotten in (None, "record_hashes", "record_times"):
    with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=LIFTED) as service, \
            RecordsRelay(service.url) as relay:
        one, two, three, people, cut = removed_one_record_past_device_3(work, relay.url, ("bob", "carol", "dave"))
        two_id = two.device_id()
        kept = decisions_of(three, two_id)
        check(merged_position(three, two_id) == cut - 1 and levels(three, ("bob", "carol")) == ["full", "marginal"]
              and len(kept) == 1, "device 3 is one record below the cut, with device 2's pin of Bob", (cut, kept))
        if forgotten:
            forget(three, forgotten, two_id)
        # Another record the thief signed under that number; device 1's log left out too: a sync that took back
        # would then fail before merging again.
        relay.other_record = thief_record(two.home, cut - 1, "dave@example.org", people["dave"])
        relay.other_record_at_position, relay.hidden = two_id, one.device_id()
        lied = three.run("sync")
        relay.other_record_at_position, relay.hidden = None, None
        what = f" ({forgotten} not kept)" if forgotten else ""
        check(lied.returncode != 0 and relay.altered >= 1
              and f"served two different records as number {cut - 1} of device {two_id}".encode() in lied.stderr
              and b"another fork" not in lied.stderr,
              "the sync fails, naming the service's two records under one number" + what, lied.stderr.decode())
        check(merged_position(three, two_id) == cut - 1 and decisions_of(three, two_id) == kept
              and levels(three, ("bob", "dave")) == ["full", "marginal"],
              "nothing device 3 merged is taken back" + what, decisions_of(three, two_id))
        honest = three.run("sync")
        check(honest.returncode == 0 and f"device {two_id}".encode() not in honest.stderr
              and merged_position(three, two_id) == cut and levels(three, ("bob", "carol")) == ["full", "full"],
              "with the service honest again, device 3 merges up to the cut and is quiet about device 2" + what,
              honest.stderr.decode())
        relay.other_record = thief_record(two.home, cut, "dave@example.org", people["dave"])
        relay.other_record_at_position = two_id
        at_cut = three.run("sync")
        relay.other_record_at_position = None
        check(at_cut.returncode == 0 and f"device {two_id}".encode() not in at_cut.stderr
              and merged_position(three, two_id) == cut and levels(three, ("bob", "carol", "dave")) == [
                  "full", "full", "marginal"],
              "at the cut, another record served under its number changes nothing and fails nothing" + what,
              at_cut.stderr.decode())

# 2. The removed device's log left out while a device is below the cut.
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=LIFTED) as service, \
        RecordsRelay(service.url) as relay:
    one, two, three, people, cut = removed_one_record_past_device_3(work, relay.url, ("bob", "carol"))
    two_id = two.device_id()
    relay.hidden = two_id
    hidden = three.run("--json", "sync")
    report = json.loads(hidden.stdout or b"{}").get("records", {})
    check(hidden.returncode == 0 and report.get("unserved") == 1 and merged_position(three, two_id) == cut - 1
          and levels(three, ("bob", "carol")) == ["full", "marginal"],
          "device 3 says that the service withholds the record of device 2 the removal accepts", report)
    relay.hidden = None
    synced = three.run("sync")
    check(synced.returncode == 0 and merged_position(three, two_id) == cut
          and levels(three, ("bob", "carol")) == ["full", "full"],
          "served again, it merges up to the cut", synced.stderr.decode())

# 3. A store from before schema 13 that merged the removed device's genuine records past the cut.
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=LIFTED) as service:
    one, two, three, people = three_synced_devices(work, service.url, ("bob", "dave"))
    two_id = two.device_id()
    two.must("contact", "pin", "bob@example.org", people["bob"])
    two.must("sync")
    one.must("sync")
    cut = merged_position(one, two_id)
    two.must("contact", "pin", "dave@example.org", people["dave"])
    two.must("sync")
    three.must("sync")
    past = service.rows("SELECT account, device_id, seq, sealed, created_at FROM trust_records "
                        "WHERE device_id = ? AND seq > ?", (two_id, cut))
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq > ?", (two_id, cut))
    removal = one.json("device", "remove", two_id)
    for row in past:
        service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) "
                      "VALUES (?, ?, ?, ?, ?)", row)
    forget(three, "record_hashes", two_id)
    synced = three.run("--json", "sync")
    report = json.loads(synced.stdout or b"{}").get("records", {})
    check(synced.returncode == 0 and removal.get("cut") == cut and len(past) == 1 and report.get("past_cut") == [
          {"removed": two_id, "cut": cut, "merged": cut + 1, "other_fork": False, "fork_from": 0,
           "taken_back": 1, "decide_again": []}],
          "device 3, without the records' hashes, goes back to the cut: one decision taken back, no fork",
          (report, cut))
    check(levels(three, ("bob", "dave")) == ["full", "marginal"] and merged_position(three, two_id) == cut,
          "device 2's pin before the cut stays, the one past it is gone", merged_position(three, two_id))

finish(minimum=16)
