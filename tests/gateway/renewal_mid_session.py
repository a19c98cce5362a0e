#!/usr/bin/python3
"""A gateway session keeps its store connection and its decoded signing key
for its messages (docs/gateway.md, "What happens to a message"); a renewal
made by another process while the session is open must reach the session's
next message: it is signed with the renewed certificate (same key), not the
one the session started with. The gateway's clock is moved with the other
process's (libfaketime, a clock file), past the point where the mail
certificates are due; `mailseal sign` on Alice's admin device renews them
(docs/profile.md, "Renewal"). Bob decrypts each relayed message and reports
its signer."""
import json
import os
import smtplib
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, faketime_environment, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Gateway, Upstream, make_credential  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")

require_mailseal()

LATER = 600 * 86400  # mail certificates last two years and are due in their last third


def message(subject):
    return (f"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.com>\r\n\r\nbody of {subject}\r\n").encode()


def set_clock(path, seconds):
    """Moves the gateway's clock `seconds` ahead of the real one (atomically)."""
    with open(path + ".new", "w") as out:
        out.write(f"{seconds:+d}\n")
    os.replace(path + ".new", path)


def signer_of(bob, content, seconds):
    """Bob decrypts a relayed message at the real clock moved by `seconds`: its signature report."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as relayed:
        relayed.write(content)
        relayed.flush()
        result = bob.run("--json", "decrypt", "--no-learn", relayed.name,
                         env=faketime_environment(offset=f"{seconds:+d}"))
    report = json.loads(result.stdout or b"{}")
    return report.get("signature") or {}


with tempfile.TemporaryDirectory() as work:
    alice, bob = Home(work, "alice"), Home(work, "bob")
    alice.must("init", "alice@example.com", "--name", "Alice")
    bob.must("init", "bob@example.org", "--name", "Bob")
    bob.must("export", "certificates", "-o", os.path.join(work, "bob.pem"))
    alice.must("contact", "import", os.path.join(work, "bob.pem"))
    alice.must("export", "certificates", "-o", os.path.join(work, "alice.pem"))
    bob.must("contact", "import", os.path.join(work, "alice.pem"))
    credential = make_credential(MAILSEAL, alice.home, "tests")
    clock = os.path.join(work, "gateway-clock")
    set_clock(clock, 0)
    with Upstream() as upstream, \
            Gateway(MAILSEAL, alice.home, upstream.port, "--sync", "0",
                    env=faketime_environment(timestamp_file=clock, multithreaded=True)) as gateway, \
            smtplib.SMTP("127.0.0.1", gateway.port, timeout=120, local_hostname="client.test") as client:
        client.login(*credential)
        client.sendmail("alice@example.com", ["bob@example.org"], message("before"))
        [first] = upstream.take()
        before = signer_of(bob, first.content, 0)
        check(before.get("valid") and before.get("signer"), "the first message is signed; Bob verifies it", before)

        # Another process renews Alice's certificates, 600 days on; the session stays open.
        set_clock(clock, LATER)
        renewing = alice.run("sign", stdin=message("renewing"), env=faketime_environment(offset=f"{LATER:+d}"))
        check(renewing.returncode == 0 and b"renewed" in renewing.stderr,
              "`mailseal sign` in another process renews Alice's certificates", renewing.stderr.decode()[-400:])

        client.sendmail("alice@example.com", ["bob@example.org"], message("after"))
        [second] = upstream.take()
        after = signer_of(bob, second.content, LATER)
        check(after.get("valid"), "the session's next message is signed validly", after)
        before_signer, after_signer = before.get("signer") or {}, after.get("signer") or {}
        check(after_signer.get("fingerprint") and after_signer.get("fingerprint") != before_signer.get("fingerprint"),
              "... with the renewed certificate, not the one the session started with", (before_signer, after_signer))
        check(after_signer.get("key_fingerprint") == before_signer.get("key_fingerprint"),
              "... and the same key (a renewal keeps it)", (before_signer, after_signer))

finish(minimum=5)
