#!/usr/bin/env python3
"""Decisions that are taken back follow the person too (docs/service.md,
"Trust records"), end to end against a real key service, with three devices
of one profile (device 3 reads only): an unpin on device 1 puts device 2
back at its discovery level; a trust anchor (a CA made by openssl) removed
on one device is gone on the other; an endorsement withdrawn on device 2 no
longer gives its path on device 1; a pin and an unpin made offline on two
devices, two amounts of one anchor, or an endorsement and its withdrawal,
are a conflict on both (counting for nothing) until a decision that knows
both; a read-only device's removals are not taken."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile, openssl_ca_and_mail_certificate  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def trust(device, address):
    return device.json("trust", address)


def evidence(device, address, kind):
    return [item for item in trust(device, address)["evidence"] if item["kind"] == kind]


def conflicts(device):
    return device.json("status")["trust_sync"]["conflicts"]


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    one, two, reader = devices_of_one_profile(work, url, ("full", "read"))
    one.must("sync")

    def sync_all(*devices):
        for device in devices or (one, two, reader):
            device.must("sync")

    people = correspondents(work, url, ("bob", "carol"), (one, two, reader))
    before = trust(two, "bob@example.org")
    check(before["level"] != "full", "device 2 knows Bob by discovery only", before)

    # 1. An unpin on device 1 puts device 2 back where it was.
    one.must("contact", "pin", "bob@example.org", people["bob"])
    sync_all()
    check(trust(two, "bob@example.org")["level"] == "full", "device 2: Bob full after device 1's pin")
    one.must("contact", "unpin", "bob@example.org")
    after_one = trust(one, "bob@example.org")
    check(after_one["level"] != "full", "device 1: the unpin takes Bob back from full", after_one)
    sync_all(one, two)
    after = trust(two, "bob@example.org")
    check((after["level"], after["amount"]) == (before["level"], before["amount"]) and not evidence(
        two, "bob@example.org", "pin"), "device 2: after sync, Bob is back at his discovery level", after)
    missing = one.run("contact", "unpin", "bob@example.org")
    check(missing.returncode != 0 and b"nothing is pinned" in missing.stderr,
          "unpinning what is not pinned is refused, saying so", missing.stderr.decode())

    # 2. A pin and an unpin made offline on two devices: a conflict on both.
    one.must("contact", "pin", "bob@example.org", people["bob"])
    sync_all()
    one.must("contact", "unpin", "bob@example.org", people["bob"])
    two.must("contact", "pin", "bob@example.org", people["bob"])
    sync_all(one, two, one)
    for number, device in ((1, one), (2, two)):
        report = trust(device, "bob@example.org")
        check(report["level"] == "conflict" and len(report["decided_differently"]) == 1,
              f"device {number}: the pin and the unpin of Bob are a conflict", report)
        sides = report["decided_differently"][0] if report["decided_differently"] else {}
        check(sorted([sides.get("decision_a", "")[:5], sides.get("decision_b", "")[:5]]) == ["pin M", "unpin"],
              f"device {number}: it names the pin and the unpin", sides)
        check([c["address"] for c in conflicts(device)] == ["bob@example.org"], f"device {number}: status lists it")
    text = one.must("trust", "bob@example.org").stdout.decode()
    check("decided differently on device" in text and "(unpin" in text, "'trust' says which device unpinned", text)
    two.must("contact", "unpin", "bob@example.org")  # knowing both: settles it
    sync_all(two, one)
    for number, device in ((1, one), (2, two)):
        report = trust(device, "bob@example.org")
        check(report["level"] == before["level"] and not conflicts(device),
              f"device {number}: an unpin that knows both settles it", report)

    # 3. A read-only device's removal is not taken.
    one.must("contact", "pin", "bob@example.org", people["bob"])
    sync_all()
    reader.must("contact", "unpin", "bob@example.org")
    reader.must("sync")
    heard = two.json("sync")["records"]
    check(heard["ignored"] >= 1, "device 2 does not take the read-only device's unpin", heard)
    check(trust(two, "bob@example.org")["level"] == "full", "device 2: Bob still full")

    # 4. A trust anchor (a CA made by openssl) and its amount.
    ca, frank = openssl_ca_and_mail_certificate(work, "frank@example.net")
    for device in (one, two):
        device.must("contact", "import", frank)
    one.must("trust", "anchor", "add", ca, "--amount", "60")
    sync_all(one, two)
    check([item["amount"] for item in evidence(two, "frank@example.net", "pkix")] == [60],
          "device 2 takes device 1's anchor: Frank's certificate counts 60")
    anchor = two.json("trust", "anchor", "list")["anchors"][0]["fingerprint"]
    one.must("trust", "anchor", "add", ca, "--amount", "90")
    two.must("trust", "anchor", "add", ca, "--amount", "30")
    sync_all(one, two, one)
    for number, device in ((1, one), (2, two)):
        subjects = [c["subject"] for c in conflicts(device)]
        check(len(subjects) == 1 and subjects[0].startswith("anchor:"),
              f"device {number}: two amounts of one anchor are a conflict", subjects)
        check(not evidence(device, "frank@example.net", "pkix"),
              f"device {number}: an anchor in conflict counts for nothing until decided again")
    one.must("trust", "anchor", "add", ca, "--amount", "90")
    sync_all(one, two)
    for number, device in ((1, one), (2, two)):
        check([item["amount"] for item in evidence(device, "frank@example.net", "pkix")] == [90] and not conflicts(
            device), f"device {number}: an amount set knowing both settles it (90)")
    reader.must("sync")
    check(len(reader.json("trust", "anchor", "list")["anchors"]) == 1, "the read-only device takes the anchor")
    reader.must("trust", "anchor", "remove", anchor)
    reader.must("sync")
    two.must("sync")
    check(len(two.json("trust", "anchor", "list")["anchors"]) == 1, "the read-only device's anchor removal not taken")
    one.must("trust", "anchor", "remove", anchor)
    sync_all(one, two)
    check(two.json("trust", "anchor", "list")["anchors"] == [] and not evidence(two, "frank@example.net", "pkix"),
          "device 2: the anchor removed on device 1 is gone")
    gone = two.run("trust", "anchor", "remove", anchor)
    check(gone.returncode != 0 and b"no trust anchor" in gone.stderr, "removing it again is refused",
          gone.stderr.decode())

    # 5. An endorsement made on device 1, withdrawn on device 2.
    carol_before = trust(one, "carol@example.org")
    one.must("endorse", "carol@example.org", "--amount", "120")
    sync_all(one, two)
    check(trust(two, "carol@example.org")["paths"], "device 2: the endorsement of Carol gives a path")
    two.must("endorse", "--withdraw", "carol@example.org")
    check(not trust(two, "carol@example.org")["paths"], "device 2: withdrawn, no path")
    sync_all(two, one)
    carol_after = trust(one, "carol@example.org")
    check(not carol_after["paths"] and carol_after["level"] == carol_before["level"],
          "device 1: the endorsement withdrawn on device 2 gives no path after sync", carol_after)
    exported = one.must("export", "endorsements").stdout.decode()
    check(exported.count("BEGIN CERTIFICATE") == 1, "device 1 no longer exports the withdrawn endorsement")

    # A new endorsement on device 1 and a withdrawal on device 2, offline.
    one.must("endorse", "carol@example.org")
    sync_all(one, two)
    one.must("endorse", "carol@example.org", "--amount", "60")
    two.must("endorse", "--withdraw", "carol@example.org")
    sync_all(one, two, one)
    for number, device in ((1, one), (2, two)):
        subjects = [c["subject"] for c in conflicts(device)]
        check(len(subjects) == 1 and subjects[0].startswith("endorsement:"),
              f"device {number}: an endorsement and its withdrawal made offline are a conflict", subjects)
        check(not trust(device, "carol@example.org")["paths"],
              f"device {number}: an endorsement in conflict gives no path until decided again")
    one.must("endorse", "--withdraw", "carol@example.org")
    sync_all(one, two)
    for number, device in ((1, one), (2, two)):
        check(not conflicts(device) and not trust(device, "carol@example.org")["paths"],
              f"device {number}: a withdrawal that knows both settles it")

finish(minimum=37)
