#!/usr/bin/python3
"""A gateway that stops while a message waits for a key-service lookup
(docs/gateway.md, "Stopping"): the key service (a raw socket that reads the
request and never answers, tests/tools/hostile_service.py) would hold the
lookup until its deadline, set here to 10 minutes; SIGTERM cancels the
lookup, the client is told 451 (it keeps the message and sends it again)
and nothing is relayed on what the gateway knew before the lookup."""
import os
import smtplib
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Gateway, Upstream, make_credential  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from hostile_service import HostileService  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

MESSAGE = (b"From: alice@example.com\r\nTo: dave@example.net\r\nSubject: waits\r\n"
           b"Message-ID: <stop@example.com>\r\nDate: Tue, 01 Dec 2026 07:00:00 +0000\r\n\r\nHi Dave\r\n")

with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work) as service, \
        HostileService("forward", (service.host, service.port)) as hostile:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--name", "Alice", "--service", hostile.url)
    credential = make_credential(MAILSEAL, alice.home, "tests")
    slow = dict(os.environ, MAILSEAL_SERVICE_TIMEOUT="600")
    with Upstream() as upstream:
        gateway = Gateway(MAILSEAL, alice.home, upstream.port, "--sync", "0", env=slow)
        with gateway:
            hostile.mode = "silent"
            answer = {}

            def submit():
                try:
                    client = smtplib.SMTP("127.0.0.1", gateway.port, timeout=120, local_hostname="client.test")
                    client.ehlo()
                    client.login(*credential)
                    client.sendmail("alice@example.com", ["dave@example.net"], MESSAGE)
                    answer["reply"] = (250, b"accepted")
                except smtplib.SMTPResponseException as refused:
                    answer["reply"] = (refused.smtp_code, refused.smtp_error)
                except (OSError, smtplib.SMTPException) as failed:
                    answer["reply"] = (0, repr(failed).encode())

            sender = threading.Thread(target=submit)
            sender.start()
            check(hostile.wait_for_connection("silent"), "the gateway looks Dave up on the service that never answers")
            status = gateway.stop()
            check(status is not None and not gateway.alive(),
                  "SIGTERM stops the gateway though the lookup's deadline is 10 minutes away (not killed)",
                  gateway.log.decode(errors="replace")[-1500:])
            sender.join(timeout=60)
            code, text = answer.get("reply", (None, b""))
            check(code == 451 and b"stopping" in text, "the client is told 451: the gateway is stopping", answer)
            check("the gateway is stopping" in gateway.log.decode(errors="replace"),
                  "the gateway's log says why the message was not relayed")
            check(upstream.take() == [], "nothing is relayed upstream")

finish(minimum=5)
