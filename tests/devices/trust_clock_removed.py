#!/usr/bin/env python3
"""The trust records' clock where a named record is a removed device's
(docs/service.md, "Trust records"; review of issue 14, findings 3 and 4).

Device 1 is the admin; W (stolen), R, D1 and D2 are full devices. R pins Bob;
W and D1 merge R's record (D1 knows its time exactly), D2 does not. The
admin removes R. W pins Carol (its record names R's last record, which D2
never merged: the service no longer serves a removed device's records to it)
and the thief re-signs that record with another time:
- the end of the clock's range (2^40-1): both D1 and D2 hold it back, naming W
  (D2 once bounded R's unseen record by the highest time it knew, the
  record's own claimed time included, and merged it: its stored clock then
  sat at the end of the range);
- one more than the rule says: D1 and D2 judge it alike (a removed device's
  record is bounded the same way on every device, whatever it merged of it),
  so they reach one state, before and after W is removed."""
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile  # noqa: E402
from records_tool import DeviceLog  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

END_OF_CLOCK = 2 ** 40 - 1


def scenario(lamport_of):
    """Runs the setup above, W's record re-signed with lamport_of(its time): the two syncs' results, the
    devices and W's id."""
    lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
    with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
        url = service.url
        admin, writer, removed, d1, d2 = devices_of_one_profile(work, url, roles=("full",) * 4)
        for device in (admin, writer, removed, d1, d2):
            device.must("sync")
        people = correspondents(work, url, ["bob", "carol"], devices=(writer, removed, d1, d2))
        for device in (writer, removed, d1, d2):
            device.must("sync")
        removed.must("contact", "pin", "bob@example.org", people["bob"])
        removed.must("sync")
        writer.must("sync")
        d1.must("sync")
        admin.must("sync")
        admin.must("device", "remove", removed.device_id())
        writer.must("contact", "pin", "carol@example.org", people["carol"])
        writer.must("sync")
        log = DeviceLog(writer.home)
        seq, _ = log.own_records()[-1]
        record = dict(log.open(seq))
        record["lamport"] = lamport_of(record["lamport"])
        service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (writer.device_id(), seq))
        log.drop_last()
        log.append(log.seal(record), record)
        writer.must("sync")
        first, second = d1.run("sync"), d2.run("sync")
        levels = [device.json("trust", "carol@example.org")["level"] for device in (d1, d2)]
        with sqlite3.connect(os.path.join(d2.home, "mailseal.db")) as db:
            top = db.execute("SELECT MAX(lamport) FROM record_positions").fetchone()[0]
        admin.must("device", "remove", writer.device_id())
        after = [device.run("sync").returncode for device in (d1, d2)]
        levels_after = [device.json("trust", "carol@example.org")["level"] for device in (d1, d2)]
        return first, second, levels, top, after, levels_after, writer.device_id().encode()


first, second, levels, top, after, levels_after, writer_id = scenario(lambda _: END_OF_CLOCK)
check(first.returncode == 0 and second.returncode == 0 and b"breaks the trust records' clock" in first.stderr
      and b"breaks the trust records' clock" in second.stderr and writer_id in second.stderr
      and levels[0] == levels[1] and levels[0] != "full",
      "a record at the end of the clock naming a removed device's record: both devices hold it back, naming the "
      "writer",
      (first.stderr + second.stderr).decode())
check(top < 1000, "the device that never merged the removed device's record stored no time at the end of the clock",
      top)
check(after == [0, 0] and levels_after[0] == levels_after[1], "once the writer is removed both merge alike",
      levels_after)

first, second, levels, top, after, levels_after, writer_id = scenario(lambda time: time + 1)
check(first.returncode == second.returncode and levels[0] == levels[1],
      "a record one step past the rule naming a removed device's record: both devices judge it alike",
      (levels, first.stderr.decode(), second.stderr.decode()))
check(after == [0, 0] and levels_after[0] == levels_after[1], "and hold the same state after the writer is removed",
      levels_after)

finish(minimum=5)
