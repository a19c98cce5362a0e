#!/usr/bin/python3
"""`mailseal service smimea` (RFC 8162): a verified service's database
exported as DNS SMIMEA records, read back the way a resolver's operator
would: each owner name recomputed from RFC 8162 section 3 with Python's
hashlib, each certificate read by `openssl x509`, and the zone checked by
`named-checkzone` (bind9-utils) where it is installed. Only verified
addresses of the domain are exported: not a pending claim, not another
domain."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, mailseal, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Upstream  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from service_tool import KeyService, challenge_token  # noqa: E402

require_mailseal()

LINE = re.compile(r"^([0-9a-f]{56})\._smimecert\.([a-z0-9.-]+)\. (\d+) IN SMIMEA 3 0 0 ([0-9a-f]+)$")


def certificate_emails(der):
    text = subprocess.run(["openssl", "x509", "-inform", "der", "-noout", "-ext", "subjectAltName"], input=der,
                          capture_output=True).stdout.decode()
    return re.findall(r"email:([^,\s]+)", text)


with tempfile.TemporaryDirectory() as work, Upstream() as upstream, \
        KeyService(MAILSEAL, work, extra=["--smtp", f"127.0.0.1:{upstream.port}", "--mail-from", "keys@keys.test"]) \
        as service:
    kept = []
    alice, bob, carol = Home(work, "alice"), Home(work, "bob"), Home(work, "carol")
    alice.must("init", "alice@example.com", "--name", "Alice", "--service", service.url)
    status, _ = service.request("POST", "/verify/" + str(challenge_token(upstream, "alice@example.com", kept)), body=b"")
    check(status == 200, "Alice's address is verified", status)
    bob.must("init", "bob@example.com", "--name", "Bob", "--service", service.url)  # pending: never confirmed
    carol.must("init", "carol@example.org", "--name", "Carol", "--service", service.url)
    status, _ = service.request("POST", "/verify/" + str(challenge_token(upstream, "carol@example.org", kept)), body=b"")
    check(status == 200, "Carol's address (another domain) is verified", status)

    exported = mailseal("service", "smimea", "--domain", "Example.com", "--db", service.database, "--ttl", "600")
    lines = exported.stdout.decode().splitlines()
    check(exported.returncode == 0 and len(lines) == 2,
          "two records: Alice's signing and encryption certificates", (exported.stdout, exported.stderr))
    parsed = [LINE.match(line) for line in lines]
    check(lines and all(parsed), "each line is OWNER TTL IN SMIMEA 3 0 0 HEX", lines)
    owner = hashlib.sha256(b"alice").hexdigest()[:56]
    check(all(m and m.group(1) == owner and m.group(2) == "example.com" and m.group(3) == "600" for m in parsed),
          "the owner is SHA2-256('alice') truncated to 28 octets, under _smimecert.example.com.",
          [m.groups() if m else None for m in parsed])
    emails = [certificate_emails(bytes.fromhex(m.group(4))) for m in parsed if m]
    check(emails == [["alice@example.com"], ["alice@example.com"]],
          "each record's data is a whole DER certificate for alice@example.com (openssl x509)", emails)
    check(all("bob" not in line and "carol" not in line for line in lines) and
          hashlib.sha256(b"bob").hexdigest()[:56] not in exported.stdout.decode(),
          "Bob's pending address and Carol's other domain are not exported")

    as_json = mailseal("--json", "service", "smimea", "--domain", "example.com", "--db", service.database)
    document = json.loads(as_json.stdout) if as_json.returncode == 0 else {}
    check([record.get("zone_line", "").replace(" 3600 ", " 600 ") for record in document.get("records", [])] == lines
          and all(record.get("address") == "alice@example.com" for record in document["records"]),
          "--json: the same records, with their addresses", as_json.stdout)
    refused = mailseal("service", "smimea", "--domain", "example.com;", "--db", service.database)
    check(refused.returncode != 0 and b"not a domain name" in refused.stderr,
          "a domain that is not a host name is refused", refused.stderr)

    checker = shutil.which("named-checkzone")
    if checker is None:  # tests/deps/installed.py requires it; this keeps a partial machine running
        print("note: named-checkzone (bind9-utils) is not installed: the zone file is not checked by it")
    else:
        zone = os.path.join(work, "example.com.zone")
        with open(zone, "w") as out:
            out.write("$ORIGIN example.com.\n$TTL 600\n"
                      "@ IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 600\n"
                      "@ IN NS ns.example.com.\nns IN A 192.0.2.1\n" + "\n".join(lines) + "\n")
        result = subprocess.run([checker, "example.com", zone], capture_output=True, text=True)
        check(result.returncode == 0, "named-checkzone loads the zone with the records", result.stdout + result.stderr)

finish(minimum=9)
