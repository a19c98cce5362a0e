#!/usr/bin/env python3
"""A key id the key service replaced (docs/service.md, "A key id this device
does not hold"; review of b30d091, G2). Three devices of one profile. The
service rewrites the key id at the front of one sealed record of device 1
to 16 random bytes. Before the fix device 2 took the record as sealed under
a records key it had not received yet: it waited on every sync, with a note
and no warning, and device 1's trust records were frozen for everyone.

Device 1's next record, which opens under a key device 2 holds, names the
SHA-256 of the record before it as device 1 sealed it, under device 1's
signature: the rewritten record is not that one. So device 2 holds device
1's log back as `unopened` (device 1 or the service made it so), warns, and
merges device 3's records meanwhile; served the right bytes again, it merges
device 1's records. A record that device 1 really sealed under a records key
device 2 never received (crafted here with a key of the test's own) still
only waits: its successor follows it, so nothing is held and nothing warns.
The records after the waiting one are judged as in their turn (review i14i,
finding 1): one altered is held back, one dropped fails the sync."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile, trust_level  # noqa: E402
from records_tool import KEY_ID_BYTES, DeviceLog, held_back, merged_position  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("bob", "carol", "dave", "erin", "frank"), (one, two, three))
    one.must("contact", "pin", "bob@example.org", people["bob"])
    for device in (one, two, three, one, two):
        device.must("sync")
    one_id = one.device_id()
    merged_before = merged_position(two, one_id)

    def stored(seq):
        return bytes(service.rows("SELECT sealed FROM trust_records WHERE device_id = ? AND seq = ?",
                                  (one_id, seq))[0][0])

    def serve(seq, sealed):
        service.write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (sealed, one_id, seq))

    # Device 1 writes two records: Carol's pin (A), then Dave's (B).
    one.must("contact", "pin", "carol@example.org", people["carol"])
    one.must("sync")
    replaced = DeviceLog(one.home).own_records()[-1][0]
    one.must("contact", "pin", "dave@example.org", people["dave"])
    one.must("sync")
    check(replaced == merged_before + 1, "device 2 has merged device 1's records before A")

    # The service replaces A's key id; device 3 decides meanwhile.
    original = stored(replaced)
    serve(replaced, os.urandom(KEY_ID_BYTES) + original[KEY_ID_BYTES:])
    three.must("contact", "pin", "erin@example.org", people["erin"])
    three.must("sync")

    synced = two.run("--json", "sync")
    check(synced.returncode == 0, "device 2's sync works despite the replaced key id", synced.stderr.decode())
    report = json.loads(synced.stdout or b"{}").get("records", {})
    by_one = held_back(report, one_id)
    check(len(by_one) == 1 and by_one[0]["verdict"] == "unopened" and by_one[0]["seq"] == replaced
          and "key id was replaced" in by_one[0]["problem"] and by_one[0]["waiting"] == 2,
          "device 2 holds device 1's log back from A as unopened, saying its key id was replaced", report)
    check(merged_position(two, one_id) == merged_before and trust_level(two, "carol@example.org") != "full"
          and trust_level(two, "dave@example.org") != "full", "nothing of device 1's records A and B was merged")
    check(trust_level(two, "erin@example.org") == "full", "device 2 merges device 3's pin of Erin meanwhile")

    again = two.run("sync")
    warning = again.stderr.decode()
    check(again.returncode == 0 and f"trust record {replaced} of device {one_id} cannot be merged" in warning
          and "key id was replaced" in warning and "key service altered it" in warning
          and "wait for a key bundle" not in warning,
          "the next sync warns, naming device 1, the record and the key service", warning)

    serve(replaced, original)
    restored = two.json("sync")["records"]
    check(not held_back(restored, one_id) and merged_position(two, one_id) == replaced + 1
          and trust_level(two, "carol@example.org") == "full" and trust_level(two, "dave@example.org") == "full",
          "served the right bytes again, device 2 merges device 1's records", restored)

    bob_pinned = [True]

    def write_records(count):
        """Device 1 writes and uploads `count` records (Bob unpinned and pinned in turn): their numbers."""
        first = DeviceLog(one.home).own_records()[-1][0] + 1
        for _ in range(count):
            one.must("contact", "unpin" if bob_pinned[0] else "pin", "bob@example.org", people["bob"])
            bob_pinned[0] = not bob_pinned[0]
            one.must("sync")  # a record a sync
        written = [seq for seq, _ in DeviceLog(one.home).own_records() if seq >= first]
        check(written == list(range(first, first + count)), f"device 1 wrote {count} records", written)
        return written

    # Review i14i, finding 1: the records after the waiting one are judged as they would be in their turn.
    # A's key id replaced and B altered (C follows B as device 1 wrote it): held back from B, not a silent wait.
    a, b, c = write_records(3)
    originals = {seq: stored(seq) for seq in (a, b)}
    serve(a, os.urandom(KEY_ID_BYTES) + originals[a][KEY_ID_BYTES:])
    altered = bytearray(originals[b])
    altered[-5] ^= 1
    serve(b, bytes(altered))
    both = two.run("--json", "sync")
    report = json.loads(both.stdout or b"{}").get("records", {})
    by_one = held_back(report, one_id)
    check(both.returncode == 0 and len(by_one) == 1 and by_one[0]["verdict"] == "unopened" and by_one[0]["seq"] == b
          and by_one[0]["waiting"] == 3 and report.get("deferred") == 0,
          "a replaced key id followed by an altered record: device 1's log held back from the altered one, no wait",
          report)
    for seq, sealed in originals.items():
        serve(seq, sealed)
    check(not held_back(two.json("sync")["records"], one_id) and merged_position(two, one_id) == c,
          "served the right bytes again, device 2 merges them")

    # A's key id replaced and B dropped, C served: the gap fails the sync as it would in its turn.
    a, b, c = write_records(3)
    row = service.rows("SELECT account, device_id, seq, sealed, created_at FROM trust_records "
                       "WHERE device_id = ? AND seq = ?", (one_id, b))[0]
    original_a = stored(a)
    serve(a, os.urandom(KEY_ID_BYTES) + original_a[KEY_ID_BYTES:])
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (one_id, b))
    gap = two.run("sync")
    check(gap.returncode != 0 and "dropped or reordered" in gap.stderr.decode()
          and merged_position(two, one_id) == a - 1,
          "a replaced key id followed by a dropped record: the sync refuses, saying records were dropped",
          gap.stderr.decode())
    service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) VALUES (?, ?, ?, ?, ?)",
                  tuple(row))
    serve(a, original_a)
    check(two.run("sync").returncode == 0 and merged_position(two, one_id) == c,
          "served the right bytes again, device 2 merges them")

    # A record device 1 really sealed under a records key device 2 never received, and its next record.
    log = DeviceLog(one.home)
    unknown = os.urandom(KEY_ID_BYTES).hex()
    log.keys[unknown], log.current = os.urandom(32), unknown
    last = log.open(log.own_records()[-1][0])
    genuine = log.next_record(lamport=last["lamport"] + 1)
    log.append(log.seal(genuine), genuine)
    one.must("contact", "pin", "frank@example.org", people["frank"])
    check(one.json("sync")["records"]["uploaded"] == 2, "device 1 sends the record and the next one")
    waits = two.run("--json", "sync")
    report = json.loads(waits.stdout or b"{}").get("records", {})
    check(waits.returncode == 0 and not held_back(report, one_id) and report.get("deferred") == 2
          and "warning" not in waits.stderr.decode() and merged_position(two, one_id) == genuine["seq"] - 1,
          "a record sealed under a key device 2 has not received only waits, with its successor: no warning",
          (report, waits.stderr.decode()))
finish(minimum=14)
