#!/usr/bin/env python3
"""The trust records' clock (docs/service.md, "Trust records", the clock
rule), end to end against a real key service, with three devices of one
profile. Device 2 is stolen: the thief makes records by hand from its store
(tests/tools/records_tool.py: the records key, the device's own signature
key, AES-GCM from libcrypto; nothing of mailseal's), correctly signed and
sealed, and lets the device's own `sync` send them. A record whose time
keeps the rule is taken (so the tool makes records mailseal reads); one
one ahead of the rule, or equal to the time it names, is held back; one
whose time jumps to the end of the clock's range is held back by devices 1
and 3, saying which device and what to do, and moves no clock, while their
syncs go on: they keep writing records with small times and merge each
other's; once device 2 is removed its records are refused quietly."""
import base64
import hashlib
import json
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import three_devices_bob_pinned_on_two  # noqa: E402
from records_tool import DeviceLog, canonical, head_statement  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

END_OF_CLOCK = 2 ** 40 - 1


def local_rows(device, sql, parameters=()):
    connection = sqlite3.connect(os.path.join(device.home, "mailseal.db"))
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def position_time(device, of):
    rows = local_rows(device, "SELECT lamport FROM record_positions WHERE device_id = ?", (of,))
    return rows[0][0] if rows else 0


def level(device, address):
    return device.json("trust", address)["level"]


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    one, two, three, people = three_devices_bob_pinned_on_two(work, url)
    check(level(three, "bob@example.org") == "full", "device 3 takes device 2's pin of Bob")
    two_id = two.device_id()

    # The thief's tool reads what mailseal wrote.
    thief = DeviceLog(two.home)
    last_seq, _ = thief.own_records()[-1]
    last = thief.open(last_seq)
    check(last["device"] == two_id and last["lamport"] == position_time(two, two_id),
          "the tool opens device 2's last record: its time is the one device 2 keeps", last)

    def naming_held_record(held, verdict):
        """Device 3's key (stolen too) signs a record naming device 2's held one, with device 2's proof and the
        time that record claims: device 1 must not take that time from a record it holds back, so device 3's
        record waits (whichever device the clock rule judges first) and device 1 warns about device 2 alone."""
        accomplice = DeviceLog(three.home)
        previous = accomplice.open(accomplice.own_records()[-1][0])
        held_json = canonical(held)
        proof = {"digest": hashlib.sha256(held_json).hexdigest(),
                 "signature": base64.b64encode(thief.sign(
                     head_statement(thief.profile, two_id, held["seq"], held_json))).decode()}
        naming = accomplice.next_record(lamport=held["lamport"] + 1,
                                        frontier=dict(previous["frontier"], **{two_id: held["seq"]}),
                                        proofs=dict(previous.get("proofs", {}), **{two_id: proof}))
        accomplice.append(accomplice.seal(naming), naming)
        three.must("sync")
        before = position_time(one, three.device_id())
        report = one.json("sync")["records"]
        check([(entry["writer"], entry["verdict"]) for entry in report["overreaching"]] == [(two_id, verdict)]
              and report["deferred"] >= 1 and position_time(one, three.device_id()) == before,
              f"a record naming one held back as '{verdict}' waits, taking no time from it", report)
        service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (three.device_id(), naming["seq"]))
        accomplice.drop_last()

    # 1. A hand-made record whose time keeps the rule is taken.
    honest = thief.next_record(lamport=last["lamport"] + 1)
    thief.append(thief.seal(honest), honest)
    sent = two.json("sync")["records"]
    check(sent["uploaded"] == 1, "device 2's sync sends the hand-made record", sent)
    for number, device in ((1, one), (3, three)):
        merged = device.run("--json", "sync")
        check(merged.returncode == 0, f"device {number} takes a hand-made record that keeps the rule",
              merged.stderr.decode())
        check(position_time(device, two_id) == honest["lamport"], f"device {number} holds its time")

    # 2. Times one ahead of the rule, and equal to the time it names, are refused (then taken back by hand).
    for what, lamport, needle in (("one ahead", honest["lamport"] + 2, "jumps ahead"),
                                  ("equal to its previous one", honest["lamport"], "is not after")):
        wrong = thief.next_record(lamport=lamport)
        thief.append(thief.seal(wrong), wrong)
        two.must("sync")
        held_back = one.run("sync")
        message = held_back.stderr.decode()
        check(held_back.returncode == 0 and needle in message and f"it must be {honest['lamport'] + 1}" in message,
              f"device 1 holds back a time {what}, saying the time it must be, and syncs on", message)
        check(position_time(one, two_id) == honest["lamport"], f"device 1 did not merge the time {what}")
        if what == "one ahead":
            naming_held_record(wrong, "clock")
        service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (two_id, wrong["seq"]))
        thief.drop_last()
    one.must("sync")

    # A record held back for another reason (a forged frontier entry) gives no time either (review of e393575, F1:
    # device 1 took the end of the clock from it through device 3's record, and could write no more).
    forged = thief.next_record(lamport=END_OF_CLOCK,
                               frontier=dict(honest["frontier"], **{three.device_id(): 1000000}))
    thief.append(thief.seal(forged), forged)
    two.must("sync")
    naming_held_record(forged, "forged")
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (two_id, forged["seq"]))
    thief.drop_last()
    one.must("contact", "pin", "carol@example.org", people["carol"])
    one.must("sync")
    check(DeviceLog(one.home).open(DeviceLog(one.home).own_records()[-1][0])["lamport"] < 1000,
          "device 1 still writes at a small time")
    one.must("contact", "unpin", "carol@example.org")
    one.must("sync")

    # 3. One whose time jumps to the end of the range is held back.
    attack = thief.next_record(lamport=END_OF_CLOCK)
    thief.append(thief.seal(attack), attack)
    check(two.json("sync")["records"]["uploaded"] == 1, "the stolen device sends a record at the end of the clock")
    held = service.rows("SELECT MAX(seq) FROM trust_records WHERE device_id = ?", (two_id,))[0][0]
    check(held == attack["seq"], "the service holds it (it cannot read it)", held)
    for number, device in ((1, one), (3, three)):
        before = position_time(device, two_id)
        synced = device.run("sync")
        message = synced.stderr.decode()
        check(synced.returncode == 0 and f"record {attack['seq']} of device {two_id}" in message and
              "breaks the trust records' clock" in message and "jumps ahead" in message,
              f"device {number} holds it back, naming the device and the record", message)
        verdicts = [(entry["writer"], entry["seq"], entry["verdict"], "jumps ahead" in entry["problem"])
                    for entry in device.json("sync")["records"]["overreaching"]]
        check(verdicts == [(two_id, attack["seq"], "clock", True)], f"device {number}: --json says so", verdicts)
        check(f"mailseal device remove {two_id}" in message, f"device {number} says to remove the device", message)
        check(position_time(device, two_id) == before and
              max(row[0] for row in local_rows(device, "SELECT lamport FROM record_positions")) < 1000,
              f"device {number}: no clock moved")

    # 4. The others keep writing, with small times, and merge each other's records.
    one.must("contact", "pin", "carol@example.org", people["carol"])
    again = one.run("sync")
    check(again.returncode == 0 and b"breaks the trust records' clock" in again.stderr,
          "device 1's sync still holds back the stolen device's record, and says so again", again.stderr.decode())
    mine = DeviceLog(one.home)
    newest_seq, _ = mine.own_records()[-1]
    newest = mine.open(newest_seq)
    held = service.rows("SELECT MAX(seq) FROM trust_records WHERE device_id = ?", (one.device_id(),))[0][0]
    check(newest["changes"] and newest["lamport"] < 1000 and held == newest_seq,
          "device 1 wrote and sent its pin of Carol, at a small time", newest["lamport"])

    synced = three.run("--json", "sync")
    check(synced.returncode == 0 and json.loads(synced.stdout)["records"]["merged"] >= 1,
          "device 3 merges device 1's record while the stolen device's waits", synced.stderr.decode())
    check(level(three, "carol@example.org") == "full", "device 3 takes device 1's pin of Carol before any removal")
    check(max(row[0] for row in local_rows(three, "SELECT lamport FROM record_positions")) < 1000,
          "device 3: still no clock moved")

    # 5. Device 2 removed: its record is refused quietly.
    one.must("device", "remove", two_id)
    for number, device in ((1, one), (3, three)):
        synced = device.run("--json", "sync")
        report = json.loads(synced.stdout)["records"]
        check(synced.returncode == 0 and report["refused"] >= 1 and not report["overreaching"] and
              b"breaks the trust records' clock" not in synced.stderr,
              f"device {number}: the removed device's record refused without a warning", report)
    three.must("contact", "unpin", "carol@example.org")
    three.must("sync")
    one.must("sync")
    check(level(one, "carol@example.org") != "full", "device 3 writes on: device 1 takes its unpin of Carol")

finish(minimum=32)
