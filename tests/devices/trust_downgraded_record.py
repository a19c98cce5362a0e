#!/usr/bin/env python3
"""A stolen device that goes back to records without proofs is charged for
it (docs/service.md, "Frontier proofs", downgrade). Three devices of one
profile; device 2 is stolen: after its records of version 2 the thief makes
one of version 1 by hand (tests/tools/records_tool.py), correctly signed and
sealed, whose frontier names record 1000000 of device 3 without a proof, and
lets device 2's own `sync` send it: a record of version 1 would have kept
the old warning that cannot tell the writer from the service.

Device 1 holds device 2's log back from that record, says device 2 is stolen
or compromised and to remove it, and still merges device 3's decisions."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import three_devices_bob_pinned_on_two  # noqa: E402
from records_tool import DeviceLog  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

FAR = 1000000

lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three, people = three_devices_bob_pinned_on_two(work, service.url, syncs=(1, 0, 2, 0, 1))
    two_id, three_id = two.device_id(), three.device_id()

    thief = DeviceLog(two.home)
    last = thief.open(thief.own_records()[-1][0])
    check(last["version"] == 2, "device 2 writes records of version 2", last)
    old = thief.next_record(lamport=last["lamport"] + 1, version=1,
                            frontier=dict(last["frontier"], **{three_id: FAR}))
    old.pop("proofs", None)
    thief.append(thief.seal(old), old)
    check(two.json("sync")["records"]["uploaded"] == 1, "device 2's sync sends the record of version 1")

    three.must("contact", "pin", "carol@example.org", people["carol"])
    three.must("sync")
    synced = one.run("--json", "sync")
    report = json.loads(synced.stdout or b"{}").get("records", {})
    held = report.get("overreaching", [])
    check(synced.returncode == 0 and len(held) == 1 and held[0]["writer"] == two_id
          and held[0].get("verdict") == "downgraded" and held[0]["seq"] == old["seq"],
          "device 1 holds device 2's log back from the record of version 1, charging device 2", report)
    check(one.json("trust", "carol@example.org")["level"] == "full", "device 1 still takes device 3's pin of Carol")
    again = one.run("sync")
    warning = again.stderr.decode()
    check(again.returncode == 0 and f"mailseal device remove {two_id}" in warning
          and "nothing here can tell which" not in warning,
          "the warning says device 2 is stolen or compromised and to remove it", warning)

finish(minimum=5)
