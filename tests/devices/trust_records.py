#!/usr/bin/env python3
"""Trust records follow the person (docs/service.md, "Trust records"), end to
end against a real key service: a pin on device 1 gives `full` on devices 2
to 7 after sync; a read-only device's pin is not taken by the others; a
removed device gets 403 and cannot read what is written after; concurrent
offline decisions on two devices are shown as a conflict on both until a
decision that knows both; and a service that alters, reorders, drops,
replays or withholds records (its database edited between syncs, as a
malicious operator would) is detected: nothing altered is merged and nothing
already stored changes. A record that does not open holds back only its
writer's log (docs/service.md, "Records that do not open")."""
import json
import os
import shutil
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService, sign_request  # noqa: E402

require_mailseal()


def local_rows(device, sql):
    connection = sqlite3.connect(os.path.join(device.home, "mailseal.db"))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def positions(device):
    return local_rows(device, "SELECT device_id, seq, hash FROM record_positions ORDER BY device_id")


def level(device, address):
    return device.json("trust", address)["level"]


# Many devices sync in a few seconds here: the per-client and per-profile
# rate limits are lifted (tests/service/abuse.py tests them).
lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url

    service_write = service.write  # edits the service's database as its operator could

    def stored_records(device_id):
        rows = service.rows("SELECT seq, sealed FROM trust_records WHERE device_id = ? ORDER BY seq", (device_id,))
        return [(int(seq), bytes(sealed)) for seq, sealed in rows]

    alice = [Home(work, f"device{i}") for i in range(1, 8)]
    first = alice[0]
    first.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "device1",
               "--service", url)

    def join(device, role="full"):
        invite = first.json("device", "invite", "--role", role)
        device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0", "--name",
                    device.name)
        first.must("sync")
        device.must("sync")

    people = {}
    for name in ("bob", "carol", "dave"):
        person = Home(work, name)
        person.must("init", f"{name}@example.org", "--suite", "modern", "--service", url)
        people[name] = person.json("status")["fingerprint"]

    # 1. Two devices: a pin on device 1 reaches device 2.
    join(alice[1])
    for device in alice[:2]:
        device.must("lookup", "bob@example.org")
    check(level(alice[1], "bob@example.org") != "full", "before: device 2 knows Bob by discovery only")
    first.must("contact", "pin", "bob@example.org", people["bob"])
    check(level(first, "bob@example.org") == "full", "device 1 pins Bob: full")
    status = first.json("status")["trust_sync"]
    check(status["pending_changes"] >= 1, "status: the pin waits to be sent", status)
    sent = first.json("sync")["records"]
    check(sent["has_key"] and sent["written"] >= 1 and sent["uploaded"] == sent["written"],
          "device 1's sync writes and sends its trust records", sent)
    status = first.json("status")["trust_sync"]
    check(status["pending_changes"] == 0 and status["pending_records"] == 0 and status["last_sync"],
          "status: nothing pending after sync, and the time of the last one", status)
    received = alice[1].json("sync")["records"]
    check(received["merged"] >= 1, "device 2 merges device 1's records", received)
    check(level(alice[1], "bob@example.org") == "full", "device 2: Bob is full after sync")

    # What the service holds: device ids, numbers, ciphertext; no address.
    sealed = b"".join(s for _, s in stored_records(first.device_id()))
    check(sealed and b"bob@example.org" not in sealed and b"alice@example.com" not in sealed,
          "the service's trust records name no address")

    # Seven devices (device 6 reads only); one who never looked Bob up.
    for number in range(3, 8):
        join(alice[number - 1], "read" if number == 6 else "full")
    first.must("sync")  # the admin device sends every device the roster
    for number, device in enumerate(alice[1:], start=2):
        device.must("sync")
        check(level(device, "bob@example.org") == "full", f"device {number}: Bob is full after sync")

    # 2. A read-only device's decision is not taken by the others.
    reader = alice[5]
    reader.must("lookup", "carol@example.org")
    reader.must("contact", "pin", "carol@example.org", people["carol"])
    reader.must("sync")
    heard = alice[1].json("sync")["records"]
    check(heard["ignored"] >= 1, "device 2 does not take the read-only device's pin", heard)
    check(level(alice[1], "carol@example.org") != "full",
          "device 2 learns Carol's certificate from device 6 but not its pin")

    # A removed device: 403, and the records written after are under a key it lacks.
    lost = alice[6]
    lost_id = lost.device_id()
    first.must("device", "remove", lost_id)
    lost_keys = {row[0] for row in local_rows(lost, "SELECT key_id FROM records_keys")}
    first.must("lookup", "carol@example.org")
    first.must("contact", "pin", "carol@example.org", people["carol"])
    first.must("sync")
    newest = stored_records(first.device_id())[-1][1]
    check(newest[:16].hex() not in lost_keys and lost_keys, "records written after the removal use a new key")
    gone = lost.run("sync", "--json")
    check(gone.returncode == 1, "device 7 learns it was removed", gone.stdout.decode())
    fingerprint = service.account_fingerprint("alice@example.com")
    lost_key = next(os.path.join(lost.home, "keys", name) for name in os.listdir(os.path.join(lost.home, "keys"))
                    if name.startswith("device-signature-"))
    target = f"/v1/accounts/{fingerprint}/records"
    code, answer = service.request("GET", target,
                                   headers={"Authorization": sign_request(lost_key, lost_id, "GET", target, b"")})
    check(code == 403 and answer["error"]["code"] == "device_removed", "the removed device's GET: 403", answer)
    body = {"device_id": lost_id, "seq": 1, "sealed": "AAAA"}
    raw_body = json.dumps(body).encode()
    code, answer = service.request("POST", target, body=raw_body, headers={
        "Authorization": sign_request(lost_key, lost_id, "POST", target, raw_body)})
    check(code == 403 and answer["error"]["code"] == "device_removed", "the removed device's POST: 403", answer)
    for number, device in enumerate(alice[1:6], start=2):
        device.must("sync")
    check(level(alice[1], "carol@example.org") == "full", "device 2 takes device 1's pin of Carol (new key)")

    # 3. A tampering service. Device 1 writes; device 2 reads.
    verifier = alice[1]
    one = first.device_id()

    def pin_and_sync(device, name):
        device.must("lookup", f"{name}@example.org")
        device.must("contact", "pin", f"{name}@example.org", people[name])
        device.must("sync")

    def refused(what, needle, reader=verifier):
        before = positions(reader)
        result = reader.run("sync")
        check(result.returncode != 0 and needle in result.stderr.decode(), f"{what}: refused, saying so",
              result.stderr.decode())
        check(positions(reader) == before, f"{what}: nothing stored changed")

    def held_from_bad_record(what, needle, merged_to, reader=verifier):
        # Only device 1 and the service put bytes at device 1's place: its log waits from the bad record,
        # what comes before it and the other devices' records merge (docs/service.md, "Records that do not
        # open"). Checked on a copy of the reader, which the later cases need as it is.
        copy = os.path.join(work, f"reader-copy-{len(os.listdir(work))}")
        shutil.copytree(reader.home, copy)
        probe = Home.at(copy)
        before = {device: seq for (device, seq, _) in positions(probe)}
        result = probe.run("--json", "sync")
        report = json.loads(result.stdout or b"{}").get("records", {})
        held = [entry for entry in report.get("overreaching", []) if entry["writer"] == one]
        check(result.returncode == 0 and len(held) == 1 and held[0]["verdict"] == "unopened"
              and needle in held[0]["problem"] and held[0]["seq"] == merged_to + 1,
              f"{what}: device 1's log held back from the bad record, saying so", result.stdout.decode())
        after = {device: seq for (device, seq, _) in positions(probe)}
        check(after == dict(before, **{one: merged_to}), f"{what}: device 1's records before it merged, nothing else",
              (before, after))
        shutil.rmtree(copy)

    def restore(records):
        service_write("DELETE FROM trust_records WHERE device_id = ?", (one,))
        for seq, sealed_bytes in records:
            service_write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) "
                          "VALUES (?, ?, ?, ?, 0)", (fingerprint, one, seq, sealed_bytes))

    verifier.must("sync")
    shutil.copytree(first.home, os.path.join(work, "device1-copy"))
    stale = Home.at(os.path.join(work, "device1-copy"))
    pin_and_sync(first, "dave")
    first.must("contact", "accept", "dave@example.org", people["dave"])
    first.must("sync")
    good = stored_records(one)
    last, middle = good[-1], good[-2]

    altered = bytearray(last[1])
    altered[-5] ^= 1
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (bytes(altered), one, last[0]))
    held_from_bad_record("an altered record", "altered", middle[0])
    restore(good)

    service_write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (one, middle[0]))
    refused("a record dropped in the middle", "dropped or reordered")
    restore(good)

    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (last[1], one, middle[0]))
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (middle[1], one, last[0]))
    held_from_bad_record("two records swapped", "not where it was written", middle[0] - 1)
    restore(good)

    # Withheld tail: device 3 merges everything and writes; the service then
    # hides device 1's last record from device 2. Device 3's record names it,
    # past the head the service gives: device 3's log waits (the service or
    # device 3 lies; stopping every merge would let a stolen device stop
    # them all), saying so.
    third = alice[2]
    third.must("sync")
    pin_and_sync(third, "carol")
    service_write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (one, last[0]))
    held_back = verifier.run("sync")
    check(held_back.returncode == 0 and b"withheld" in held_back.stderr
          and third.device_id().encode() in held_back.stderr,
          "a withheld tail: the record naming it waits, saying so", held_back.stderr.decode())
    reached = {device: seq for (device, seq, _) in positions(verifier)}
    written = local_rows(third, "SELECT MAX(seq) FROM own_records")[0][0]
    check(reached.get(third.device_id(), 0) < written, "a withheld tail: the record naming it is not merged",
          (reached.get(third.device_id()), written))
    restore(good)

    verifier.must("sync")
    check(level(verifier, "dave@example.org") == "full", "restored, device 2 merges all")

    # Replayed: a second record under a number already served (the stale copy
    # of device 1 writes its own records 3 and 4 while the operator hides
    # device 1's, which the copy would otherwise take back as its own, and
    # then serves them instead of device 1's).
    service_write("DELETE FROM trust_records WHERE device_id = ? AND seq >= ?", (one, middle[0]))
    stale.must("contact", "pin", "carol@example.org", people["carol"])
    stale.must("sync")
    stale.must("contact", "pin", "dave@example.org", people["dave"])
    stale.must("sync")
    restore(good)
    forked = dict(local_rows(stale, "SELECT seq, sealed FROM own_records"))
    check(forked.get(last[0]) not in (None, last[1]) and forked.get(middle[0]) not in (None, middle[1]),
          "a copy of device 1 wrote other records under the same numbers")
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (forked[last[0]], one,
                                                                                           last[0]))
    refused("a replayed number with other content", "two different records")
    restore(good)
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (forked[middle[0]], one,
                                                                                           middle[0]))
    held_from_bad_record("another record in the middle of the log", "does not follow", middle[0], alice[4])
    restore(good)

    # Device 1's own log shorter than what it wrote.
    service_write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (one, last[0]))
    shorter = first.run("sync")
    check(shorter.returncode != 0 and "this device wrote" in shorter.stderr.decode(),
          "device 1 notices the service lost its own record", shorter.stderr.decode())
    restore(good)
    check(first.run("sync").returncode == 0 and verifier.run("sync").returncode == 0, "restored, both sync again")

    # 4. Concurrent offline decisions about one address on devices 2 and 4.
    fourth = alice[3]
    for device in (verifier, fourth):
        device.must("sync")
    erin = Home(work, "erin")
    erin.must("init", "erin@example.org", "--suite", "modern", "--service", url)
    erin_fp = erin.json("status")["fingerprint"]
    for device in (verifier, fourth):
        device.must("lookup", "erin@example.org")
    verifier.must("contact", "pin", "erin@example.org", erin_fp)
    fourth.must("contact", "pin", "erin@example.org", people["bob"])
    verifier.must("sync")
    fourth.must("sync")
    verifier.must("sync")
    for number, device in ((2, verifier), (4, fourth)):
        report = device.json("trust", "erin@example.org")
        check(report["level"] == "conflict" and len(report["decided_differently"]) == 1,
              f"device {number}: the two pins of Erin are a conflict", report)
        text = device.must("trust", "erin@example.org").stdout.decode()
        check("decided differently on device" in text and "device2 (pin" in text and "device4 (pin" in text,
              f"device {number}: 'trust' names both devices", text)
        conflicts = device.json("status")["trust_sync"]["conflicts"]
        check([c["address"] for c in conflicts] == ["erin@example.org"], f"device {number}: status lists it",
              conflicts)
    verifier.must("contact", "pin", "erin@example.org", erin_fp)
    verifier.must("sync")
    fourth.must("sync")
    for number, device in ((2, verifier), (4, fourth)):
        check(level(device, "erin@example.org") == "full" and not device.json("status")["trust_sync"]["conflicts"],
              f"device {number}: a decision that knows both settles it")

    # A profile restored from recovery shares reads the whole history: the
    # escrow carries the records keys.
    shares = first.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    restored = Home(work, "restored")
    restored.must("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "restored")
    merged = restored.json("sync")["records"]
    check(merged["merged"] >= 5 and merged["deferred"] == 0, "the restored device merges every device's records",
          merged)
    check(level(restored, "erin@example.org") == "full" and level(restored, "bob@example.org") == "full",
          "the restored device trusts Bob and Erin as the others do")

finish(minimum=47)
