#!/usr/bin/env python3
"""The mirror image of two removals at once (docs/service.md, "Two admin
devices"): an admin device that did not know of a removal made here makes
new keys and seals them to the device removed here.

The laptop and the desk are admin devices; the phone and the tablet full
ones. The laptop removes both the tablet and the phone. The service keeps
serving the desk the escrow from before; the desk removes the tablet too and
sends its new keys to the phone, still active there. When the laptop merges
the desk's escrow it learns no removal (both were made here), but the escrow
lists the phone active and brings keys the laptop lacks: the laptop rotates
again. In the end no current key of either admin device, mail or records, is
one the phone holds."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from profile_tool import admins_and_phone, current_keys, held_keys  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, desk, phone = admins_and_phone(work, url)
    tablet = Home(work, "tablet")
    invite = laptop.json("device", "invite", "--role", "full")
    tablet.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                "--name", "tablet")
    for device in (laptop, tablet, desk, laptop, phone):
        device.must("sync")
    fingerprint = service.account_fingerprint("alice@example.com")

    before = service.rows("SELECT escrow FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0]
    laptop.must("device", "remove", tablet.device_id())
    laptop.must("device", "remove", phone.device_id())
    service.write("UPDATE accounts SET escrow = ? WHERE fingerprint = ?", (before, fingerprint))
    desk.must("device", "remove", tablet.device_id())
    phone.run("sync")  # still active on the desk: takes the desk's new keys
    phone_mail, phone_records = held_keys(phone)
    for device in (laptop, desk, laptop, desk):
        device.must("sync")

    on_laptop, on_desk = current_keys(laptop), current_keys(desk)
    check(on_laptop == on_desk and len(on_laptop[0]) == 2 and len(on_laptop[1]) == 1,
          "the two admin devices agree on the current keys", (on_laptop, on_desk))
    check(not (on_laptop[0] & phone_mail), "no current mail key is one the removed phone holds")
    check(not (on_laptop[1] & phone_records), "the current records key is not one the removed phone holds")

finish(minimum=3)
