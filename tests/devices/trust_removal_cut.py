#!/usr/bin/env python3
"""The cut a removal names (docs/security.md, "The cut"): every device merges
a removed device's trust records up to it, whenever it learns of the
removal, and refuses what the removed device signs after it.

Device 1 is the admin; devices 2 and 3 are full devices. Device 2 pins Carol
and syncs its record up; neither device 1 nor device 3 syncs. Device 1
removes device 2: it checks device 2's log as the service serves it and
names its last record (number and hash) in the device list it signs with
the root. Then:
- device 1 merges device 2's pin of Carol (before, a removed device's
  records not merged before its removal were refused for good);
- device 2, still holding its key, signs another record (a pin of Dave)
  after the cut; the service refuses a removed device's upload, so it is put
  into the service's table as a service colluding with the thief would;
- the service gives device 3 a forged removal: the bundle of the removal,
  its cut moved to device 2's record after it, signed by device 2's key (the
  only key the thief holds) instead of the root: device 3 refuses it;
- device 3, which had not synced since before the removal, takes the real
  bundle and merges device 2's pin up to the cut, and not the pin of Dave;
- a device 4 that joins after the removal merges the pin too.
Last, a device that merged past a cut: device 5 pins Dave, device 4 merges
it, and the service withholds that record from device 1 while it removes
device 5, so the cut ends before it. Device 4 takes the pin back (docs/security.md, "The
cut"), goes back to the cut in device 5's log and says so once; device 1
refuses the record."""
import base64
import hashlib
import json
import os
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal, run_tool  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile, join_device, trust_level  # noqa: E402
from records_tool import DeviceLog, merged_position  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def device_files(device):
    """The paths of a device's agreement key, agreement certificate (PEM), signature key and signature
    certificate (PEM), from its store (keys not encrypted with a passphrase)."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        row = db.execute("SELECT agreement_key_file, agreement_certificate, signature_key_file, "
                         "signature_certificate FROM devices WHERE is_self = 1").fetchone()
    paths = []
    for name, der, label in ((row[0], row[1], "agreement"), (row[2], row[3], "signature")):
        certificate = os.path.join(device.home, f"{label}-certificate.pem")
        run_tool("openssl", "x509", "-inform", "DER", "-in", "/dev/stdin", "-out", certificate, stdin=bytes(der))
        paths += [os.path.join(device.home, "keys", name), certificate]
    return paths


def forged_bundle(work, sealed, recipient, thief, cut):
    """The bundle `sealed` for `recipient` (a Home) opened with its key, its removal's cut of the thief's
    device replaced by `cut` (seq, hash), signed by the thief's device key and sealed to the recipient again."""
    agreement_key, agreement_certificate, _, _ = device_files(recipient)
    _, _, thief_key, thief_certificate = device_files(thief)
    signed = run_tool("openssl", "cms", "-decrypt", "-inform", "DER", "-inkey", agreement_key, "-recip",
                      agreement_certificate, "-binary", stdin=sealed)
    content = json.loads(run_tool("openssl", "cms", "-verify", "-inform", "DER", "-noverify", "-binary",
                                  stdin=signed))
    moved = 0
    for field in ("devices", "roster"):
        for entry in content.get(field, []):
            if "removal_cut" in entry:
                entry["removal_cut"] = {"seq": cut[0], "hash": base64.b64encode(cut[1]).decode()}
                moved += 1
    plain = os.path.join(work, "forged.json")
    with open(plain, "w") as handle:
        json.dump(content, handle)
    resigned = run_tool("openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", plain,
                        "-signer", thief_certificate, "-inkey", thief_key)
    return moved, run_tool("openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm",
                           "-recip", agreement_certificate, stdin=resigned)


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("carol", "dave"), (one, two, three))
    for device in (one, two, three, one, two, three):
        device.must("sync")
    two_id = two.device_id()

    two.must("contact", "pin", "carol@example.org", people["carol"])
    two.must("sync")
    head = service.rows("SELECT MAX(seq) FROM trust_records WHERE device_id = ?", (two_id,))[0][0]
    check(merged_position(one, two_id) < head and merged_position(three, two_id) < head,
          "devices 1 and 3 had not merged device 2's pin of Carol when device 2 is removed")

    removal = one.json("device", "remove", two_id)
    check(removal.get("cut") == head, "the removal names device 2's last record as the cut", (removal, head))
    synced = one.json("sync")["records"]
    check(trust_level(one, "carol@example.org") == "full" and merged_position(one, two_id) == head,
          "device 1 merges device 2's pin of Carol, made before the removal, after it", synced)

    # Device 2 (stolen: its key is in someone else's hands) signs a record after the cut.
    log = DeviceLog(two.home)
    last_seq, last_sealed = log.own_records()[-1]
    pin = next(change for change in log.open(last_seq)["changes"] if change["kind"] == "pin")
    after_cut = log.next_record(changes=[dict(pin, address="dave@example.org", fingerprint=people["dave"])],
                                lamport=log.open(last_seq)["lamport"] + 1)
    sealed_after = log.seal(after_cut)
    refused_upload = two.run("sync")
    account = service.rows("SELECT account FROM trust_records WHERE device_id = ?", (two_id,))[0][0]
    service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) VALUES (?, ?, ?, ?, 0)",
                  (account, two_id, after_cut["seq"], sealed_after))

    # The service gives device 3 a removal whose cut takes in that record, signed by device 2's key.
    three_id = three.device_id()
    three_before = merged_position(three, two_id)
    genuine = bytes(service.rows("SELECT bundle FROM bundles WHERE device_id = ?", (three_id,))[0][0])
    moved, forged = forged_bundle(work, genuine, three, two,
                                  (after_cut["seq"], hashlib.sha256(sealed_after).digest()))
    service.write("UPDATE bundles SET bundle = ? WHERE device_id = ?", (forged, three_id))
    forged_sync = three.run("sync")
    check(moved >= 1 and forged_sync.returncode != 0 and b"not signed by this profile's root" in forged_sync.stderr
          and merged_position(three, two_id) == three_before and trust_level(three, "dave@example.org") != "full",
          "device 3 refuses a removal whose cut the service forged (signed by device 2's key, not the root)",
          (moved, forged_sync.stderr.decode()))

    service.write("UPDATE bundles SET bundle = ? WHERE device_id = ?", (genuine, three_id))
    three_report = three.json("sync")["records"]
    check(trust_level(three, "carol@example.org") == "full" and merged_position(three, two_id) == head,
          "device 3, which had not synced before the removal, merges device 2's pin up to the cut", three_report)

    four = join_device(one, work, service.url, "device4")
    four.must("lookup", "carol@example.org")
    four.must("lookup", "dave@example.org")
    four_report = four.json("sync")["records"]
    check(trust_level(four, "carol@example.org") == "full" and merged_position(four, two_id) == head,
          "device 4, which joined after the removal, has 'full' for the pin device 2 made before it", four_report)

    one_report = one.json("sync")["records"]
    check(refused_upload.returncode != 0, "the service refuses the removed device's own sync",
          refused_upload.stderr.decode())
    for number, device, report in ((1, one, one_report), (3, three, three_report), (4, four, four_report)):
        check(report["refused"] >= 1 and trust_level(device, "dave@example.org") != "full"
              and merged_position(device, two_id) == head,
              f"device {number} refuses device 2's record signed after the cut", report)

    five = join_device(one, work, service.url, "device5")
    five.must("lookup", "dave@example.org")
    five.must("contact", "pin", "dave@example.org", people["dave"])
    five.must("sync")
    four.must("sync")
    five_id = five.device_id()
    withheld = service.rows("SELECT account, device_id, seq, sealed, created_at FROM trust_records "
                            "WHERE device_id = ? ORDER BY seq DESC LIMIT 1", (five_id,))[0]
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (five_id, withheld[2]))
    short = one.json("device", "remove", five_id)
    service.write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) VALUES (?, ?, ?, ?, ?)",
                  withheld)
    check(short.get("cut") == withheld[2] - 1 and trust_level(four, "dave@example.org") == "full",
          "device 5 is removed with a cut before its pin of Dave, which device 4 had merged", (short, withheld[2]))
    past = four.run("--json", "sync")
    past_report = json.loads(past.stdout or b"{}").get("records", {})
    check(past.returncode == 0 and past_report.get("past_cut") == [
          {"removed": five_id, "cut": withheld[2] - 1, "merged": withheld[2], "other_fork": False, "fork_from": 0,
           "taken_back": 1, "decide_again": []}],
          "device 4 reports that it had merged device 5's records past the cut, and takes back their decision",
          past_report)
    check(trust_level(four, "dave@example.org") != "full" and merged_position(four, five_id) == withheld[2] - 1,
          "device 4 no longer has the pin of Dave past the cut, and is back at the cut in device 5's log",
          (trust_level(four, "dave@example.org"), merged_position(four, five_id)))
    warned = four.run("sync")
    check(warned.returncode == 0 and b"past_cut" not in warned.stderr
          and f"merged the trust records of the removed device {five_id}".encode() not in warned.stderr
          and trust_level(four, "dave@example.org") != "full",
          "once: the next sync does not warn again, nor merge the pin again", warned.stderr.decode())
    one.must("sync")
    check(trust_level(one, "dave@example.org") != "full", "device 1 refuses device 5's pin after the cut")
finish(minimum=14)
