#!/usr/bin/env python3
"""Two devices that hold the root both renew it (docs/profile.md, "The root's
renewal"), every mailseal process under libfaketime, the key service's clock
moved as far.

Alice's laptop and a desk restored from her recovery shares both hold the
root. Seven years on the desk's `sign` renews the root offline; a day later
the laptop's `sync` renews it again and publishes a root that lasts a day
longer. The service keeps the longest (the desk's publication alone would be
refused, 409 root_outdated, sync after sync): the desk's `sync` adopts the
published root (the same key and name, self-signed, lasting longer) and
publishes what it renewed under it. Bob, who pinned Alice, verifies the
desk's signature with full trust, and both devices show the same root."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from clock_tool import ClockedHome, dated_message  # noqa: E402
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

DAY = 24 * 3600
SEVEN_YEARS = 7 * 365 * DAY


class Person(ClockedHome):
    def root(self):
        return self.json("status")["renewal"]["certificates"][0]


def move_to(service, seconds):
    ClockedHome.offset = seconds
    service.move_clock(seconds)


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, settable_clock=True) as service:
    url = service.url
    laptop, desk, bob = Person(work, "laptop"), Person(work, "desk"), Person(work, "bob")

    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    shares = laptop.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    desk.must("recovery", "restore", shares[0], shares[1], "--service", url, "--name", "desk")
    for device in (laptop, desk):
        device.must("sync")
    check(desk.root()["not_after"] == laptop.root()["not_after"], "today: the laptop and the desk share one root")
    fingerprint = laptop.json("fingerprint")["fingerprint"]
    bob.must("init", "bob@example.org", "--name", "Bob", "--suite", "modern", "--service", url)
    bob.must("lookup", "alice@example.com")
    bob.must("contact", "pin", "alice@example.com", fingerprint)

    # Seven years on: the desk renews offline, the laptop a day later online.
    move_to(service, SEVEN_YEARS)
    signed = desk.path("signed-offline.eml")
    signing = desk.run("sign", "-o", signed,
                       stdin=dated_message("alice@example.com", "bob@example.org", "offline", "from the desk"))
    check(signing.returncode == 0 and b"renewed" in signing.stderr, "the desk's sign renews the root offline",
          signing.stderr.decode())
    desk_root = desk.root()
    move_to(service, SEVEN_YEARS + DAY)
    renewal = laptop.json("sync")["renewal"]
    check(renewal["renewed"] and renewal["published"], "a day later the laptop's sync renews and publishes", renewal)
    laptop_root = laptop.root()
    check(laptop_root["not_after"] > desk_root["not_after"], "the laptop's root lasts longer than the desk's",
          (laptop_root, desk_root))

    # The desk publishes second: it adopts the published root, then goes on.
    synced = desk.json("sync")["renewal"]
    check(synced["published"] and not synced.get("publish_failure"),
          "the desk's sync publishes (no 409 root_outdated)", synced)
    check(desk.root()["not_after"] == laptop_root["not_after"], "the desk adopted the published root", desk.root())
    check(desk.json("status")["renewal"]["state"] == "none_due", "the desk has nothing waiting to be published")
    again = desk.json("sync")["renewal"]
    check(not again["renewed"] and not again.get("publish_failure"), "a second sync of the desk is quiet", again)
    check(desk.json("fingerprint")["fingerprint"] == fingerprint, "the profile's fingerprint is the same")

    # Bob sees one profile: the desk's signature, made under its own renewal, verifies with full trust.
    found = bob.json("lookup", "alice@example.com")
    check(found["trust"]["level"] == "full", "bob looks alice up: full, his pin stands", found)
    later = desk.path("signed-later.eml")
    desk.must("sign", "-o", later,
              stdin=dated_message("alice@example.com", "bob@example.org", "online", "from the desk again"))
    for name, message in (("offline", signed), ("later", later)):
        verified = bob.json("verify", message)
        check(verified["valid"] and verified["trust"]["level"] == "full",
              f"bob verifies the desk's {name} signature: valid, full", verified)

    for name, device in (("laptop", laptop), ("desk", desk), ("laptop", laptop)):
        result = device.run("sync")
        check(result.returncode == 0, f"then the {name} syncs as before", result.stderr.decode())

finish(minimum=15)
