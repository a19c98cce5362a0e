#!/usr/bin/env python3
"""A device signs two different trust records under one number
(docs/service.md, "Frontier proofs": equivocation). Three devices of one
profile; device 2 is in a thief's hands, who also runs the key service.
The thief signs record N (A) with device 2's key, and device 1 merges it;
then signs another record N (B), and the service serves B to device 3 alone,
which merges it and names it, with device 2's head statement as the proof,
in its own next record. The service then serves A again, so that device 1's
own check of device 2's log holds.

Only device 2's key makes its head statements, so device 1, holding A and
seeing a proof of B under the same number, must refuse the sync (nothing
merged), naming device 2 and saying to remove it. Once device 2 is removed
on device 1, device 3's record merges."""
import json
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import three_devices_bob_pinned_on_two  # noqa: E402
from records_tool import DeviceLog  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def positions(device):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return dict(db.execute("SELECT device_id, seq FROM record_positions").fetchall())


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three, people = three_devices_bob_pinned_on_two(work, service.url, syncs=(1, 0, 2, 0, 1))
    two_id, three_id = two.device_id(), three.device_id()

    # Record N, version A: sent by device 2's own sync, merged by device 1.
    thief = DeviceLog(two.home)
    last = thief.open(thief.own_records()[-1][0])
    first = thief.next_record(lamport=last["lamport"] + 1)
    sealed_a = thief.seal(first)
    thief.append(sealed_a, first)
    check(two.json("sync")["records"]["uploaded"] == 1, "device 2's sync sends record N (A)")
    one.must("sync")
    check(positions(one).get(two_id) == first["seq"], "device 1 merges record N (A)")

    # Version B of the same number, made by device 2's key, served to device 3 only.
    second = dict(first, made_at=first["made_at"] + 1)
    sealed_b = thief.seal(second)
    check(sealed_b != sealed_a, "the thief signs a second record under number N")
    service.write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?",
                  (sealed_b, two_id, first["seq"]))
    three.must("sync")
    check(positions(three).get(two_id) == first["seq"], "device 3 merges record N (B)")
    three.must("contact", "pin", "carol@example.org", people["carol"])
    three.must("sync")
    service.write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?",
                  (sealed_a, two_id, first["seq"]))

    before = positions(one)
    refused = one.run("sync")
    message = refused.stderr.decode()
    check(refused.returncode != 0 and f"device {two_id} signed two different trust records as number {first['seq']}"
          in message and f"record" in message and three_id in message,
          "device 1 refuses the sync, naming device 2 and the record of device 3 that proves the other one", message)
    check(f"mailseal device remove {two_id}" in message, "and says to remove device 2", message)
    check(positions(one) == before and one.json("trust", "carol@example.org")["level"] != "full",
          "nothing was merged", positions(one))

    one.must("device", "remove", two_id)
    after = one.run("--json", "sync")
    check(after.returncode == 0, "once device 2 is removed, device 1 syncs again", after.stderr.decode())
    check(one.json("trust", "carol@example.org")["level"] == "full", "and takes device 3's pin of Carol",
          json.loads(after.stdout or b"{}").get("records"))
finish(minimum=9)
