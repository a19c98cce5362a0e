#!/usr/bin/env python3
"""The trust records' clock (docs/service.md, "Trust records", the clock
rule), end to end against a real key service, with three devices of one
profile. Device 2 is stolen: the thief makes records by hand from its store
(tests/tools/records_tool.py: the records key, the device's own signature
key, AES-GCM from libcrypto; nothing of mailseal's), correctly signed and
sealed, and lets the device's own `sync` send them. A record whose time
keeps the rule is taken (so the tool makes records mailseal reads); one
one ahead of the rule, or equal to the time it names, is refused; one
whose time jumps to the end of the clock's range is refused by devices 1
and 3, saying which device and what to do, and moves no clock: they keep
writing records with small times; once device 2 is removed they merge
again, device 3 taking what device 1 wrote meanwhile."""
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
        refused = one.run("sync")
        message = refused.stderr.decode()
        check(refused.returncode != 0 and needle in message and f"it must be {honest['lamport'] + 1}" in message,
              f"device 1 refuses a time {what}, saying the time it must be", message)
        service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (two_id, wrong["seq"]))
        thief.drop_last()
    one.must("sync")

    # 3. One whose time jumps to the end of the range is refused.
    attack = thief.next_record(lamport=END_OF_CLOCK)
    thief.append(thief.seal(attack), attack)
    check(two.json("sync")["records"]["uploaded"] == 1, "the stolen device sends a record at the end of the clock")
    held = service.rows("SELECT MAX(seq) FROM trust_records WHERE device_id = ?", (two_id,))[0][0]
    check(held == attack["seq"], "the service holds it (it cannot read it)", held)
    for number, device in ((1, one), (3, three)):
        before = position_time(device, two_id)
        refused = device.run("sync")
        message = refused.stderr.decode()
        check(refused.returncode != 0 and f"record {attack['seq']} of device {two_id}" in message and
              "breaks the trust records' clock" in message and "jumps ahead" in message,
              f"device {number} refuses it, naming the device and the record", message)
        check(f"mailseal device remove {two_id}" in message, f"device {number} says to remove the device", message)
        check(position_time(device, two_id) == before and
              max(row[0] for row in local_rows(device, "SELECT lamport FROM record_positions")) < 1000,
              f"device {number}: no clock moved")

    # 4. The others keep writing, with small times.
    one.must("contact", "pin", "carol@example.org", people["carol"])
    again = one.run("--json", "sync")
    check(again.returncode != 0, "device 1's sync still refuses the stolen device's record")
    mine = DeviceLog(one.home)
    newest_seq, _ = mine.own_records()[-1]
    newest = mine.open(newest_seq)
    held = service.rows("SELECT MAX(seq) FROM trust_records WHERE device_id = ?", (one.device_id(),))[0][0]
    check(newest["changes"] and newest["lamport"] < 1000 and held == newest_seq,
          "device 1 wrote and sent its pin of Carol, at a small time", newest["lamport"])

    # 5. Device 2 removed: its record is refused quietly, the others merge again.
    one.must("device", "remove", two_id)
    report = one.json("sync")["records"]
    check(report["refused"] >= 1, "device 1: the removed device's record refused, the sync done", report)
    report = three.json("sync")["records"]
    check(report["refused"] >= 1 and report["merged"] >= 1, "device 3 merges again", report)
    check(level(three, "carol@example.org") == "full", "device 3 takes device 1's pin of Carol")
    three.must("contact", "unpin", "carol@example.org")
    three.must("sync")
    one.must("sync")
    check(level(one, "carol@example.org") != "full", "device 3 writes on: device 1 takes its unpin of Carol")

finish(minimum=23)
