#!/usr/bin/env python3
"""A key service that withholds an honest device's trust records from one
device only is blamed, not the honest device that merged them (docs/
service.md, "Frontier proofs"; review of issue 14, third round, F4).

Three devices of one profile. Device 3 pins Bob; device 2 merges that record
and pins Carol: its record names device 3's record 2 and carries device 3's
signature over that record's head statement. The service then lies to
device 1 alone: before each of device 1's syncs it drops device 3's rows,
and puts them back before device 3's own sync.

Before the fix device 1 was told that device 2 may be stolen and to remove
it if the warning repeated after device 3 synced, which it does, for ever:
the person would remove the honest device and the service's lie would go
unnoticed. Now device 2's frontier entry is a proof: device 1 says the key
service withheld device 3's records, never to remove device 2, and merges
everything once the service serves device 3's records again."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("bob", "carol"), (one, two, three))
    for device in (one, two, three):
        device.must("sync")
    three.must("contact", "pin", "bob@example.org", people["bob"])
    three.must("sync")
    two.must("sync")  # merges device 3's record
    two.must("contact", "pin", "carol@example.org", people["carol"])
    two.must("sync")
    account = service.account_fingerprint("alice@example.com")
    two_id, three_id = two.device_id(), three.device_id()
    kept = service.rows("SELECT device_id, seq, sealed, created_at FROM trust_records WHERE account=? AND device_id=?",
                        (account, three_id))
    check([row[1] for row in kept] == [1, 2], "the service holds device 3's records 1 and 2", kept)

    def hide():
        service.write("DELETE FROM trust_records WHERE account=? AND device_id=?", (account, three_id))

    def unhide():
        for row in kept:
            service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) "
                          "VALUES (?, ?, ?, ?, ?)", (account, *row))

    for attempt in (1, 2):
        hide()
        synced = one.run("--json", "sync")
        report = json.loads(synced.stdout or b"{}").get("records", {})
        held = report.get("overreaching", [])
        check(synced.returncode == 0 and len(held) == 1 and held[0]["writer"] == two_id
              and held[0]["named"] == three_id and held[0]["named_seq"] == 2 and held[0].get("verdict") == "withheld",
              f"sync {attempt} of device 1: device 2's record waits, charged to the key service (proven)", report)
        plain = one.run("sync")
        warning = plain.stderr.decode()
        check(plain.returncode == 0 and "key service withheld the trust records of device " + three_id in warning
              and "mailseal device remove" not in warning,
              f"sync {attempt}: the warning blames the key service and never says to remove a device", warning)
        unhide()
        three.must("sync")  # device 3 sees the truth: the service lies to device 1 only

    check(one.json("trust", "carol@example.org")["level"] != "full",
          "device 2's pin of Carol waits on device 1 while the service withholds")
    synced = one.run("--json", "sync")
    report = json.loads(synced.stdout or b"{}").get("records", {})
    check(synced.returncode == 0 and not report.get("overreaching"),
          "once the service serves device 3's records again, nothing is held back", report)
    check(one.json("trust", "carol@example.org")["level"] == "full", "device 1 then takes device 2's pin of Carol")
    check(one.json("trust", "bob@example.org")["level"] == "full", "and device 3's pin of Bob")

finish(minimum=9)
