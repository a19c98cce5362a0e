#!/usr/bin/env python3
"""The key service's challenge mails through a relay that requires TLS and an
account (`serve --smtp-tls starttls|tls --smtp-ca FILE --smtp-user USER
--smtp-password-file FILE`; docs/service.md, "Running it"), as a mail
provider's submission server does: aiosmtpd requiring STARTTLS (or implicit
TLS) and AUTH, with a self-signed certificate made by openssl.

- With the relay's certificate trusted and the right password, the challenge
  reaches the mailbox, its link confirms the address, and lookups serve it.
- With a wrong password, or a relay whose certificate the service does not
  trust, nothing is sent: the receipt says the mail failed, the claim stays
  pending (not served) and the outbox keeps the reason, not the token nor
  the password.
- A password file readable by others, and an account without TLS to a relay
  that is not on loopback, stop `serve` before it starts, saying why."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Upstream  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from service_tool import KeyService, challenge_token, raw  # noqa: E402

require_mailseal()

USER, PASSWORD = "alice", "correct horse"  # what smtp_tool.Upstream(auth=True) takes


def self_signed(work, name):
    certificate, key = os.path.join(work, name + ".pem"), os.path.join(work, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", certificate], check=True, capture_output=True)
    return certificate, key


def password_file(work, name, password, mode=0o600):
    path = os.path.join(work, name)
    with open(path, "w") as out:
        out.write(password + "\n")
    os.chmod(path, mode)
    return path


def relay_options(port, mode, ca, password):
    return ["--smtp", f"127.0.0.1:{port}", "--smtp-tls", mode, "--smtp-ca", ca, "--smtp-user", USER,
            "--smtp-password-file", password, "--mail-from", "keys@keys.test"]


def publish(home, service):
    """`init ADDRESS --service URL --json` of a new profile: (exit status, receipt's claims, stderr)."""
    made = home.run("init", home.address, "--suite", "modern", "--service", service.url, "--json")
    try:
        claims = json.loads(made.stdout).get("claims")
    except ValueError:
        claims = None
    return made.returncode, claims, made.stderr.decode(errors="replace")


with tempfile.TemporaryDirectory() as work:
    relay_certificate, relay_key = self_signed(work, "relay")
    other_certificate, _ = self_signed(work, "other")
    right = password_file(work, "right.password", PASSWORD)
    wrong = password_file(work, "wrong.password", "battery staple")

    for mode in ("starttls", "tls"):
        folder = os.path.join(work, mode)
        os.mkdir(folder)
        with Upstream(tls=mode, certificate=relay_certificate, key=relay_key, auth=True) as upstream:
            # The right account, the relay's certificate trusted.
            with KeyService(MAILSEAL, os.path.join(folder), extra=relay_options(
                    upstream.port, mode, relay_certificate, right)) as service:
                alice = Home(folder, "alice")
                alice.address = "alice@example.com"
                status, claims, err = publish(alice, service)
                token = challenge_token(upstream, "alice@example.com", [])
                check(status == 0 and claims == [{"address": "alice@example.com", "state": "pending"}] and token,
                      f"{mode} and AUTH: the challenge mail reaches the mailbox", (status, claims, err))
                confirmed = raw(service, "POST", f"/verify/{token}")
                looked = raw(service, "GET", "/v1/addresses/alice%40example.com")
                check(confirmed[0] == 200 and looked[0] == 200 and looked[2].get("verified") is True,
                      f"{mode} and AUTH: its link confirms the address, which is then served as verified",
                      (confirmed[0], looked[0]))

            # A wrong password; then a relay certificate the service does not trust.
            for name, ca, password, reason in (
                    ("a wrong password", relay_certificate, wrong, "refused the key service's credentials"),
                    ("a relay certificate not trusted", other_certificate, right, "TLS certificate is not valid")):
                sub = os.path.join(folder, name.replace(" ", "-"))
                os.mkdir(sub)
                with KeyService(MAILSEAL, sub, extra=relay_options(upstream.port, mode, ca, password)) as service:
                    bob = Home(sub, "bob")
                    bob.address = "bob@example.org"
                    status, claims, err = publish(bob, service)
                    arrived = upstream.take()
                    outbox = service.rows("SELECT state, message, error FROM outbox")
                    check(status == 0 and claims == [{"address": "bob@example.org", "state": "mail_failed"}]
                          and arrived == [],
                          f"{mode}, {name}: nothing is sent and the receipt says the mail failed",
                          (status, claims, err, len(arrived)))
                    check(raw(service, "GET", "/v1/addresses/bob%40example.org")[0] == 404
                          and len(outbox) == 1 and outbox[0][0] == "failed" and outbox[0][1] in ("", None)
                          and reason in outbox[0][2] and "horse" not in outbox[0][2] and "staple" not in outbox[0][2],
                          f"{mode}, {name}: the claim is not served; the outbox keeps the reason ({reason}), "
                          "not the token nor the password", outbox)

    # Refused before starting.
    loose = password_file(work, "loose.password", PASSWORD, mode=0o644)
    started = subprocess.run([MAILSEAL, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(work, "refused.db"),
                              *relay_options(2525, "starttls", relay_certificate, loose)],
                             capture_output=True, timeout=30)
    check(started.returncode != 0 and b"readable by group or others" in started.stderr,
          "a relay password file readable by others: serve refuses to start, saying why", started.stderr)
    started = subprocess.run([MAILSEAL, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(work, "refused.db"),
                              "--public-url", "https://keys.example.org", "--smtp", "smtp.example.com:587",
                              "--smtp-user", USER, "--smtp-password-file", right], capture_output=True, timeout=30)
    check(started.returncode != 0 and b"in clear" in started.stderr,
          "an account without TLS to a relay off loopback: serve refuses to start, saying why", started.stderr)

finish(minimum=14)
