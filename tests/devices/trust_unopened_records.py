#!/usr/bin/env python3
"""Records that do not open (docs/service.md, "Records that do not open";
fifth review of issue 14, F3). Four devices of one profile; devices 2 and 3
are in a thief's hands. Only a device uploads into its own log, so a thief
can put any bytes there:

- device 2 signs, with its own key, a record that does not decode (a proof
  for a device its frontier does not name): only its key makes that
  signature, so it is charged (`malformed`);
- device 3 uploads bytes that do not open under the records key: device 3
  or the key service made them so (`unopened`).

Before the fix each of them stopped every sync of every other device, with a
message naming neither. Now device 1 still merges device 4's pin, holds back
the logs of devices 2 and 3 (nothing of theirs merged, their positions
unchanged), and names each with its verdict; once device 2 is removed, only
device 3's warning is left. This store refusing a record is nobody's doing:
the sync fails saying so, naming no device."""
import base64
import json
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile  # noqa: E402
from records_tool import DeviceLog, held_back, merged_position  # noqa: E402
from service_tool import KeyService, sign_request  # noqa: E402

require_mailseal()


def upload(service, device, seq, sealed):
    """Bytes into the device's own log, as the device itself sends them (signed with its key)."""
    log = DeviceLog(device.home)
    target = f"/v1/accounts/{service.account_fingerprint('alice@example.com')}/records"
    body = json.dumps({"device_id": log.device, "seq": seq, "sealed": sealed}).encode()
    return service.request("POST", target, body=body, headers={
        "Authorization": sign_request(os.path.join(device.home, "keys", log.signature_key_file), log.device, "POST",
                                      target, body)})


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three, four = devices_of_one_profile(work, service.url, ("full", "full", "full"))
    people = correspondents(work, service.url, ("bob", "carol", "dave"), (one, two, three, four))
    two.must("contact", "pin", "bob@example.org", people["bob"])
    for device in (two, three, one, four, one):
        device.must("sync")
    two_id, three_id = two.device_id(), three.device_id()
    reached = {device: merged_position(one, device) for device in (two_id, three_id)}

    # Device 2: a record signed by its own key that does not decode.
    thief = DeviceLog(two.home)
    last = thief.open(thief.own_records()[-1][0])
    bogus = {"digest": "00" * 32, "signature": "eHh4"}
    malformed = thief.next_record(lamport=last["lamport"] + 1,
                                  proofs=dict(last.get("proofs", {}), **{"MAAA-AAAA-AAAA-AAAA-AAAA": bogus}))
    thief.append(thief.seal(malformed), malformed)
    check(two.json("sync")["records"]["uploaded"] == 1, "device 2's sync sends its malformed record")

    # Device 3: bytes naming the current records key that do not open under it, uploaded as its next record.
    garbage = DeviceLog(three.home)
    next_seq = garbage.own_records()[-1][0] + 1
    sealed = bytes.fromhex(garbage.current) + os.urandom(80)
    code, answer = upload(service, three, next_seq, base64.b64encode(sealed).decode())
    check(code == 200, "the service takes device 3's garbage (it cannot open records)", answer)

    # Device 4 decides; device 1 must still take it.
    four.must("contact", "pin", "carol@example.org", people["carol"])
    four.must("sync")
    synced = one.run("--json", "sync")
    check(synced.returncode == 0, "device 1's sync works despite both records", synced.stderr.decode())
    report = json.loads(synced.stdout or b"{}").get("records", {})
    check(one.json("trust", "carol@example.org")["level"] == "full", "device 1 takes device 4's pin of Carol")
    by_two, by_three = held_back(report, two_id), held_back(report, three_id)
    check(len(by_two) == 1 and by_two[0]["verdict"] == "malformed" and by_two[0]["seq"] == malformed["seq"]
          and "proof names no record" in by_two[0]["problem"],
          "device 2's record is held back, charged to device 2 (malformed), saying what is wrong", report)
    check(len(by_three) == 1 and by_three[0]["verdict"] == "unopened" and by_three[0]["seq"] == next_seq,
          "device 3's bytes are held back as unopened", report)
    check({device: merged_position(one, device) for device in (two_id, three_id)} == reached,
          "nothing of devices 2 and 3 was merged", reached)

    again = one.run("sync")
    warning = again.stderr.decode()
    check(again.returncode == 0 and f"device {two_id} signed its trust record {malformed['seq']}" in warning
          and f"mailseal device remove {two_id}" in warning,
          "the next sync says device 2 signed a malformed record and to remove it", warning)
    check(f"trust record {next_seq} of device {three_id} cannot be merged" in warning
          and "key service altered it" in warning,
          "and that device 3's record does not open, by device 3 or the key service", warning)

    one.must("device", "remove", two_id)
    after = one.run("--json", "sync")
    report = json.loads(after.stdout or b"{}").get("records", {})
    check(after.returncode == 0 and not held_back(report, two_id) and len(held_back(report, three_id)) == 1,
          "once device 2 is removed, only device 3's record is held back", report)

    # This store refusing a record (here a trigger in device 1's store) is nobody's record's doing: the
    # sync fails saying so, charges no device, and merges it once the store takes it.
    db = os.path.join(one.home, "mailseal.db")
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TRIGGER refuse_dave BEFORE INSERT ON pins WHEN NEW.address = 'dave@example.org' "
                           "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    four.must("contact", "pin", "dave@example.org", people["dave"])
    four.must("sync")
    four_id, at = four.device_id(), merged_position(one, four.device_id())
    failing = one.run("sync")
    message = failing.stderr.decode()
    check(failing.returncode != 0 and "refused by the test" in message and four_id not in message
          and merged_position(one, four_id) == at,
          "this store refusing a record fails the sync, charging no device", message)
    check(one.json("trust", "dave@example.org")["level"] != "full", "nothing of it was applied")
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TRIGGER refuse_dave")
    lifted_sync = one.run("--json", "sync")
    check(lifted_sync.returncode == 0 and merged_position(one, four_id) == at + 1
          and one.json("trust", "dave@example.org")["level"] == "full",
          "once the store takes it, the next sync merges it", lifted_sync.stderr.decode())
finish(minimum=13)
