#!/usr/bin/python3
"""The SMTP gateway end to end: a real upstream SMTP server (aiosmtpd), real
clients (swaks and smtplib), and what arrives checked with mailseal and with
openssl cms. Then the input no client should send: malformed commands,
over-long lines, oversized messages, clients that vanish mid-DATA, and
upstreams that refuse or disappear."""
import concurrent.futures
import email.utils
import json
import os
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Gateway, RawClient, Upstream  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from service_tool import KeyService  # noqa: E402

require_mailseal()
if shutil.which("swaks") is None:
    skip("swaks is not installed (scripts/install-deps.sh installs it)")

# smtplib's EHLO name; without one it asks DNS for this machine's name, which
# stalls for seconds where the host name is not in /etc/hosts (a bare chroot).
CLIENT_NAME = "client.test"


class Person(Home):
    def read(self, content):
        """decrypt or verify a received message: (status, JSON report, plaintext, stderr)."""
        path = os.path.join(self.work, f"in-{secrets.token_hex(4)}.eml")
        with open(path, "wb") as out:
            out.write(content)
        command = "decrypt" if b"application/pkcs7-mime" in content.split(b"\r\n\r\n")[0] else "verify"
        result = self.run("--json", command, "--no-learn", path, "-o", path + ".out")
        report = json.loads(result.stdout) if result.stdout.strip() else {}
        plain = open(path + ".out", "rb").read() if os.path.exists(path + ".out") else b""
        return result.returncode, report, plain, result.stderr.decode()


def message(sender, to, subject, body, cc=None, bcc=None):
    headers = f"From: {sender}\r\nTo: {to}\r\n"
    if cc:
        headers += f"Cc: {cc}\r\n"
    if bcc:
        headers += f"Bcc: {bcc}\r\n"
    headers += f"Subject: {subject}\r\nDate: {email.utils.formatdate()}\r\nMessage-ID: <{secrets.token_hex(8)}@test>\r\n"
    return (headers + "\r\n" + body).encode()


def outer_headers(content):
    return content.split(b"\r\n\r\n", 1)[0].decode(errors="replace")


def swaks(port, *arguments):
    return subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--timeout", "30", *arguments],
                          capture_output=True, text=True)


def openssl(*arguments, stdin=None):
    return subprocess.run(["openssl", *arguments], capture_output=True, input=stdin)


def openssl_setup(*arguments):
    """An openssl step that sets a test up: its failure ends the script, loudly."""
    result = openssl(*arguments)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(arguments)} failed: {result.stderr.decode(errors='replace')}")
    return result


def self_signed(work, name):
    certificate, key = os.path.join(work, name + ".pem"), os.path.join(work, name + ".key")
    openssl_setup("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                  "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                  "-keyout", key, "-out", certificate)
    return certificate, key


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work) as service:
    alice, bob, carol = Person(work, "alice"), Person(work, "bob"), Person(work, "carol")
    alice.must("init", "alice@example.com", "--name", "Alice", "--service", service.url)
    bob.must("init", "bob@example.org", "--name", "Bob")
    # Carol publishes to the key service only: Alice's gateway finds her there.
    carol.must("init", "carol@example.net", "--name", "Carol", "--service", service.url)
    bob_certificates = os.path.join(work, "bob.pem")
    bob.must("export", "certificates", "-o", bob_certificates)
    alice.must("contact", "import", bob_certificates)
    alice_certificates = os.path.join(work, "alice.pem")
    alice.must("export", "certificates", "-o", alice_certificates)
    for reader in (bob, carol):
        reader.must("contact", "import", alice_certificates)

    # Bob's encryption key for openssl.
    password = os.path.join(work, "password")
    with open(password, "w") as out:
        out.write("pw\n")
    bob.must("export", "pkcs12", "--purpose", "encryption", "-o", os.path.join(work, "bob-enc.p12"),
             "--password-file", password)
    openssl_setup("pkcs12", "-in", os.path.join(work, "bob-enc.p12"), "-passin", "pass:pw", "-nodes", "-nocerts",
                  "-out", os.path.join(work, "bob-enc.key"))
    openssl_setup("pkcs12", "-in", os.path.join(work, "bob-enc.p12"), "-passin", "pass:pw", "-nokeys", "-clcerts",
                  "-out", os.path.join(work, "bob-enc.pem"))

    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        # swaks: one recipient with a key.
        body = "Hello Bob,\r\n.a line that starts with a dot\r\n.\r\n..two dots\r\nbye\r\n"
        eml = os.path.join(work, "to-bob.eml")
        with open(eml, "wb") as out:
            out.write(message("Alice <alice@example.com>", "Bob <bob@example.org>", "lunch", body))
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode == 0 and "250 2.0.0 relayed: signed and encrypted" in sent.stdout,
              "swaks submits to Bob through the gateway: 250, signed and encrypted", sent.stdout[-800:])
        arrived = upstream.take()
        check(len(arrived) == 1 and arrived[0].recipients == ["bob@example.org"]
              and arrived[0].mail_from == "alice@example.com", "one copy arrives upstream, envelope unchanged")
        content = arrived[0].content if arrived else b""
        check("application/pkcs7-mime" in outer_headers(content) and b"Hello Bob" not in content
              and "lunch" not in outer_headers(content), "it arrives encrypted: no plaintext, the Subject is protected",
              outer_headers(content))
        status, report, plain, error = bob.read(content)
        check(status == 0 and report.get("signature", {}).get("valid") and b"Subject: lunch" in plain
              and "\r\n.a line that starts with a dot\r\n.\r\n..two dots\r\n" in plain.decode(errors="replace"),
              "Bob decrypts it with mailseal: Alice's signature valid, dot-stuffed lines intact", (report, error))
        with open(os.path.join(work, "arrived.eml"), "wb") as out:
            out.write(content)
        decrypted = openssl("cms", "-decrypt", "-in", os.path.join(work, "arrived.eml"), "-recip",
                            os.path.join(work, "bob-enc.pem"), "-inkey", os.path.join(work, "bob-enc.key"))
        check(decrypted.returncode == 0 and b"application/pkcs7-signature" in decrypted.stdout,
              "openssl cms -decrypt reads it with Bob's exported key: a signed message inside",
              decrypted.stderr.decode())
        with open(os.path.join(work, "inner.eml"), "wb") as out:
            out.write(decrypted.stdout)
        verified = openssl("cms", "-verify", "-in", os.path.join(work, "inner.eml"), "-CAfile", alice_certificates,
                           "-purpose", "smimesign")
        check(verified.returncode == 0 and b"Hello Bob" in verified.stdout,
              "openssl cms -verify accepts Alice's signature inside", verified.stderr.decode())

        # smtplib: To Bob, Bcc Carol (found on the key service).
        client = smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, local_hostname=CLIENT_NAME)
        code, features = client.ehlo("client.example")
        check(code == 250 and all(word in features.decode() for word in ("PIPELINING", "8BITMIME", "SIZE")),
              "EHLO offers PIPELINING, 8BITMIME and SIZE", features)
        refused = client.sendmail("alice@example.com", ["bob@example.org", "carol@example.net"],
                                  message("alice@example.com", "bob@example.org", "plans", "Meeting at noon\r\n",
                                          bcc="carol@example.net"))
        check(refused == {}, "smtplib sends to Bob with Carol in Bcc")
        copies = {tuple(m.recipients): m.content for m in upstream.take()}
        check(set(copies) == {("bob@example.org",), ("carol@example.net",)},
              "two copies arrive: one to Bob, one to Carol alone", list(copies))
        to_bob = copies.get(("bob@example.org",), b"")
        to_carol = copies.get(("carol@example.net",), b"")
        status, report, plain, _ = bob.read(to_bob)
        check(status == 0 and b"carol" not in plain.lower() and b"carol" not in outer_headers(to_bob).lower().encode(),
              "Bob's copy decrypts and does not name Carol anywhere", plain[:600])
        status, report, plain, error = carol.read(to_carol)
        check(status == 0 and b"Meeting at noon" in plain and report.get("signature", {}).get("valid"),
              "Carol decrypts her own copy (her key came from the key service)", error)
        status, _, _, error = carol.read(to_bob)
        check(status != 0, "Carol cannot decrypt Bob's copy", error)

        # A recipient without any key: opportunistic sends signed only.
        refused = client.sendmail("alice@example.com", ["dave@example.com"],
                                  message("alice@example.com", "dave@example.com", "hello dave", "Hi Dave\r\n"))
        arrived = upstream.take()
        content = arrived[0].content if arrived else b""
        check(refused == {} and len(arrived) == 1 and "multipart/signed" in outer_headers(content)
              and b"Hi Dave" in content, "to Dave (no key anywhere): sent signed, readable", outer_headers(content))
        with open(os.path.join(work, "to-dave.eml"), "wb") as out:
            out.write(content)
        verified = openssl("cms", "-verify", "-in", os.path.join(work, "to-dave.eml"), "-CAfile", alice_certificates,
                           "-purpose", "smimesign")
        check(verified.returncode == 0, "openssl cms -verify accepts the signed-only message", verified.stderr)

        # 8-bit text.
        refused = client.sendmail("alice@example.com", ["bob@example.org"],
                                  message("alice@example.com", "bob@example.org", "grüße", "Grüße aus Köln\r\n")
                                  .replace(b"Subject: gr\xc3\xbc\xc3\x9fe", b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?="),
                                  mail_options=["BODY=8BITMIME"])
        arrived = upstream.take()
        status, _, plain, error = bob.read(arrived[0].content if arrived else b"")
        check(refused == {} and status == 0 and "Grüße aus Köln".encode() in plain, "8-bit text arrives intact",
              error)

        # A message from someone else passes unchanged (opportunistic).
        original = message("mallory@example.com", "bob@example.org", "not alice", "plain\r\n")
        client.sendmail("mallory@example.com", ["bob@example.org"], original)
        arrived = upstream.take()
        check(len(arrived) == 1 and arrived[0].content.rstrip(b"\r\n") == original.rstrip(b"\r\n"),
              "a From outside the profile is relayed unchanged under opportunistic")
        client.quit()

        # Pipelining: the whole transaction in one write.
        raw = RawClient(gateway.port)
        raw.send("EHLO pipeline.example\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"
                 "RCPT TO:<carol@example.net>\r\nDATA\r\n")
        replies = [raw.reply()[0] for _ in range(5)]
        raw.send(message("alice@example.com", "bob@example.org, carol@example.net", "pipelined", "p\r\n")
                 + b".\r\nQUIT\r\n")
        final = raw.reply()[0]
        check(replies == [250, 250, 250, 250, 354] and final == 250 and raw.reply()[0] == 221,
              "pipelined commands are answered in order", replies)
        arrived = upstream.take()
        check(len(arrived) == 1 and sorted(arrived[0].recipients) == ["bob@example.org", "carol@example.net"],
              "both visible recipients share one encrypted copy")
        raw.close()

    # Required policy.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--policy", "required") as gateway:
        client = smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, local_hostname=CLIENT_NAME)
        try:
            client.sendmail("alice@example.com", ["bob@example.org", "dave@example.com"],
                            message("alice@example.com", "bob@example.org, dave@example.com", "x", "secret\r\n"))
            outcome = None
        except smtplib.SMTPDataError as error:
            outcome = error
        check(outcome is not None and outcome.smtp_code == 550 and b"dave@example.com" in outcome.smtp_error
              and b"bob@example.org" not in outcome.smtp_error,
              "required: 550 naming only the recipient without a key", outcome)
        check(upstream.take() == [], "required: nothing was relayed")
        refused = client.sendmail("alice@example.com", ["bob@example.org"],
                                  message("alice@example.com", "bob@example.org", "x", "secret\r\n"))
        arrived = upstream.take()
        check(refused == {} and len(arrived) == 1 and b"secret" not in arrived[0].content,
              "required: a message everyone can read is encrypted and relayed")
        try:
            client.sendmail("mallory@example.com", ["bob@example.org"],
                            message("mallory@example.com", "bob@example.org", "x", "y\r\n"))
            outcome = None
        except smtplib.SMTPDataError as error:
            outcome = error
        check(outcome is not None and outcome.smtp_code == 550 and upstream.take() == [],
              "required: a From outside the profile is refused", outcome)
        client.quit()

    # Carol removes a device: her keys rotate on the key service, and Alice's gateway picks the new ones up by
    # itself (--refresh 0: at every message) without anyone running lookup.
    carol_phone = Person(work, "carol-phone")
    pin = json.loads(carol.must("--json", "device", "invite").stdout)["pin"]
    carol_phone.must("device", "join", "carol@example.net", "--service", service.url, "--pin", pin, "--name", "phone")
    carol.must("sync")
    carol_phone.must("sync")
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--refresh", "0") as gateway:
        def send_to_carol(subject):
            with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, local_hostname=CLIENT_NAME) as session:
                session.sendmail("alice@example.com", ["carol@example.net"],
                                 message("alice@example.com", "carol@example.net", subject, subject + "\r\n"))
            arrived = upstream.take()
            return arrived[0].content if arrived else b""

        before = send_to_carol("before the removal")
        check(carol_phone.read(before)[0] == 0 and carol.read(before)[0] == 0,
              "before the removal both of Carol's devices read Alice's mail")
        phone_id = next(d["device_id"] for d in json.loads(carol_phone.must("--json", "device", "list").stdout)["devices"]
                        if d["this_device"])
        carol.must("device", "remove", phone_id)
        after = send_to_carol("after the removal")
        status, _, plain, error = carol.read(after)
        check(status == 0 and b"after the removal" in plain, "after it Carol's remaining device reads the next one",
              error)
        check(carol_phone.read(after)[0] != 0,
              "the removed phone cannot: the gateway fetched Carol's rotated key from the key service by itself")
        check("smime-type=authEnveloped-data" in outer_headers(after), "so far Carol gets AES-GCM")

        # Carol puts her keys on an iPhone: her certificates now ask for AES-CBC, published to the key service,
        # sent to her other devices, and Alice's gateway follows.
        def join_carol(name):
            device = Person(work, name)
            code = json.loads(carol.must("--json", "device", "invite").stdout)["pin"]
            device.must("device", "join", "carol@example.net", "--service", service.url, "--pin", code, "--name", name)
            carol.must("sync")
            device.must("sync")
            return device

        carol_tablet = join_carol("carol-tablet")
        exported = json.loads(carol.must("--json", "export", "mobileconfig", "-o", os.path.join(work, "c.mobileconfig"))
                              .stdout)
        check(exported["cbc"]["reissued_certificates"] == 1 and exported["cbc"]["published"],
              "Carol's mobileconfig export re-issues her encryption certificate for CBC and publishes it", exported)
        cbc = send_to_carol("for an iPhone")
        status, _, plain, error = carol.read(cbc)
        check("smime-type=enveloped-data" in outer_headers(cbc) and status == 0 and b"for an iPhone" in plain,
              "Alice's gateway now encrypts to Carol with AES-CBC (EnvelopedData), and Carol reads it",
              outer_headers(cbc) + error)
        synced = carol_tablet.run("sync")
        status, _, plain, error = carol_tablet.read(cbc)
        check(synced.returncode == 0 and status == 0 and b"for an iPhone" in plain,
              "her tablet takes the re-issued certificate with sync (same key) and reads it too",
              synced.stderr.decode() + error)
        carol_watch = join_carol("carol-watch")
        status, _, plain, error = carol_watch.read(cbc)
        check(status == 0 and b"for an iPhone" in plain, "a device joining after the re-issue reads it", error)

    # AUTH passes through to an upstream that requires it.
    with Upstream(auth=True) as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        eml = os.path.join(work, "auth.eml")
        with open(eml, "wb") as out:
            out.write(message("alice@example.com", "bob@example.org", "auth", "authenticated\r\n"))
        for mechanism in ("PLAIN", "LOGIN"):
            sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                         "--auth", mechanism, "--auth-user", "alice", "--auth-password", "correct horse")
            arrived = upstream.take()
            check(sent.returncode == 0 and "235" in sent.stdout and len(arrived) == 1,
                  f"AUTH {mechanism} passes through to the upstream and the message is relayed", sent.stdout[-600:])
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                     "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "wrong")
        check(sent.returncode != 0 and "535" in sent.stdout and upstream.take() == [],
              "a wrong password gets the upstream's 535 and nothing is sent", sent.stdout[-400:])
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode != 0 and upstream.take() == [],
              "without AUTH the upstream's refusal reaches the client", sent.stdout[-400:])

    # TLS: STARTTLS towards the client, STARTTLS and implicit TLS upstream.
    gateway_certificate, gateway_key = self_signed(work, "gateway")
    upstream_certificate, upstream_key = self_signed(work, "upstream")
    eml = os.path.join(work, "tls.eml")
    with open(eml, "wb") as out:
        out.write(message("alice@example.com", "bob@example.org", "tls", "over TLS\r\n"))
    for mode in ("starttls", "tls"):
        with Upstream(tls=mode, certificate=upstream_certificate, key=upstream_key) as upstream, \
                Gateway(MAILSEAL, alice.home, upstream.port, "--upstream-tls", mode, "--upstream-ca",
                        upstream_certificate, "--tls-cert", gateway_certificate, "--tls-key", gateway_key) as gateway:
            sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                         "-tls")
            arrived = upstream.take()
            check(sent.returncode == 0 and "STARTTLS" in sent.stdout and len(arrived) == 1
                  and bob.read(arrived[0].content)[0] == 0,
                  f"STARTTLS from the client, {mode} to the upstream: relayed and readable", sent.stdout[-600:])
        with Upstream(tls=mode, certificate=upstream_certificate, key=upstream_key) as upstream, \
                Gateway(MAILSEAL, alice.home, upstream.port, "--upstream-tls", mode, "--upstream-ca",
                        gateway_certificate) as gateway:
            sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
            check(sent.returncode != 0 and "451" in sent.stdout and upstream.take() == [],
                  f"an upstream ({mode}) whose certificate does not verify: 451, nothing sent", sent.stdout[-400:])

    # Hostile clients.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--max-size", "100000",
                                         "--timeout", "5") as gateway:
        raw = RawClient(gateway.port)
        check(raw.greeting[0] == 220, "the gateway greets with 220")
        for line, code, what in [
            ("MAIL FROM:<alice@example.com>", 503, "MAIL before EHLO"),
            ("EHLO", 501, "EHLO without a name"),
            ("\x00\x01garbage", 500, "binary garbage"),
            ("EHLO hostile.example", 250, "EHLO"),
            ("RCPT TO:<bob@example.org>", 503, "RCPT before MAIL"),
            ("DATA", 503, "DATA before RCPT"),
            ("MAIL FROM:alice@example.com", 501, "a path without angle brackets"),
            ("MAIL FROM:<alice@example.com> SIZE=99999999", 552, "SIZE over the limit"),
            ("MAIL FROM:<alice@example.com> FOO=BAR", 555, "an unknown MAIL parameter"),
            ("MAIL FROM:<alice@example.com>", 250, "MAIL"),
            ("MAIL FROM:<alice@example.com>", 503, "a nested MAIL"),
            ("RCPT TO:<not an address>", 501, "a recipient with spaces"),
            ("RCPT TO:<bob@@example.org>", 553, "an invalid recipient"),
            ("RCPT TO:<\"quoted\"@example.org>", 553, "a quoted local part"),
            ("RCPT TO:<bob@example.org> NOTIFY=NEVER", 555, "DSN parameters, not offered"),
            ("STARTTLS", 502, "STARTTLS when not offered"),
            ("BDAT 10 LAST", 502, "BDAT, not offered"),
            ("X" * 5000, 500, "a 5000-character command line"),
            ("RSET", 250, "RSET"),
        ]:
            answer = raw.command(line)
            check(answer[0] == code, f"{what}: {code}", answer)
        raw.command("MAIL FROM:<alice@example.com>")
        raw.command("RCPT TO:<bob@example.org>")
        raw.command("DATA")
        raw.send(message("alice@example.com", "bob@example.org", "long", "A" * 3000 + "\r\n") + b".\r\n")
        answer = raw.reply()
        check(answer[0] == 554, "a 3000-character text line: 554 after the data", answer)
        raw.command("MAIL FROM:<alice@example.com>")
        raw.command("RCPT TO:<bob@example.org>")
        raw.command("DATA")
        raw.send(message("alice@example.com", "bob@example.org", "big", ("B" * 76 + "\r\n") * 3000) + b".\r\n")
        answer = raw.reply()
        check(answer[0] == 552, "a message over --max-size: 552 after the data", answer)
        check(raw.command("NOOP")[0] == 250, "the session goes on after refusals")
        raw.close()
        check(upstream.take() == [], "none of that reached the upstream")

        # A client that drops mid-DATA.
        raw = RawClient(gateway.port)
        raw.command("EHLO drop.example")
        raw.command("MAIL FROM:<alice@example.com>")
        raw.command("RCPT TO:<bob@example.org>")
        raw.command("DATA")
        raw.send(b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: half\r\n\r\nhalf a mess")
        # The client stops sending. The gateway's answer is to end the session
        # and close the connection; a gateway that took the end of the stream
        # for the end of the data would relay before it closes. So: wait for
        # the close, then look upstream.
        raw.socket.shutdown(socket.SHUT_WR)
        check(raw.wait_closed(timeout=30), "a client that vanishes mid-DATA: the gateway closes the connection")
        raw.close()
        check(gateway.alive() and upstream.take() == [], "a client that vanishes mid-DATA: nothing relayed")

        # A client that goes silent is dropped after --timeout.
        raw = RawClient(gateway.port)
        raw.command("EHLO silent.example")
        check(raw.closed(timeout=15), "a silent client is disconnected after the timeout")
        raw.close()

        # Too many errors end the session.
        raw = RawClient(gateway.port)
        codes = [raw.command("NONSENSE")[0] for _ in range(21)]
        last = raw.reply() if codes[-1] != 421 else (421, [])
        check(last[0] == 421 and raw.closed(), "twenty unknown commands: 421 and the connection closes", codes)
        raw.close()

        # Fifty concurrent clients.
        def submit(number):
            with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60, local_hostname=CLIENT_NAME) as session:
                session.sendmail("alice@example.com", ["bob@example.org"],
                                 message("alice@example.com", "bob@example.org", f"n{number}", f"number {number}\r\n"))
            return number

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            done = list(pool.map(submit, range(50)))
        arrived = upstream.take()
        check(len(done) == 50 and len(arrived) == 50, "fifty concurrent clients: fifty messages relayed",
              len(arrived))

    # Upstreams that refuse or disappear: nothing is acknowledged that was not relayed.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        eml = os.path.join(work, "refused.eml")
        with open(eml, "wb") as out:
            out.write(message("alice@example.com", "bob@example.org", "refused", "text\r\n"))
        upstream.handler.refuse = {"RCPT": "550 5.1.1 no such user"}
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode != 0 and "550" in sent.stdout and "no such user" in sent.stdout,
              "an upstream refusing the recipient: its 550 reaches the client", sent.stdout[-400:])
        upstream.handler.refuse = {"DATA": "451 4.3.0 try later"}
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode != 0 and "451" in sent.stdout, "an upstream deferring the data: 451 to the client",
              sent.stdout[-400:])
        upstream.handler.refuse = {}
        check(upstream.take() == [], "nothing was stored upstream while it refused")
        upstream.stop()
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode != 0 and "451" in sent.stdout and gateway.alive(),
              "the upstream gone: 451 (try again), the gateway keeps running", sent.stdout[-400:])

    # An upstream that hangs up in the middle of the data.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)

    def vanishing_upstream():
        connection, _ = listener.accept()
        connection.sendall(b"220 flaky ESMTP\r\n")
        stream = connection.makefile("rb")
        for line in stream:
            verb = line[:4].upper()
            if verb == b"EHLO":
                connection.sendall(b"250-flaky\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                connection.sendall(b"354 go\r\n")
                stream.readline()
                connection.close()
                return
            else:
                connection.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=vanishing_upstream, daemon=True)
    thread.start()
    with Gateway(MAILSEAL, alice.home, listener.getsockname()[1]) as gateway:
        eml = os.path.join(work, "vanish.eml")
        with open(eml, "wb") as out:
            out.write(message("alice@example.com", "bob@example.org", "vanish", "text\r\n"))
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode != 0 and "451" in sent.stdout,
              "an upstream that hangs up mid-data: 451, not 250", sent.stdout[-400:])
        status = gateway.stop()
        check(status == 0, "SIGTERM stops the gateway cleanly", gateway.log.decode()[-400:])
    listener.close()

finish(minimum=73)
