#!/usr/bin/env python3
"""A device restored from a backup of its home (docs/service.md, "Trust
records"): its trust-record log is behind what the key service holds for
it. Its `sync` takes its own records back from the service, checked as any
device's are (in order, each naming the previous one's hash, sealed under
the profile's records key and signed by its own key), instead of failing on
the next number; what they decided is in force again, and the log goes on
without a fork, so the other device takes what it writes next. A service
that alters one of those records, or serves one made by another copy of the
device under the same number, is refused and nothing changes."""
import os
import shutil
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def level(device, address):
    return device.json("trust", address)["level"]


def own_log(device):
    connection = sqlite3.connect(os.path.join(device.home, "mailseal.db"))
    try:
        return connection.execute("SELECT seq, sealed, uploaded FROM own_records ORDER BY seq").fetchall()
    finally:
        connection.close()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    one, two = Home(work, "device1"), Home(work, "device2")
    one.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "device1",
             "--service", url)
    invite = one.json("device", "invite")
    two.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
             "--name", "device2")
    for device in (one, two, one):
        device.must("sync")
    people = {}
    for name in ("bob", "carol", "dave"):
        person = Home(work, name)
        person.must("init", f"{name}@example.org", "--suite", "modern", "--service", url)
        people[name] = person.json("status")["fingerprint"]
        for device in (one, two):
            device.must("lookup", f"{name}@example.org")

    service_write = service.write  # edits the service's database as its operator could

    one.must("contact", "pin", "bob@example.org", people["bob"])
    one.must("sync")
    backup = os.path.join(work, "device1-backup")
    shutil.copytree(one.home, backup)
    behind = len(own_log(one))

    # After the backup, device 1 pins Carol and unpins Bob; the service keeps both.
    one.must("contact", "pin", "carol@example.org", people["carol"])
    one.must("sync")
    one.must("contact", "unpin", "bob@example.org")
    one.must("sync")
    ahead = own_log(one)
    check(len(ahead) == behind + 2, "device 1 wrote two records after the backup", len(ahead))

    # Device 1's home is restored from the backup.
    shutil.rmtree(one.home)
    shutil.copytree(backup, one.home)
    check(level(one, "carol@example.org") != "full" and level(one, "bob@example.org") == "full",
          "the restored store knows neither the pin of Carol nor the unpin of Bob")

    # A service that alters what it serves of the device's own log is refused.
    fingerprint = service.account_fingerprint("alice@example.com")
    altered = bytearray(ahead[-1][1])
    altered[-3] ^= 1
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?",
                  (bytes(altered), one.device_id(), ahead[-1][0]))
    refused = one.run("sync")
    check(refused.returncode != 0 and b"altered" in refused.stderr, "an altered record of its own log: refused",
          refused.stderr.decode())
    check(len(own_log(one)) == behind, "... and nothing taken back")
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?",
                  (ahead[-1][1], one.device_id(), ahead[-1][0]))

    # A record another copy of device 1 made under the same number: refused.
    fork_home = os.path.join(work, "device1-fork")
    shutil.copytree(backup, fork_home)
    fork = Home.at(fork_home)
    service_write("DELETE FROM trust_records WHERE device_id = ? AND seq > ?", (one.device_id(), behind))
    fork.must("contact", "pin", "dave@example.org", people["dave"])
    fork.must("sync")
    forked = own_log(fork)[-1]
    service_write("DELETE FROM trust_records WHERE device_id = ? AND seq > ?", (one.device_id(), behind))
    for seq, sealed, _ in ahead[behind:]:
        service_write("INSERT INTO trust_records (account, device_id, seq, sealed, created_at) VALUES (?, ?, ?, ?, 0)",
                      (fingerprint, one.device_id(), seq, forked[1] if seq == forked[0] else sealed))
    refused = one.run("sync")
    check(refused.returncode != 0 and b"does not follow" in refused.stderr,
          "a record of another copy of device 1 under the same number: refused", refused.stderr.decode())
    check(len(own_log(one)) == behind, "... and nothing taken back")
    service_write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?",
                  (ahead[behind][1], one.device_id(), ahead[behind][0]))

    # The service as it should be: device 1 takes its own records back.
    synced = one.json("sync")["records"]
    check(synced["restored"] == 2, "device 1's sync takes back its two own records", synced)
    check(own_log(one) == ahead, "device 1's own log is the one it wrote before, byte for byte")
    check(level(one, "carol@example.org") == "full", "device 1: the pin of Carol is in force again")
    check(level(one, "bob@example.org") != "full", "device 1: so is the unpin of Bob")

    # The log goes on without a fork: device 2 takes what device 1 writes next.
    one.must("contact", "pin", "dave@example.org", people["dave"])
    written = one.json("sync")["records"]
    check(written["written"] == 1 and written["uploaded"] == 1, "device 1 writes its next record", written)
    merged = two.run("--json", "sync")
    check(merged.returncode == 0, "device 2 syncs: no fork in device 1's log", merged.stderr.decode())
    check(level(two, "dave@example.org") == "full" and level(two, "carol@example.org") == "full" and
          level(two, "bob@example.org") != "full", "device 2: Dave and Carol pinned, Bob unpinned")

finish(minimum=13)
