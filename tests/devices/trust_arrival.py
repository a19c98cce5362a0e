#!/usr/bin/env python3
"""A removal that reaches a device before the pin it removes (docs/service.md,
"Trust records"), end to end against a real key service whose operator
holds records back (edits its SQLite file between syncs), with three devices
of one profile:

1. Device 1 pins Bob again while device 2, which made more records (its
   clock is ahead), unpins him without knowing it: the unpin is later in
   the order. The service gives device 3 the unpin first and the pin only
   on its next sync. Every device ends the same: the pin not applied, the
   two decisions a conflict.
2. Device 2 unpins Carol knowing device 1's pin of her; the service hides
   the pin from device 3: device 3 holds the unpin back (it names what the
   service does not serve; a warning names both the service and the
   writer, since either may lie) and merges nothing of it; once the service
   serves the pin, device 3 ends as devices 1 and 2 (Carol not pinned, no
   conflict)."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def state(device, address):
    """What a device holds about an address: its level, its pins, the decisions in conflict."""
    report = device.json("trust", address)
    pins = sorted(item.get("detail", item.get("kind")) for item in report["evidence"] if item["kind"] == "pin")
    conflicts = sorted(sorted([side["decision_a"], side["decision_b"]]) for side in report["decided_differently"])
    return report["level"], pins, conflicts


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    one, two, three = devices = devices_of_one_profile(work, url, ("full", "full"))
    people = correspondents(work, url, ("bob", "carol", "dave"), devices)
    one.must("contact", "pin", "bob@example.org", people["bob"])
    for device in (one, two, three, one):
        device.must("sync")
    check(all(state(device, "bob@example.org")[0] == "full" for device in devices), "Bob is pinned on every device")
    one_id = one.device_id()

    def hide_last_record(device_id):
        """The service holds back the device's last record (as if it had not arrived yet); a function that serves it."""
        row = service.rows("SELECT account, device_id, seq, sealed, created_at FROM trust_records WHERE device_id = ? "
                           "ORDER BY seq DESC LIMIT 1", (device_id,))[0]
        service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (device_id, row[2]))
        return lambda: service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) "
                                     "VALUES (?, ?, ?, ?, ?)", row)

    # 1. A removal later in the order arrives first.
    for _ in range(3):  # device 2's clock runs ahead of device 1's
        two.must("contact", "pin", "dave@example.org", people["dave"])
        two.must("sync")
        two.must("contact", "unpin", "dave@example.org")
        two.must("sync")
    one.must("contact", "unpin", "bob@example.org")
    one.must("contact", "pin", "bob@example.org", people["bob"])
    one.must("sync")  # written from what it had merged: it does not know device 2's last records
    serve_pin = hide_last_record(one_id)
    two.must("contact", "unpin", "bob@example.org")
    two.must("sync")  # the unpin does not know the pin either (device 1's record is held back)
    first = three.json("sync")["records"]
    check(first["merged"] >= 1, "device 3 merges device 2's unpin before device 1's pin reaches it", first)
    level, pins, _ = state(three, "bob@example.org")
    check(not pins, "device 3: the unpin is applied", (level, pins))
    serve_pin()
    for device in (three, one, two, three):
        device.must("sync")
    ends = [state(device, "bob@example.org") for device in devices]
    check(ends[0] == ends[1] == ends[2], "every device ends in the same state for Bob", ends)
    check(ends[0][0] == "conflict" and not ends[0][1] and len(ends[0][2]) == 1,
          "the pin arriving last is not applied, and the two decisions are a conflict", ends[0])

    # 2. A removal that knows the pin, served before it: refused until the pin comes.
    one.must("contact", "pin", "carol@example.org", people["carol"])
    one.must("sync")
    two.must("sync")
    two.must("contact", "unpin", "carol@example.org")
    two.must("sync")
    before = state(three, "carol@example.org")
    serve_pin = hide_last_record(one_id)
    refused = three.run("sync")
    check(refused.returncode == 0 and b"withheld" in refused.stderr and two.device_id().encode() in refused.stderr,
          "device 3 holds back the unpin that names the pin the service holds back, saying so",
          refused.stderr.decode())
    check(state(three, "carol@example.org") == before, "device 3 merged nothing")
    serve_pin()
    for device in (three, one, two):
        device.must("sync")
    ends = [state(device, "carol@example.org") for device in devices]
    check(ends[0] == ends[1] == ends[2] and ends[0][0] != "full" and not ends[0][1] and not ends[0][2],
          "every device ends with Carol not pinned and no conflict", ends)

finish(minimum=8)
