#!/usr/bin/env python3
"""A key service that under-reports a removed device's head does not get an
honest writer blamed (docs/service.md, "Trust records"; review of issue 14,
finding 5).

Device 1 is the admin; W, R and D are full devices. R pins Bob; W merges R's
record and pins Carol (its record names R's last record); the admin removes
R. D never merged R's records. The service then drops R's records (its head
under-reported: as if R never wrote any). D's sync succeeds: W's record waits,
with a warning that names the key service, not W; nothing tells the person to
remove W. Once the service serves R's records again, D merges W's pin."""
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
    url = service.url
    admin, writer, removed, reader = devices_of_one_profile(work, url, roles=("full", "full", "full"))
    for device in (admin, writer, removed, reader):
        device.must("sync")
    people = correspondents(work, url, ["bob", "carol"], devices=(writer, removed, reader))
    removed.must("contact", "pin", "bob@example.org", people["bob"])
    removed.must("sync")
    writer.must("sync")
    writer.must("contact", "pin", "carol@example.org", people["carol"])
    writer.must("sync")
    admin.must("sync")
    admin.must("device", "remove", removed.device_id())
    fingerprint = service.account_fingerprint("alice@example.com")
    kept = service.rows("SELECT device_id, seq, sealed, created_at FROM trust_records WHERE account = ? AND "
                        "device_id = ?", (fingerprint, removed.device_id()))
    check(len(kept) >= 1, "the removed device wrote a record", len(kept))
    service.write("DELETE FROM trust_records WHERE account = ? AND device_id = ?", (fingerprint, removed.device_id()))

    synced = reader.run("--json", "sync")
    check(synced.returncode == 0, "the reader's sync succeeds although the service under-reports the removed "
          "device's head", synced.stderr.decode())
    check(writer.device_id().encode() not in synced.stderr and b"remove it on an admin device" not in synced.stderr,
          "nothing tells the person to remove the honest writer", synced.stderr.decode())
    plain = reader.run("sync")
    check(plain.returncode == 0 and b"the key service does not serve" in plain.stderr,
          "a warning names the key service", plain.stderr.decode())
    check(reader.json("trust", "carol@example.org")["level"] != "full", "the writer's pin of Carol waits")

    for row in kept:
        service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) VALUES (?, ?, ?, ?, ?)",
                      (fingerprint, *row))
    reader.must("sync")
    check(reader.json("trust", "carol@example.org")["level"] == "full",
          "served the removed device's records again, the reader merges the writer's pin of Carol")

finish(minimum=6)
