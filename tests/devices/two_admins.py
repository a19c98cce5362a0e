#!/usr/bin/env python3
"""Two admin devices learn each other's device lists (docs/service.md, "Two
admin devices"), end to end against a real key service. The desk, restored
from Alice's recovery shares, holds the root as the laptop does; the laptop
adds the phone. A publication's device list replaces the service's, so the
desk, publishing from what it knew, would drop the phone (whose requests
then fail); it learns the phone from the published profile first. When the
laptop removes the phone, the desk learns the removal and does not bring
the phone back. A removal the service makes up (no revocation by the root)
is not taken."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def devices_of(device):
    return {d["device_id"]: d["status"] for d in device.json("device", "list")["devices"]}


def served_status(service, device_id):
    rows = service.rows("SELECT status FROM devices WHERE device_id = ?", (device_id,))
    return rows[0][0] if rows else None


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, desk, phone, tablet = (Home(work, name) for name in ("laptop", "desk", "phone", "tablet"))
    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    shares = laptop.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    desk.must("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "desk")
    desk_id = desk.device_id()
    laptop.must("sync")
    check(devices_of(laptop).get(desk_id) == "active", "the laptop learns the desk its restore published")

    for device in (phone, tablet):
        invite = laptop.json("device", "invite")
        device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                    "--name", device.name)
        laptop.must("sync")
        device.must("sync")
    phone_id, tablet_id = phone.device_id(), tablet.device_id()
    desk.must("sync")
    check(devices_of(desk).get(phone_id) == "active", "the desk learns the phone the laptop added")
    desk.must("publish")
    check(served_status(service, phone_id) == "active" and served_status(service, desk_id) == "active",
          "after the desk publishes, the service still lists the phone (and the desk)")
    check(phone.run("sync").returncode == 0, "the phone still syncs")

    # The laptop removes the phone: the desk learns it and keeps it removed.
    laptop.must("device", "remove", phone_id)
    desk.must("sync")
    check(devices_of(desk).get(phone_id) == "removed", "the desk learns the removal")
    desk.must("publish")
    check(served_status(service, phone_id) == "removed", "the desk's publication keeps the phone removed")
    gone = phone.run("--json", "sync")
    check(gone.returncode == 1 and json.loads(gone.stdout or "{}").get("removed") is True,
          "the phone is told it was removed", gone.stdout)

    # A removal the service makes up (the tablet is not revoked by the root).
    document = json.loads(service.rows("SELECT document FROM accounts")[0][0])
    for entry in document["devices"]:
        if entry["device_id"] == tablet_id:
            entry["status"] = "removed"
    service.write("UPDATE accounts SET document = ?", (json.dumps(document),))
    desk.must("sync")
    check(devices_of(desk).get(tablet_id) == "active", "the desk does not take a removal the root did not sign")

finish(minimum=8)
