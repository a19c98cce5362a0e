#!/usr/bin/python3
"""A relay that stalls does not stall the key service (docs/service.md,
"Verified addresses": the outbox). The relay here is a raw socket server
that accepts SMTP connections and never says a word, as a hung or
tar-pitting relay does. `mailseal serve --smtp` at it, on its default SQLite
database (one connection): a publication commits, queues its challenge mail
and waits for the relay (20 s a step, the service's relay timeout) with no
connection to the database held, so that lookups, pages and another
profile's publication from other clients answer meanwhile. When the relay
times out, the publication's receipt says the mail failed, the claim stays
pending (not served) and the outbox keeps the failure, not the message.

The only time bound asserted: each request made while the relay stalls is
answered before the relay's timeout could have run out (10 s each)."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

ANSWER_WITHIN = 10  # seconds; the relay's timeout is 20


class SilentRelay:
    """Accepts connections on 127.0.0.1 and never answers (no greeting)."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self.accept, daemon=True)

    def accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)  # held open, never written to

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exception):
        self.listener.close()
        for connection in self.accepted:
            connection.close()


def wait_until(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def timed(service, method, target):
    """(status, seconds) of one request from another client."""
    started = time.monotonic()
    try:
        status, _ = service.request(method, target, timeout=ANSWER_WITHIN)
    except OSError as error:  # a timeout: the service stalled
        return str(error), time.monotonic() - started
    return status, time.monotonic() - started


with tempfile.TemporaryDirectory() as work, SilentRelay() as relay, \
        KeyService(MAILSEAL, work, extra=["--smtp", f"127.0.0.1:{relay.port}", "--mail-from", "keys@keys.test"]) \
        as service:
    alice, bob = Home(work, "alice"), Home(work, "bob")
    # Bob's profile is made first (its keys take a while on a busy machine),
    # published later; it names two addresses: two mails queued.
    bob.must("init", "bob@example.org", "bob@example.net", "--name", "Bob", "--suite", "modern")
    publishing = subprocess.Popen([MAILSEAL, "--home", alice.home, "--json", "init", "alice@example.com", "--name",
                                   "Alice", "--suite", "modern", "--service", service.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(wait_until(lambda: len(relay.accepted) >= 1), "the service connected to the relay to mail Alice's challenge")
    queued = service.rows("SELECT account, address, state FROM outbox")
    check(len(queued) == 1 and queued[0][1:] == ("alice@example.com", "queued"),
          "the publication committed with its mail queued in the outbox before the relay answered", queued)
    check(publishing.poll() is None, "Alice's publication is still waiting for the relay")
    fingerprint = queued[0][0] if queued else "none"

    # --- Meanwhile, other clients --------------------------------------------
    answers = {
        "health": timed(service, "GET", "/v1/health"),
        "Alice's profile by fingerprint": timed(service, "GET", "/v1/accounts/" + urllib.parse.quote(fingerprint)),
        "a lookup of Alice's pending address (404)": timed(service, "GET", "/v1/addresses/alice%40example.com"),
        "the lookup page": timed(service, "GET", "/lookup?q=" + urllib.parse.quote(fingerprint)),
    }
    for what, (status, seconds) in answers.items():
        expected = 404 if "404" in what else 200
        check(status == expected and seconds < ANSWER_WITHIN,
              f"while the relay stalls, {what} is answered ({seconds:.2f} s)", status)
    # Another profile's publication commits too (the database is not held),
    # then waits for the relay in its turn.
    other = subprocess.Popen([MAILSEAL, "--home", bob.home, "publish", "--service", service.url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(wait_until(lambda: len(service.rows("SELECT state FROM outbox WHERE account <> ?", (fingerprint,))) == 2,
                     ANSWER_WITHIN) and publishing.poll() is None,
          "Bob's publication commits while Alice's mail still waits for the relay")

    # --- The relay times out --------------------------------------------------
    out, err = publishing.communicate(timeout=90)
    try:
        made = json.loads(out)
    except ValueError:
        made = {}
    check(publishing.returncode == 0 and made.get("published") and
          made.get("claims") == [{"address": "alice@example.com", "state": "mail_failed"}],
          "Alice's publication stands; its receipt says the challenge mail failed", (out, err))
    out, err = other.communicate(timeout=90)
    check(other.returncode == 0 and b"could not send the mail" in err and b"mailseal publish" in err,
          "Bob's publish warns that the mail was not sent and says how to retry", err.decode())
    check(wait_until(lambda: {row[0] for row in service.rows("SELECT state FROM outbox")} == {"failed"}, 60),
          "every mail is recorded as failed once the relay timed out")
    rows = service.rows("SELECT address, state, message, error FROM outbox ORDER BY address")
    check([row[:3] for row in rows] == [("alice@example.com", "failed", ""), ("bob@example.net", "failed", ""),
                                        ("bob@example.org", "failed", "")] and all(row[3] for row in rows),
          "the outbox keeps each failure with its reason, and no message (no token)", rows)
    check(len(relay.accepted) == 2 and sum("not tried" in row[3] for row in rows) == 1,
          "after one mail of a publication failed, its other mail was not tried (one connection each)",
          (len(relay.accepted), rows))
    claims = service.rows("SELECT address, state, token_expires_at <= claimed_at + 60 FROM claims ORDER BY address")
    check(claims == [("alice@example.com", "pending", 1), ("bob@example.net", "pending", 1),
                     ("bob@example.org", "pending", 1)],
          "both claims stay pending, their undelivered links expired", claims)
    status, _ = service.request("GET", "/v1/addresses/alice%40example.com")
    check(status == 404, "a pending claim whose mail failed is not served", status)
    check(service.alive(), "the service still runs")

finish(minimum=16)
