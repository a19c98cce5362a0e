#!/usr/bin/env python3
"""A store upgraded from before schema 9 learns the times of the records it
merged from the key service (docs/service.md, "The clock"). A service that no
longer serves one of those old records (dropped, or restored from a backup)
must not stop that device's syncs for good: the records before the hole keep
being judged by bounds, as before the upgrade, and everything else merges
(review of issue 14, 2026-12-01: every sync failed, "withheld record 1").
A record served altered is still refused."""
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def as_before_schema_9(device):
    """The later tables gone (schema 10's frontier proofs, schema 11's record waits and schema 12's removal cuts
    and schema 13's decisions' changes and records' hashes too), the version set back."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        db.execute("ALTER TABLE record_decisions DROP COLUMN changes")
        db.execute("DROP TABLE record_hashes")
        db.execute("ALTER TABLE devices DROP COLUMN removal_cut_seq")
        db.execute("ALTER TABLE devices DROP COLUMN removal_cut_hash")
        db.execute("DROP TABLE record_waits")
        db.execute("DROP TABLE record_head_proofs")
        db.execute("DROP TABLE record_times")
        db.execute("PRAGMA user_version = 8")


LIFTED = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=LIFTED) as service:
    admin, writer, upgraded = devices_of_one_profile(work, service.url, roles=("full",) * 2)
    people = correspondents(work, service.url, ["bob", "carol"], devices=(admin, writer, upgraded))
    for _ in range(2):
        for device in (admin, writer, upgraded):
            device.must("sync")
    writer.must("contact", "pin", "carol@example.org", people["carol"])
    writer.must("sync")
    for device in (admin, upgraded):
        device.must("sync")
    writer_id = writer.device_id()
    served = [row[0] for row in service.rows("SELECT seq FROM trust_records WHERE device_id = ? ORDER BY seq",
                                             (writer_id,))]
    check(len(served) >= 2, "the writer has at least two records on the service", served)

    as_before_schema_9(upgraded)
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = 1", (writer_id,))
    check(admin.run("sync").returncode == 0, "a device on schema 9 syncs with the hole in the writer's log")
    first = upgraded.run("sync")
    check(first.returncode == 0, "the upgraded device's sync goes on over a record the service dropped",
          first.stderr)
    second = upgraded.run("sync")
    check(second.returncode == 0, "and the next one too", second.stderr)
    # The writer's decisions made after the hole still reach it.
    writer.must("contact", "pin", "bob@example.org", people["bob"])
    writer.must("sync")
    after = upgraded.run("sync")
    check(after.returncode == 0 and upgraded.json("trust", "bob@example.org")["level"] == "full",
          "a pin the writer makes afterwards reaches the upgraded device (full)", after.stderr)

    # A record served altered is still refused, and no time is kept from it.
    as_before_schema_9(upgraded)
    last = served[-1]
    service.write("UPDATE trust_records SET sealed = sealed || x'00' WHERE device_id = ? AND seq = ?",
                  (writer_id, last))
    altered = upgraded.run("sync")
    check(altered.returncode != 0 and b"misbehaved" in altered.stderr,
          "a record served altered is refused as before", altered.stderr)
finish(minimum=6)
