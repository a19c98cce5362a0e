#!/usr/bin/env python3
"""The trust records' clock where a named record is an active device's older
record (docs/service.md, "The clock"; review of issue 14, finding 4).

Device 1 is the admin; W (stolen), R, D1 and D2 are full devices, and all
have merged everything. R looks Dave up, and its next record (R1, no
decision in it) has the highest time. W merges R1; the admin merges R1 and
pins Bob (A1, one later); R merges A1 and looks Erin up (R2, one later
again). D2 merges R1, A1 and R2, so R1 is an older record to it; D1 merges
nothing yet. W pins Carol (its record names R1) and the thief re-signs that
record with another time:
- the time the rule gives: D1 and D2 both take it (the tool makes records
  mailseal reads);
- one more than the rule says (the time D2 could only bound R1 by, before
  every merged record's time was kept): D1, which merges R1 in the same
  sync, and D2, which merged it before, both hold it back naming W (their
  syncs go on), and hold one state, before and after W is removed;
- the same, D2's store taken back to schema 8 (no table of the merged
  records' times) before: its first sync takes R1's time from the service,
  and it holds the record back as D1 does (R1 served altered meanwhile is
  refused, and no time kept);
- equal to R1's time: both hold it back."""
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


def carol_level(device):
    return device.json("trust", "carol@example.org")["level"]


def forget_times(device):
    """D2's store as mailseal before schema 9 left it: no table of every merged record's time (nor the later
    tables: schema 10's frontier proofs, schema 11's record waits, schema 12's removal cuts, schema 13's decisions' changes and records' hashes)."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        db.execute("ALTER TABLE record_decisions DROP COLUMN changes")
        db.execute("DROP TABLE record_hashes")
        db.execute("ALTER TABLE devices DROP COLUMN removal_cut_seq")
        db.execute("ALTER TABLE devices DROP COLUMN removal_cut_hash")
        db.execute("DROP TABLE record_waits")
        db.execute("DROP TABLE record_head_proofs")
        db.execute("DROP TABLE record_times")
        db.execute("PRAGMA user_version = 8")


def kept_time(device, of, seq):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        rows = db.execute("SELECT lamport FROM record_times WHERE device_id = ? AND seq = ?", (of, seq)).fetchall()
    return rows[0][0] if rows else None


def tampered_backfill(service, device, of, seq):
    """The service serves record `seq` of device `of` altered while `device` takes the times it lacks: that sync's
    result and the time it kept (the original is served again after)."""
    where = "WHERE device_id = ? AND seq = ?"
    original = bytes(service.rows("SELECT sealed FROM trust_records " + where, (of, seq))[0][0])
    altered = original[:-1] + bytes([original[-1] ^ 1])
    service.write("UPDATE trust_records SET sealed = ? " + where, (altered, of, seq))
    result = device.run("sync")
    kept = kept_time(device, of, seq)
    service.write("UPDATE trust_records SET sealed = ? " + where, (original, of, seq))
    return result, kept


def scenario(lamport_of, upgraded=False):
    """Runs the setup above, W's record re-signed with lamport_of(its time, R1's time), D2's store taken back to
    schema 8 when `upgraded`: what the test checks."""
    lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
    with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
        url = service.url
        admin, writer, active, d1, d2 = devices_of_one_profile(work, url, roles=("full",) * 4)
        everyone = (admin, writer, active, d1, d2)
        people = correspondents(work, url, ["bob", "carol"], devices=everyone)
        correspondents(work, url, ["dave", "erin"])
        for _ in range(2):
            for device in everyone:
                device.must("sync")
        active.must("lookup", "dave@example.org")
        active.must("sync")
        active_log = DeviceLog(active.home)
        older_seq, _ = active_log.own_records()[-1]
        older = active_log.open(older_seq)
        writer.must("sync")
        admin.must("sync")
        admin.must("contact", "pin", "bob@example.org", people["bob"])
        admin.must("sync")
        active.must("sync")
        active.must("lookup", "erin@example.org")
        active.must("sync")
        newer = DeviceLog(active.home).open(older_seq + 1)
        d2.must("sync")
        with sqlite3.connect(os.path.join(d2.home, "mailseal.db")) as db:
            d2_decisions = db.execute("SELECT COUNT(*) FROM record_decisions WHERE device_id = ? AND seq = ?",
                                      (active.device_id(), older_seq)).fetchone()[0]
        if upgraded:
            forget_times(d2)
        writer.must("contact", "pin", "carol@example.org", people["carol"])
        writer.must("sync")
        log = DeviceLog(writer.home)
        seq, _ = log.own_records()[-1]
        record = dict(log.open(seq))
        honest = record["lamport"]
        record["lamport"] = lamport_of(honest, older["lamport"])
        service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (writer.device_id(), seq))
        log.drop_last()
        log.append(log.seal(record), record)
        writer.must("sync")
        first = d1.run("sync")
        tampered = None
        if upgraded:
            tampered = tampered_backfill(service, d2, active.device_id(), older_seq)
        second = d2.run("sync")
        levels = [carol_level(device) for device in (d1, d2)]
        d2_knows = kept_time(d2, active.device_id(), older_seq)
        admin.must("device", "remove", writer.device_id())
        after = [device.run("sync").returncode for device in (d1, d2)]
        levels_after = [carol_level(device) for device in (d1, d2)]
        return {"first": first, "second": second, "levels": levels, "after": after, "levels_after": levels_after,
                "writer": writer.device_id().encode(), "honest": honest, "older": older, "newer": newer,
                "named": record["frontier"].get(active.device_id()), "older_seq": older_seq,
                "d2_decisions": d2_decisions, "d2_knows": d2_knows, "tampered": tampered}


def stderr_of(result):
    return (result["first"].stderr + result["second"].stderr).decode()


taken = scenario(lambda honest, _: honest)
check(taken["named"] == taken["older_seq"] and taken["honest"] == taken["older"]["lamport"] + 1,
      "W's record names R1, whose time is the highest it names", (taken["named"], taken["honest"]))
check(taken["newer"]["lamport"] == taken["older"]["lamport"] + 2,
      "R2 is two steps after R1 (one time between them that D2 cannot tell from R1's)",
      (taken["older"]["lamport"], taken["newer"]["lamport"]))
check(not any(change["kind"] in ("pin", "unpin", "anchor", "unanchor", "withdrawal")
              for change in taken["older"]["changes"]) and taken["d2_decisions"] == 0,
      "R1 carries no decision (its time is kept only as a merged record's time)", taken["older"]["changes"])
check(taken["first"].returncode == 0 and taken["second"].returncode == 0 and taken["levels"] == ["full", "full"],
      "W's record with the time the rule gives: both devices take it", (taken["levels"], stderr_of(taken)))

ahead = scenario(lambda honest, _: honest + 1)
check(ahead["first"].returncode == 0 and ahead["second"].returncode == 0
      and ahead["first"].stderr.count(b"breaks the trust records' clock") == 1
      and ahead["second"].stderr.count(b"breaks the trust records' clock") == 1
      and ahead["writer"] in ahead["first"].stderr and ahead["writer"] in ahead["second"].stderr,
      "one step past the rule, naming an older record of an active device: D1 (merging it now) and D2 (which "
      "merged it before) both hold it back, naming W, and sync on", stderr_of(ahead))
check(ahead["levels"][0] == ahead["levels"][1] and ahead["levels"][0] != "full",
      "neither takes W's pin of Carol", ahead["levels"])
check(ahead["after"] == [0, 0] and ahead["levels_after"][0] == ahead["levels_after"][1],
      "once W is removed both merge alike", ahead["levels_after"])

upgraded = scenario(lambda honest, _: honest + 1, upgraded=True)
tampered_sync, tampered_kept = upgraded["tampered"]
check(tampered_sync.returncode != 0 and b"served two different records as number" in tampered_sync.stderr
      and tampered_kept is None,
      "a store from before schema 9 served an older record altered refuses it and keeps no time",
      (tampered_sync.stderr.decode(), tampered_kept))
check(upgraded["d2_knows"] == upgraded["older"]["lamport"],
      "a store from before schema 9 takes R1's time from the service at its first sync",
      (upgraded["d2_knows"], upgraded["older"]["lamport"]))
check(upgraded["first"].returncode == 0 and upgraded["second"].returncode == 0
      and b"breaks the trust records' clock" in upgraded["second"].stderr,
      "and holds back W's record one step past the rule, as D1 does", stderr_of(upgraded))
check(upgraded["levels"][0] == upgraded["levels"][1] and upgraded["levels"][0] != "full",
      "neither takes W's pin of Carol", upgraded["levels"])
check(upgraded["after"] == [0, 0] and upgraded["levels_after"][0] == upgraded["levels_after"][1],
      "both merge alike once W is removed", upgraded["levels_after"])

equal = scenario(lambda _, older_time: older_time)
check(equal["first"].returncode == 0 and equal["second"].returncode == 0
      and b"is not after the time of the records it names" in equal["first"].stderr
      and b"is not after the time of the records it names" in equal["second"].stderr
      and equal["levels"][0] == equal["levels"][1] and equal["levels"][0] != "full",
      "equal to R1's time: both hold it back", (equal["levels"], stderr_of(equal)))

finish(minimum=13)
