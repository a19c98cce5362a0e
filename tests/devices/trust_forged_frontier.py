#!/usr/bin/env python3
"""A stolen, still active device names another device's record that does not
exist (docs/service.md, "Trust records"; review of issue 14, second round,
F4). Three devices of one profile; device 2 is stolen: the thief makes a
record by hand from its store (tests/tools/records_tool.py), correctly
signed and sealed, whose frontier says it merged record 1000000 of device 3,
and lets device 2's own `sync` send it. The key service holds device 3's
records only up to a small number, so either the writer or the service lies.
The frontier entry carries no signature of device 3 over record 1000000
(docs/service.md, "Frontier proofs"; only device 3's key could make one), so
the writer forged it, for sure.

Before the first fix every sync of device 1 failed, merging nothing of any
device and blaming the key service; before the proofs, the warning could not
tell the writer from the service. Now device 2's log waits from that record,
device 1 still merges device 3's decisions, and the warning says device 2
forged it and tells the person to remove it; once it is removed, device 1's
sync is quiet again. A second profile: device 2 names a record of device 1
that device 1 never wrote; device 1 knows its own log and charges device 2
(review of e393575, F3: it waited silently, for good)."""
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
    url = service.url
    one, two, three, people = three_devices_bob_pinned_on_two(work, url, syncs=(1, 0, 2, 0, 1))
    two_id, three_id = two.device_id(), three.device_id()

    # The thief's record: one past device 2's last, naming record FAR of device 3.
    thief = DeviceLog(two.home)
    last = thief.open(thief.own_records()[-1][0])
    forged = thief.next_record(lamport=last["lamport"] + 1, frontier=dict(last["frontier"], **{three_id: FAR}))
    thief.append(thief.seal(forged), forged)
    check(two.json("sync")["records"]["uploaded"] == 1, "device 2's sync sends the forged record")

    # Device 3 decides something; device 1 must still take it.
    three.must("contact", "pin", "carol@example.org", people["carol"])
    three.must("sync")
    synced = one.run("--json", "sync")
    check(synced.returncode == 0, "device 1's sync works despite the forged frontier", synced.stderr.decode())
    report = json.loads(synced.stdout or b"{}").get("records", {})
    overreaching = report.get("overreaching", [])
    check(len(overreaching) == 1 and overreaching[0]["writer"] == two_id and overreaching[0]["named"] == three_id
          and overreaching[0]["named_seq"] == FAR and overreaching[0]["waiting"] == 1
          and overreaching[0].get("verdict") == "forged",
          "device 1 holds device 2's record back, charging device 2 (forged) and naming device 3", report)
    check(one.json("trust", "carol@example.org")["level"] == "full", "device 1 takes device 3's pin of Carol")
    again = one.run("sync")
    warning = again.stderr.decode()
    check(again.returncode == 0 and f"mailseal device remove {two_id}" in warning and "misbehaved" not in warning
          and f"device {two_id} forged it" in warning and "nothing here can tell which" not in warning
          and "not to be trusted" not in warning,
          "the next sync warns that device 2 forged the record and to remove it, without doubting the service",
          warning)

    # The person removes the stolen device on the admin device (device 1).
    one.must("device", "remove", two_id)
    quiet = one.run("--json", "sync")
    check(quiet.returncode == 0 and not json.loads(quiet.stdout)["records"]["overreaching"],
          "once device 2 is removed, device 1's sync no longer holds anything back for it", quiet.stderr.decode())
    three.must("sync")
    check(three.json("trust", "carol@example.org")["level"] == "full", "device 3 keeps its own pin of Carol")


# Device 2 names a record of device 1 that device 1 never wrote, early in the profile's life (device 1 then knows no
# proof of its own records from the others' records). Device 1 knows its own log, so it says device 2 forged the
# entry (review of e393575, F3: it waited silently, for good; device 3 said "forged").
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three, people = three_devices_bob_pinned_on_two(work, service.url)
    one.must("sync")
    one_id, two_id = one.device_id(), two.device_id()
    thief = DeviceLog(two.home)
    last = thief.open(thief.own_records()[-1][0])
    naming = thief.next_record(lamport=last["lamport"] + 1, frontier=dict(last["frontier"], **{one_id: FAR}))
    thief.append(thief.seal(naming), naming)
    two.must("sync")
    synced = one.run("--json", "sync")
    report = json.loads(synced.stdout or b"{}").get("records", {})
    held = [(entry["writer"], entry["named"], entry["named_seq"], entry["verdict"])
            for entry in report.get("overreaching", [])]
    check(synced.returncode == 0 and held == [(two_id, one_id, FAR, "forged")] and report["deferred"] == 0,
          "device 1 holds back a record naming a record of its own it never wrote, charging its writer", report)
    warned = one.run("sync").stderr.decode()
    check(f"device {two_id} forged it" in warned and f"mailseal device remove {two_id}" in warned,
          "and says so, with what to do", warned)

finish(minimum=9)
