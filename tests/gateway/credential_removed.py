#!/usr/bin/python3
"""Removing a gateway credential ends what it authorised (docs/gateway.md,
"Authentication"): an SMTP session that authenticated with it relays nothing
more. Another process (`mailseal credential remove`, `credential add
--replace`) changes the store while the session stays open; the session's
next MAIL gets 530 saying the credential was removed or replaced, the client
must authenticate again, and the upstream (a real SMTP server) receives
nothing more. The same at the end of DATA, for a removal between MAIL and the
data. A replacement (same name, new secret) ends the old session as well; the
new secret works on it. Sessions of other credentials go on."""
import email.utils
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Gateway, RawClient, Upstream, auth_plain, make_credential  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")

require_mailseal()

SENDER = "alice@example.com"
RECIPIENT = "bob@example.org"


def message(subject):
    return (f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\nDate: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{subject}@example.com>\r\n\r\nbody of {subject}\r\n")


def begin(client):
    """MAIL and RCPT: the two reply codes."""
    return client.command(f"MAIL FROM:<{SENDER}>")[0], client.command(f"RCPT TO:<{RECIPIENT}>")[0]


def send_data(client, subject):
    """DATA and the message: (code of the 354, final reply)."""
    started = client.command("DATA")[0]
    if started != 354:
        return started, None
    client.send(message(subject) + ".\r\n")
    return started, client.reply()


def relay(client, subject):
    """One whole transaction on an open session: the final reply (code, lines)."""
    mail, rcpt = begin(client)
    if (mail, rcpt) != (250, 250):
        return (mail if mail != 250 else rcpt), []
    return send_data(client, subject)[1]


with tempfile.TemporaryDirectory() as work:
    alice = Home(work, "alice")
    alice.must("init", SENDER, "--name", "Alice")
    laptop = make_credential(MAILSEAL, alice.home, "laptop")
    mutt = make_credential(MAILSEAL, alice.home, "mutt")
    phone = make_credential(MAILSEAL, alice.home, "phone")
    other = make_credential(MAILSEAL, alice.home, "other")
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        # Removal between two messages of one session.
        client = RawClient(gateway.port)
        bystander = RawClient(gateway.port)
        check(client.login(laptop) == 235 and bystander.login(other) == 235, "two sessions authenticate")
        code, lines = relay(client, "first")
        check(code == 250 and len(upstream.take()) == 1, "the first message is relayed", (code, lines))
        alice.must("credential", "remove", "laptop")
        code, lines = client.command(f"MAIL FROM:<{SENDER}>")
        check(code == 530 and "'laptop' was removed or replaced" in lines[0],
              "the next MAIL of the same session: 530 saying the credential was removed", (code, lines))
        check(client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 503 and client.command("DATA")[0] == 503,
              "no transaction was opened: RCPT and DATA are refused")
        code, lines = client.command(f"MAIL FROM:<{SENDER}>")
        check(code == 530, "the session stays unauthenticated: MAIL again gets 530", (code, lines))
        check(client.command(auth_plain(*laptop))[0] == 535, "AUTH again with the removed credential: 535")
        check(upstream.take() == [], "the upstream received nothing after the removal")
        code, lines = relay(bystander, "bystander")
        check(code == 250 and len(upstream.take()) == 1,
              "a session of another credential goes on relaying", (code, lines))
        client.close()

        # Removal between MAIL and the end of the data: refused at the end of DATA, before anything is signed.
        client = RawClient(gateway.port)
        check(client.login(phone) == 235, "a session authenticates with the credential 'phone'")
        check(begin(client) == (250, 250), "MAIL and RCPT are accepted")
        alice.must("credential", "remove", "phone")
        started, final = send_data(client, "between")
        check(started == 354 and final is not None and final[0] == 530 and "'phone' was removed" in final[1][0],
              "removed after RCPT: the end of DATA gets 530, nothing relayed", (started, final))
        check(upstream.take() == [], "the upstream received nothing of that message")
        check(client.command(f"MAIL FROM:<{SENDER}>")[0] == 530, "and the next MAIL gets 530")
        client.close()

        # Replacement: the same name, a new secret. The old session ends; the new secret works on it.
        client = RawClient(gateway.port)
        check(client.login(mutt) == 235, "a session authenticates with the credential 'mutt'")
        code, lines = relay(client, "before-replace")
        check(code == 250 and len(upstream.take()) == 1, "a message is relayed before the replacement", (code, lines))
        made = json.loads(alice.must("--json", "credential", "add", "mutt", "--replace").stdout)
        replaced = (made["name"], made["secret"])
        code, lines = client.command(f"MAIL FROM:<{SENDER}>")
        check(code == 530 and "'mutt' was removed or replaced" in lines[0],
              "after `credential add mutt --replace` the old session's MAIL gets 530", (code, lines))
        check(upstream.take() == [], "the upstream received nothing on the replaced credential")
        check(client.command(auth_plain(*replaced))[0] == 235,
              "the session authenticates again on the same connection, with the new secret")
        code, lines = relay(client, "after-replace")
        received = upstream.take()
        check(code == 250 and len(received) == 1 and b"Subject: after-replace" in received[0].content,
              "and relays again", (code, lines))
        client.close()

        # Removed, then added again under the same name: a new secret, so the old session is not revived.
        client = RawClient(gateway.port)
        check(client.login(replaced) == 235, "a session authenticates with the current 'mutt'")
        alice.must("credential", "remove", "mutt")
        make_credential(MAILSEAL, alice.home, "mutt")
        code, lines = relay(client, "readded")
        check(code == 530, "removed and added again under the same name: the old session's MAIL gets 530",
              (code, lines))
        check(upstream.take() == [], "the upstream received nothing")
        client.close()
        bystander.close()
    gateway_log = gateway.log.decode(errors="replace")
    check(gateway_log.count("was removed or replaced; the session must authenticate again") >= 4,
          "the gateway logs each refusal", gateway_log[-1500:])
    for name, secret in (laptop, mutt, phone, replaced):
        check(secret not in gateway_log, f"the log holds no secret ({name})")

finish(minimum=25)
