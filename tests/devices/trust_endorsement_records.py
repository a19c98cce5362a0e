#!/usr/bin/env python3
"""Endorsements in trust records, as the record decoder and the merge check
them (docs/security.md, "Taking back what was merged past the cut"): what a
record says of an endorsement may say less than its certificate, never more,
and its issuer is the key that signed it.

Honest flows first (second review of 854b35c, F1: each was refused as
malformed and held back its writer's log for good): device 1 endorses Carol
with an amount, a depth and scopes (one with a comma), Dave kept local, a
certificate that is no CA with a scope (no name constraints in the
endorsement), a certificate naming a second address in its subject name; it
imports Carol's endorsement of Erin and Dave's rotation statement. Device 2
syncs: nothing held back, the same rows.

Then a stolen device 3 publishes device 1's endorsement of Carol again under
Dave's root as issuer (second review, F2: stored once per certificate, it
kept device 1's out): device 2 holds device 3's log back as malformed and
keeps device 1's endorsement as device 1 made it."""
import base64
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from profile_tool import (correspondents, devices_of_one_profile, join_device,  # noqa: E402
                          openssl_ca_and_mail_certificate)
from records_tool import DeviceLog, held_back  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()


def endorsements(device):
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return sorted(tuple(row) for row in db.execute(
            "SELECT issuer, subject, amount, depth, scope, addresses, kind, exportable, certificate FROM endorsements"))


def mail_certificate_named(work, subject, alternative_names):
    """A mail certificate for `subject` (a DN) with `alternative_names`, issued by a CA openssl made."""
    ca, ca_key = os.path.join(work, "named-ca.pem"), os.path.join(work, "named-ca.key")
    openssl = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    subprocess.run(openssl + ["-x509", "-keyout", ca_key, "-out", ca, "-subj", "/CN=Named CA", "-days", "30",
                              "-addext", "basicConstraints=critical,CA:true"], check=True, capture_output=True)
    key, request, out, extensions = (os.path.join(work, "named." + suffix) for suffix in ("key", "csr", "pem", "cnf"))
    subprocess.run(openssl + ["-new", "-keyout", key, "-out", request, "-subj", subject], check=True,
                   capture_output=True)
    with open(extensions, "w") as handle:
        handle.write(f"[e]\nsubjectAltName={alternative_names}\nkeyUsage=critical,digitalSignature,keyAgreement\n"
                     "extendedKeyUsage=emailProtection\n")
    subprocess.run(["openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial", "9",
                    "-days", "20", "-extfile", extensions, "-extensions", "e", "-out", out], check=True,
                   capture_output=True)
    return out


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("carol", "dave", "erin"), (one, two, three))
    carol = Home(work, "carol")
    dave = Home(work, "dave")
    new_dave = Home(work, "newdave")
    new_dave.must("init", "dave@example.org", "--suite", "modern", "--service", service.url)

    one.must("endorse", "carol@example.org", "--amount", "60", "--depth", "2", "--scope", "Example.ORG",
             "--scope", "example.org,example.net", "--scope", "Frank@Example.org")
    one.must("endorse", "dave@example.org", "--local", "--depth", "1")
    _, plain = openssl_ca_and_mail_certificate(work, "yolanda@example.net", "y")
    one.must("contact", "import", plain)
    one.must("endorse", "yolanda@example.net", "--scope", "example.net", "--amount", "50")
    one.must("contact", "import", mail_certificate_named(work, "/CN=Zed Smith/emailAddress=z.smith@example.net",
                                                         "email:zed@example.net,email:z.smith@example.net"))
    one.must("endorse", "zed@example.net", "--amount", "80")
    carol.must("lookup", "erin@example.org")
    carol.must("endorse", "erin@example.org", "--depth", "1", "--scope", "example.org", "--amount", "90")
    exported = os.path.join(work, "carol-endorsements.pem")
    carol.must("export", "endorsements", "-o", exported)
    one.must("contact", "import", exported)
    rotation = os.path.join(work, "dave-rotation.pem")
    dave.must("export", "rotation", new_dave.certificates(), "-o", rotation)
    one.must("contact", "import", rotation)
    one.must("sync")
    report = two.json("sync")["records"]
    check(report["overreaching"] == [] and report["merged"] >= 1,
          "device 2 holds nothing of device 1's endorsements back", report)
    mine = endorsements(one)
    check(len(mine) == 6 and endorsements(two) == mine,
          "device 2 has device 1's six endorsements as device 1 keeps them (own, local, no CA, two addresses, "
          "imported, rotation)", (len(mine), len(endorsements(two))))
    three.must("sync")

    # Device 3, stolen, publishes device 1's endorsement of Carol again under Dave's root as its issuer.
    with sqlite3.connect(os.path.join(one.home, "mailseal.db")) as db:
        issuer, subject, scope, certificate = db.execute(
            "SELECT issuer, subject, scope, certificate FROM endorsements WHERE amount = 60").fetchone()
    log = DeviceLog(three.home)
    three.must("trust", "anchor", "add", openssl_ca_and_mail_certificate(work, "xavier@example.net", "x")[0],
               "--amount", "1")
    three.must("sync")
    last, _ = log.own_records()[-1]
    record = log.open(last)
    record["changes"] = [{"kind": "endorsement", "certificate": base64.b64encode(bytes(certificate)).decode(),
                          "issuer": people["dave"], "subject": subject, "amount": 60, "depth": 2,
                          "scope": scope.split(","),
                          "addresses": ["carol@example.org"], "endorsement_kind": "endorsement",
                          "exportable": True, "at": record["changes"][0]["at"]}]
    log.drop_last()
    three_id = three.device_id()
    service.write("DELETE FROM trust_records WHERE device_id = ? AND seq = ?", (three_id, last))
    log.append(log.seal(record), record)
    three.must("sync")
    fresh = join_device(one, work, service.url, "device4")
    for name in ("carol", "dave", "erin"):
        fresh.must("lookup", f"{name}@example.org")
    merged = fresh.json("sync")["records"]
    check([entry["verdict"] for entry in held_back(merged, three_id)] == ["malformed"],
          "device 4 holds device 3's record back: an endorsement the profile's root signed under another issuer",
          merged)
    check(endorsements(fresh) == mine, "device 4 has device 1's endorsements as device 1 made them",
          [row[:4] for row in endorsements(fresh)])
    check(issuer != people["dave"], "the endorsement's issuer was the profile's root")
finish(minimum=5)
