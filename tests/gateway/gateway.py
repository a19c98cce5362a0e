#!/usr/bin/python3
"""The SMTP gateway end to end: a real upstream SMTP server (aiosmtpd), real
clients (swaks and smtplib), and what arrives checked with mailseal and with
openssl cms. Then the input no client should send: malformed commands,
over-long lines, oversized messages, clients that vanish mid-DATA, and
upstreams that refuse or disappear."""
import base64
import concurrent.futures
import email.utils
import http.client
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
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Gateway, RawClient, Upstream, auth_plain, make_credential  # noqa: E402
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


CREDENTIAL = None  # (name, secret): Alice's gateway credential, made below


def swaks(port, *arguments, credential=True):
    """swaks submitting to the gateway, with Alice's credential (AUTH PLAIN) unless told otherwise."""
    auth = ["--auth", "PLAIN", "--auth-user", CREDENTIAL[0], "--auth-password", CREDENTIAL[1]] if credential else []
    return subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--timeout", "30", *auth, *arguments],
                          capture_output=True, text=True)


def smtp(port, timeout=30):
    """smtplib logged in with Alice's credential."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=timeout, local_hostname=CLIENT_NAME)
    client.login(*CREDENTIAL)
    return client


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
    CREDENTIAL = make_credential(MAILSEAL, alice.home, "tests")

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
        check(b'hp-legacy-display="1"' in decrypted.stdout
              and b"\r\n\r\nSubject: lunch\r\n\r\nHello Bob," in decrypted.stdout,
              "the gateway's message carries the obscured Subject at the top of its body for clients that do not "
              "read protected headers (RFC 9788 Legacy Display Element)", decrypted.stdout[:1500])
        check(b"hp-legacy-display" not in plain and b"\r\n\r\nHello Bob," in plain,
              "mailseal's reader removes it again", plain[:1500])
        with open(os.path.join(work, "inner.eml"), "wb") as out:
            out.write(decrypted.stdout)
        verified = openssl("cms", "-verify", "-in", os.path.join(work, "inner.eml"), "-CAfile", alice_certificates,
                           "-purpose", "smimesign")
        check(verified.returncode == 0 and b"Hello Bob" in verified.stdout,
              "openssl cms -verify accepts Alice's signature inside", verified.stderr.decode())

        # smtplib: To Bob, Bcc Carol (found on the key service).
        client = smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, local_hostname=CLIENT_NAME)
        code, features = client.ehlo("client.example")
        check(code == 250 and all(word in features.decode()
                                  for word in ("PIPELINING", "8BITMIME", "SIZE", "AUTH PLAIN LOGIN")),
              "EHLO offers PIPELINING, 8BITMIME, SIZE and (on loopback, in clear) AUTH PLAIN LOGIN", features)
        client.login(*CREDENTIAL)
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
        raw.send("EHLO pipeline.example\r\n" + auth_plain(*CREDENTIAL) + "\r\nMAIL FROM:<alice@example.com>\r\n"
                 "RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n")
        replies = [raw.reply()[0] for _ in range(6)]
        raw.send(message("alice@example.com", "bob@example.org, carol@example.net", "pipelined", "p\r\n")
                 + b".\r\nQUIT\r\n")
        final = raw.reply()[0]
        check(replies == [250, 235, 250, 250, 250, 354] and final == 250 and raw.reply()[0] == 221,
              "pipelined commands are answered in order", replies)
        arrived = upstream.take()
        check(len(arrived) == 1 and sorted(arrived[0].recipients) == ["bob@example.org", "carol@example.net"],
              "both visible recipients share one encrypted copy")
        raw.close()

    # Required policy.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--policy", "required") as gateway:
        client = smtp(gateway.port)
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
    carol_phone.must("device", "join", "carol@example.net", "--service", service.url, "--pin", pin, "--wait", "0", "--name", "phone")
    carol.must("sync")
    carol_phone.must("sync")
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--refresh", "0") as gateway:
        def send_to_carol(subject):
            with smtp(gateway.port) as session:
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
        check("smime-type=enveloped-data" in outer_headers(after),
              "Carol gets AES-256-CBC, signed inside, what every client reads (issue 12)")

        # Carol puts her keys on an iPhone: her certificates now ask for AES-CBC, published to the key service,
        # sent to her other devices, and Alice's gateway follows.
        def join_carol(name):
            device = Person(work, name)
            code = json.loads(carol.must("--json", "device", "invite").stdout)["pin"]
            device.must("device", "join", "carol@example.net", "--service", service.url, "--pin", code, "--wait", "0", "--name", name)
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

    # The gateway's own AUTH: nothing is signed or relayed for a client that has not authenticated.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        eml = os.path.join(work, "auth.eml")
        with open(eml, "wb") as out:
            out.write(message("alice@example.com", "bob@example.org", "auth", "authenticated\r\n"))
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                     credential=False)
        check(sent.returncode != 0 and "530 5.7.0 Authentication required" in sent.stdout and upstream.take() == [],
              "swaks without AUTH: 530 5.7.0 Authentication required, nothing signed or relayed", sent.stdout[-400:])
        raw = RawClient(gateway.port)
        raw.command("EHLO unauthenticated.example")
        answer = raw.command("MAIL FROM:<alice@example.com>")
        check(answer[0] == 530 and raw.command("RCPT TO:<bob@example.org>")[0] == 503
              and raw.command("DATA")[0] == 503, "a raw MAIL without AUTH: 530, and RCPT and DATA go nowhere", answer)
        raw.close()
        try:
            with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, local_hostname=CLIENT_NAME) as plain:
                plain.sendmail("alice@example.com", ["bob@example.org"],
                               message("alice@example.com", "bob@example.org", "x", "y\r\n"))
            outcome = None
        except smtplib.SMTPSenderRefused as error:
            outcome = error
        check(outcome is not None and outcome.smtp_code == 530 and upstream.take() == [],
              "smtplib without login: 530, nothing relayed", outcome)
        for mechanism in ("PLAIN", "LOGIN"):
            sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                         "--auth", mechanism, "--auth-user", CREDENTIAL[0], "--auth-password", CREDENTIAL[1],
                         credential=False)
            arrived = upstream.take()
            check(sent.returncode == 0 and "235" in sent.stdout and len(arrived) == 1
                  and bob.read(arrived[0].content)[0] == 0,
                  f"AUTH {mechanism} with the gateway credential: relayed, signed and encrypted", sent.stdout[-600:])
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                     "--auth", "PLAIN", "--auth-user", CREDENTIAL[0], "--auth-password", CREDENTIAL[1] + "x",
                     credential=False)
        check(sent.returncode != 0 and "535" in sent.stdout and upstream.take() == [],
              "a wrong secret: 535 and nothing is sent", sent.stdout[-400:])
        raw = RawClient(gateway.port)
        raw.command("EHLO guesser.example")
        codes = [raw.command(auth_plain(CREDENTIAL[0], secrets.token_urlsafe(32)))[0] for _ in range(3)]
        check(codes == [535, 535, 421] and raw.closed(), "three wrong secrets: 535, 535, 421 and the connection closes",
              codes)
        raw.close()
        raw = RawClient(gateway.port)
        raw.command("EHLO exchange.example")
        prompt = raw.command("AUTH PLAIN")
        cancelled = raw.command("*")[0]
        raw.command("AUTH PLAIN")
        plain = raw.command(auth_plain(*CREDENTIAL).split(" ", 2)[2])[0]
        check(prompt[0] == 334 and cancelled == 501 and plain == 235
              and raw.command("MAIL FROM:<alice@example.com>")[0] == 250,
              "AUTH PLAIN without an initial response: 334, '*' cancels (501, not a protocol error), then it works",
              (prompt, cancelled, plain))
        raw.close()
        raw = RawClient(gateway.port)
        raw.command("EHLO proxy.example")
        other = base64.b64encode(b"someone-else\0" + CREDENTIAL[0].encode() + b"\0" + CREDENTIAL[1].encode())
        check(raw.command("AUTH PLAIN " + other.decode())[0] == 535
              and raw.command("MAIL FROM:<alice@example.com>")[0] == 530,
              "AUTH PLAIN with the right secret acting for another identity (authzid): 535, not authenticated")
        raw.close()
        raw = RawClient(gateway.port)
        raw.command("EHLO someone.example")
        wrong_name = raw.command(auth_plain("someone-else", CREDENTIAL[1]))[0]
        check(wrong_name == 535, "the right secret under another name: 535", wrong_name)
        raw.close()

        # Credentials: listed without secrets, removed, and the removed one stops working at once.
        spare = make_credential(MAILSEAL, alice.home, "spare")
        listed = json.loads(alice.must("--json", "credential", "list").stdout)["credentials"]
        check(sorted(c["name"] for c in listed) == ["spare", "tests"] and spare[1] not in json.dumps(listed)
              and all(c["addresses"] == [] for c in listed), "credential list names them, never their secrets",
              listed)
        raw = RawClient(gateway.port)
        check(raw.login(spare) == 235, "a new credential works at once, without restarting the gateway")
        raw.close()
        alice.must("credential", "remove", "spare")
        raw = RawClient(gateway.port)
        check(raw.login(spare) == 535, "a removed credential is refused")
        raw.close()
        check(alice.run("credential", "remove", "spare").returncode != 0, "removing it twice fails")
        check(alice.run("credential", "add", "tests").returncode != 0, "a taken name is refused")

    # Upstream credentials are the gateway's own (--upstream-user, --upstream-password-file), used after TLS (or
    # towards a loopback upstream); the client's AUTH never goes upstream.
    upstream_password = os.path.join(work, "upstream-password")
    with open(upstream_password, "w") as out:
        out.write("correct horse\n")
    os.chmod(upstream_password, 0o600)
    with Upstream(auth=True) as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--upstream-user", "alice",
                                                  "--upstream-password-file", upstream_password) as gateway:
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        arrived = upstream.take()
        check(sent.returncode == 0 and len(arrived) == 1,
              "the gateway authenticates to an upstream that requires AUTH with its own account", sent.stdout[-600:])
    with Upstream(auth=True) as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml,
                     "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "correct horse", credential=False)
        check(sent.returncode != 0 and "535" in sent.stdout and upstream.take() == [],
              "the upstream's own user name and password do not authenticate to the gateway (no pass-through)",
              sent.stdout[-400:])
    wrong_password = os.path.join(work, "wrong-password")
    with open(wrong_password, "w") as out:
        out.write("wrong\n")
    os.chmod(wrong_password, 0o600)
    with Upstream(auth=True) as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--upstream-user", "alice",
                                                  "--upstream-password-file", wrong_password) as gateway:
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode != 0 and "451" in sent.stdout and upstream.take() == [],
              "an upstream refusing the gateway's account: 451 (try again), nothing sent", sent.stdout[-400:])
        gateway.stop()
        check(b"refused the gateway's credentials" in gateway.log and b"wrong" not in gateway.log,
              "the log says why, without the password", gateway.log.decode(errors="replace")[-400:])
    os.chmod(upstream_password, 0o644)
    started = subprocess.run([MAILSEAL, "--home", alice.home, "gateway", "--listen", "127.0.0.1:0", "--upstream",
                              "127.0.0.1:25", "--upstream-user", "alice", "--upstream-password-file",
                              upstream_password], capture_output=True, timeout=30)
    check(started.returncode != 0 and b"readable by group or others" in started.stderr,
          "an upstream password file readable by others: the gateway refuses to start, saying why", started.stderr)
    os.chmod(upstream_password, 0o600)
    started = subprocess.run([MAILSEAL, "--home", alice.home, "gateway", "--listen", "127.0.0.1:0", "--upstream",
                              "smtp.example.com:587", "--upstream-user", "alice", "--upstream-password-file",
                              upstream_password], capture_output=True, timeout=30)
    check(started.returncode != 0 and b"in clear" in started.stderr,
          "--upstream-user without TLS to a remote upstream: refused", started.stderr)

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

    # On an address other than loopback AUTH is offered only inside TLS.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
        outside = probe.getsockname()[0]
    except OSError:
        outside = None
    probe.close()
    if outside is None or outside.startswith("127."):
        print("note: no address other than loopback here; AUTH-after-STARTTLS checks skipped")
    else:
        with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--tls-cert", gateway_certificate,
                                             "--tls-key", gateway_key, listen="0.0.0.0") as gateway:
            raw = RawClient(gateway.port, host=outside)
            features = " ".join(raw.command("EHLO outside.example")[1])
            refused = raw.command(auth_plain(*CREDENTIAL))[0]
            check("AUTH" not in features and "STARTTLS" in features and refused == 538,
                  f"a client reaching {outside}: no AUTH offered in clear, AUTH refused with 538", (features, refused))
            check(raw.command("MAIL FROM:<alice@example.com>")[0] == 530, "... and MAIL gets 530")
            raw.close()
            raw = RawClient(gateway.port, host=outside)
            raw.command("EHLO outside.example")
            tls = raw.start_tls()
            features = " ".join(raw.command("EHLO outside.example")[1])
            check(tls == 220 and "AUTH PLAIN LOGIN" in features and raw.command(auth_plain(*CREDENTIAL))[0] == 235,
                  "after STARTTLS AUTH is offered and the credential works", features)
            raw.send("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
            opened = [raw.reply()[0] for _ in range(3)]
            raw.send(message("alice@example.com", "bob@example.org", "outside", "over TLS\r\n") + b".\r\n")
            check(opened == [250, 250, 354] and raw.reply()[0] == 250 and len(upstream.take()) == 1,
                  "and the message is relayed")
            raw.close()

    # Hostile clients.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--max-size", "100000",
                                         "--timeout", "5", "--max-per-client", "64") as gateway:
        raw = RawClient(gateway.port)
        check(raw.greeting[0] == 220, "the gateway greets with 220")
        raw.close()
        # Each on a session of its own, after `before` (a protocol error taints the rest of a session).
        for before, line, code, what in [
            ([], "MAIL FROM:<alice@example.com>", 503, "MAIL before EHLO"),
            ([], "EHLO", 501, "EHLO without a name"),
            ([], "\x00\x01garbage", 500, "binary garbage"),
            (["AUTH"], "RCPT TO:<bob@example.org>", 503, "RCPT before MAIL"),
            (["AUTH"], "DATA", 503, "DATA before RCPT"),
            (["AUTH"], "MAIL FROM:alice@example.com", 501, "a path without angle brackets"),
            (["AUTH"], "MAIL FROM:<alice@example.com> SIZE=99999999", 552, "SIZE over the limit"),
            (["AUTH"], "MAIL FROM:<alice@example.com> FOO=BAR", 555, "an unknown MAIL parameter"),
            (["AUTH", "MAIL FROM:<alice@example.com>"], "MAIL FROM:<alice@example.com>", 503, "a nested MAIL"),
            (["AUTH", "MAIL FROM:<alice@example.com>"], "RCPT TO:<not an address>", 501, "a recipient with spaces"),
            (["AUTH", "MAIL FROM:<alice@example.com>"], "RCPT TO:<bob@@example.org>", 553, "an invalid recipient"),
            (["AUTH", "MAIL FROM:<alice@example.com>"], "RCPT TO:<\"quoted\"@example.org>", 553, "a quoted local part"),
            (["AUTH", "MAIL FROM:<alice@example.com>"], "RCPT TO:<bob@example.org> NOTIFY=NEVER", 555,
             "DSN parameters, not offered"),
            (["AUTH"], "STARTTLS", 502, "STARTTLS when not offered"),
            (["AUTH"], "BDAT 10 LAST", 502, "BDAT, not offered"),
            (["AUTH"], "AUTH CRAM-MD5", 503, "AUTH twice"),
            ([], "X" * 5000, 500, "a 5000-character command line"),
            (["AUTH"], "RSET", 250, "RSET"),
        ]:
            raw = RawClient(gateway.port)
            for step in before:
                if step == "AUTH":
                    raw.login(CREDENTIAL, "hostile.example")
                else:
                    raw.command(step)
            answer = raw.command(line)
            check(answer[0] == code, f"{what}: {code}", answer)
            raw.close()
        raw = RawClient(gateway.port)
        raw.login(CREDENTIAL, "hostile.example")
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
        raw.login(CREDENTIAL, "drop.example")
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
        check(raw.received_until_closed(timeout=15) is not None, "a silent client is disconnected after the timeout")
        raw.close()

        # Too many errors end the session.
        raw = RawClient(gateway.port)
        codes = [raw.command("NONSENSE")[0] for _ in range(21)]
        last = raw.reply() if codes[-1] != 421 else (421, [])
        check(last[0] == 421 and raw.closed(), "twenty unknown commands: 421 and the connection closes", codes)
        raw.close()

        # Fifty concurrent clients.
        def submit(number):
            with smtp(gateway.port, timeout=60) as session:
                session.sendmail("alice@example.com", ["bob@example.org"],
                                 message("alice@example.com", "bob@example.org", f"n{number}", f"number {number}\r\n"))
            return number

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            done = list(pool.map(submit, range(50)))
        arrived = upstream.take()
        check(len(done) == 50 and len(arrived) == 50, "fifty concurrent clients: fifty messages relayed",
              len(arrived))

    # SMTP smuggling, as an attacker does it: a raw socket, a real upstream. DATA ends only at CRLF.CRLF; a message
    # holding a bare LF or CR is refused whole, and what followed a fake end was data, never commands.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        second = (b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n"
                  b"From: alice@example.com\r\nTo: carol@example.net\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")
        for fake_end in (b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r", b"\r.\r",
                         b"\r\n.\r\r\n", b"\r\r\n.\r\r\n"):
            raw = RawClient(gateway.port)
            raw.login(CREDENTIAL, "smuggler.example")
            raw.send("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
            opened = [raw.reply()[0] for _ in range(3)]
            raw.send(message("alice@example.com", "bob@example.org", "first", "first") + fake_end + second
                     + b".\r\nQUIT\r\n")
            end, rest = raw.reply(), raw.reply()
            check(opened == [250, 250, 354] and end[0] == 554 and "bare" in " ".join(end[1]) and rest[0] == 221,
                  f"smuggling with {fake_end!r}: one 554 (bare line ending) at the real end, then QUIT's 221: "
                  "no reply to a smuggled command", (opened, end, rest))
            raw.close()
            arrived = upstream.take()
            check(arrived == [], f"smuggling with {fake_end!r}: the upstream receives nothing",
                  [m.recipients for m in arrived])
        # A bare LF in the body alone is refused too; commands must end with CRLF.
        raw = RawClient(gateway.port)
        raw.login(CREDENTIAL, "lf.example")
        raw.send("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
        [raw.reply() for _ in range(3)]
        raw.send(message("alice@example.com", "bob@example.org", "lf", "one\ntwo\r\n") + b".\r\n")
        check(raw.reply()[0] == 554 and upstream.take() == [], "a bare LF in the body: 554, nothing relayed")
        answer = raw.command("NOOP\n\r")  # sent as "NOOP\n" then "\r\r\n"
        check(answer[0] == 500, "a command line ended by a bare LF: 500", answer)
        raw.reply()
        check(raw.command("MAIL FROM:<alice@example.com>")[0] == 503,
              "after that protocol error nothing more is relayed on the session: MAIL gets 503")
        raw.close()

        # Pipelined commands after an error: nothing is relayed afterwards.
        raw = RawClient(gateway.port)
        raw.login(CREDENTIAL, "pipeline.example")
        raw.send(b"NONSENSE\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                 + message("alice@example.com", "bob@example.org", "after an error", "x\r\n") + b".\r\n")
        codes = [raw.reply()[0] for _ in range(4)]
        check(codes == [500, 503, 503, 503], "pipelined after an unknown command: MAIL, RCPT and DATA get 503", codes)
        check(raw.received_until_closed() is not None and upstream.take() == [],
              "the message lines that follow are not run (the connection closes) and nothing is relayed")
        raw.close()

        # From: exactly one field, one mailbox; no NUL, no 8-bit bytes in the header (signed or not).
        for text, why, what in [
            (b"From: alice@example.com\r\nFrom: bob@example.org\r\nTo: bob@example.org\r\n\r\nx\r\n",
             "2 From fields", "two From fields"),
            (b"From: mallory@example.com\r\nFrom: alice@example.com\r\nTo: bob@example.org\r\n\r\nx\r\n",
             "2 From fields", "two From fields, the first not the profile's"),
            (b"From: alice@example.com, mallory@example.com\r\nTo: bob@example.org\r\n\r\nx\r\n",
             "more than one mailbox", "a From with two mailboxes"),
            (b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: a\x00b\r\n\r\nx\r\n", "NUL",
             "a NUL in the Subject"),
            (b"From: Al\xc3\xafce <alice@example.com>\r\nTo: bob@example.org\r\n\r\nx\r\n", "8-bit",
             "8-bit bytes in From"),
            (b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: gr\xc3\xbc\xc3\x9fe\r\n\r\nx\r\n", "8-bit",
             "8-bit bytes in the Subject"),
        ]:
            raw = RawClient(gateway.port)
            raw.login(CREDENTIAL, "headers.example")
            raw.send("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
            [raw.reply() for _ in range(3)]
            raw.send(text + b".\r\n")
            answer = raw.reply()
            check(answer[0] == 554 and why in " ".join(answer[1]) and upstream.take() == [],
                  f"{what}: 554 saying why, nothing relayed", answer)
            raw.close()

        # HTTP: a browser-like POST whose body is SMTP (even with a valid AUTH in it) is closed at once.
        smtp_body = ("EHLO web.example\r\n" + auth_plain(*CREDENTIAL) + "\r\nMAIL FROM:<alice@example.com>\r\n"
                     "RCPT TO:<bob@example.org>\r\nDATA\r\nFrom: alice@example.com\r\nTo: bob@example.org\r\n"
                     "Subject: from a web page\r\n\r\nsigned by a web page\r\n.\r\nQUIT\r\n")
        raw = RawClient(gateway.port)
        raw.send(f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\nUser-Agent: Mozilla/5.0\r\n"
                 f"Origin: https://evil.example\r\nContent-Type: text/plain\r\nContent-Length: {len(smtp_body)}\r\n"
                 f"\r\n{smtp_body}")
        received = raw.received_until_closed()
        check(received == b"", "a raw HTTP POST carrying SMTP: closed after the greeting, no reply at all", received)
        raw.close()
        raw = RawClient(gateway.port)
        raw.command("EHLO before-a-header.example")
        raw.send("Host: 127.0.0.1\r\n" + auth_plain(*CREDENTIAL) + "\r\n")
        check(raw.received_until_closed() == b"", "a Host: field after EHLO (before AUTH): closed, AUTH never read")
        raw.close()
        for label, post in [
            ("http.client", lambda: (lambda c: (c.request("POST", "/", body=smtp_body,
                                                           headers={"Content-Type": "text/plain"}),
                                                 c.getresponse()))(
                http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=20))),
            ("urllib", lambda: urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{gateway.port}/", data=smtp_body.encode(),
                headers={"Content-Type": "text/plain"}), timeout=20)),
        ]:
            try:
                post()
                failed = None
            except Exception as error:  # noqa: BLE001 - any failure is what a page sees
                failed = error
            check(failed is not None and upstream.take() == [] and gateway.alive(),
                  f"{label} POSTing SMTP to the gateway: no HTTP answer, nothing relayed", failed)

    # A credential signs only for its addresses: Erin has two, and the credential for work may use only one.
    erin = Person(work, "erin")
    erin.must("init", "erin@example.com", "erin@work.example", "--name", "Erin")
    with Upstream() as upstream, Gateway(MAILSEAL, erin.home, upstream.port) as bare:
        bare.stop()
        check(b"no mail client can submit yet" in bare.log and b"credential add" in bare.log,
              "a gateway started without any credential says how to make one", bare.log)
    work_credential = make_credential(MAILSEAL, erin.home, "work", "erin@work.example")
    with Upstream() as upstream, Gateway(MAILSEAL, erin.home, upstream.port) as gateway:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30, local_hostname=CLIENT_NAME) as client:
            client.login(*work_credential)
            try:
                client.sendmail("erin@work.example", ["bob@example.org"],
                                message("erin@example.com", "bob@example.org", "as home", "x\r\n"))
                outcome = None
            except smtplib.SMTPDataError as error:
                outcome = error
            check(outcome is not None and outcome.smtp_code == 550 and b"5.7.1" in outcome.smtp_error
                  and b"erin@example.com" in outcome.smtp_error and upstream.take() == [],
                  "a From of the profile the credential may not use: 550 5.7.1 naming it, nothing relayed", outcome)
            client.sendmail("erin@work.example", ["bob@example.org"],
                            message("erin@work.example", "bob@example.org", "as work", "x\r\n"))
            arrived = upstream.take()
            check(len(arrived) == 1 and "multipart/signed" in outer_headers(arrived[0].content),
                  "its own address: signed and relayed")
            client.sendmail("erin@work.example", ["bob@example.org"],
                            message("someone@elsewhere.example", "bob@example.org", "not erin", "x\r\n"))
            arrived = upstream.take()
            check(len(arrived) == 1 and "multipart/signed" not in outer_headers(arrived[0].content),
                  "a From that is not the profile's at all: relayed unsigned for an authenticated submitter")

        # The work credential tries to get Erin's other address signed or relayed, as an attacker would.
        def submit(header, mail_from="erin@work.example", body=b"x\r\n"):
            raw = RawClient(gateway.port)
            raw.login(work_credential, "attacker.example")
            raw.send(f"MAIL FROM:<{mail_from}>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
            opened = [raw.reply()[0] for _ in range(3)]
            if opened != [250, 250, 354]:
                raw.close()
                return opened, None
            raw.send(header + b"\r\nTo: bob@example.org\r\nSubject: t\r\n\r\n" + body + b".\r\n")
            answer = raw.reply()
            raw.close()
            return opened, answer

        for header, why in [
            (b"From: erin@work.example <erin@example.com>", "display name"),
            (b"From: erin@work.example\r\n <erin@example.com>", "display name"),
            (b"From: erin@example.com (erin@work.example)", "comment"),
            (b"From: =?us-ascii?q?erin=40work=2Eexample?= <erin@example.com>", "display name"),
            (b"From: \"Erin <erin@work.example>\": ;, erin@example.com", "display name"),
            (b"From: erin@example.com, <>", "more than one mailbox"),
            (b"From: <>, erin@example.com", "empty address"),
            (b"From: g: erin@example.com;, <>", "group"),
            (b"From: \"erin\"@example.com", "quoted"),
            (b"From: erin@[example.com]", "literal"),
        ]:
            opened, answer = submit(header)
            check(answer is not None and answer[0] == 554 and "From field" in " ".join(answer[1])
                  and why in " ".join(answer[1]) and upstream.take() == [],
                  f"{header!r}: 554 saying why ({why}), nothing relayed", (opened, answer))
        opened, answer = submit(b"From: erin@work.example", mail_from="erin@example.com")
        check(opened[0] == 550 and answer is None and upstream.take() == [],
              "MAIL FROM an address of the profile the credential may not use: 550 5.7.1 at MAIL", opened)
        for header in (b"From: erin@work.example\r\nSender: erin@example.com",
                       b"From: erin@work.example\r\nResent-From: Erin <erin@example.com>"):
            opened, answer = submit(header)
            check(answer is not None and answer[0] == 550 and "erin@example.com" in " ".join(answer[1])
                  and upstream.take() == [], f"{header!r}: 550 5.7.1 naming the address", answer)
        opened, answer = submit(b"From: erin@work.example", body=b"a NUL \x00 in the body\r\n")
        check(answer is not None and answer[0] == 554 and "NUL" in " ".join(answer[1]) and upstream.take() == [],
              "a NUL byte in the body: 554, nothing relayed", answer)
        # A replayed message signed by its author, from an address mailseal cannot read: refused, not passed on.
        opened, answer = submit(b"From: \"erin\"@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; "
                                b"boundary=x; protocol=\"application/pkcs7-signature\"",
                                body=b"--x\r\n\r\nhi\r\n--x--\r\n")
        check(answer is not None and answer[0] == 554 and upstream.take() == [],
              "a client-signed message whose From mailseal cannot read: 554, not relayed unchanged", answer)
        # After a 554 for a bare LF, a second pipelined transaction is not relayed either.
        raw = RawClient(gateway.port)
        raw.login(work_credential, "lf.example")
        raw.send(b"MAIL FROM:<erin@work.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                 + message("erin@work.example", "bob@example.org", "lf", "one\ntwo\r\n") + b".\r\n"
                 + b"MAIL FROM:<erin@work.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                 + message("erin@work.example", "bob@example.org", "second", "two\r\n") + b".\r\n")
        codes = [raw.reply()[0] for _ in range(5)]
        raw.close()
        check(codes == [250, 250, 354, 554, 503] and upstream.take() == [],
              "after a 554 for a bare LF the session relays nothing more: the pipelined MAIL gets 503", codes)

    # Exposure: only loopback without TLS; a cap per client address; a short time to authenticate.
    started = subprocess.run([MAILSEAL, "--home", alice.home, "gateway", "--listen", "0.0.0.0:0", "--upstream",
                              "127.0.0.1:25"], capture_output=True, timeout=30)
    check(started.returncode != 0 and b"not a loopback address" in started.stderr,
          "--listen 0.0.0.0 without --tls-cert/--tls-key: refused to start, saying why", started.stderr)
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--max-per-client", "3",
                                         "--auth-timeout", "3") as gateway:
        # Every loopback address is one client: 127.0.0.2, .3 and .4 fill its three places.
        idle = [RawClient(gateway.port, source=f"127.0.0.{host}") for host in (2, 3, 4)]
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        check(sent.returncode == 0 and len(upstream.take()) == 1,
              "loopback at its cap (127.0.0.2-4 idle): a client that comes to authenticate still gets through",
              sent.stdout[-400:])
        check(idle[0].received_until_closed(timeout=30) is not None,
              "... the oldest unauthenticated session was closed to make room")
        newcomer = RawClient(gateway.port, source="127.0.0.9")
        check(newcomer.greeting[0] == 220 and newcomer.login(CREDENTIAL) == 235,
              "another loopback address is the same client: admitted by closing the oldest idle session",
              newcomer.greeting)
        check(newcomer.command("NOOP")[0] == 250, "an authenticated session is never closed to make room")
        newcomer.close()
        closed = [client.received_until_closed(timeout=30) for client in idle[1:]]
        check(all(c is not None for c in closed) and any(b"421" in c for c in closed),
              "idle unauthenticated connections are closed (421) once the time to authenticate is over", closed)
        for client in idle:
            client.close()

    # Unauthenticated clients flooding the log: at most 20 lines a minute about them.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port) as gateway:
        for attempt in range(12):
            raw = RawClient(gateway.port)
            raw.command("EHLO flood.example")
            for _ in range(3):
                raw.command(auth_plain("tests", "not-the-secret"))
            raw.close()
        sent = swaks(gateway.port, "--from", "alice@example.com", "--to", "bob@example.org", "--data", eml)
        gateway.stop()
        failed = gateway.log.count(b"authentication failed")
        check(sent.returncode == 0 and 1 <= failed <= 20 and len(upstream.take()) == 1,
              "unauthenticated AUTH floods: at most 20 log lines a minute, and the gateway keeps relaying",
              (failed, sent.stdout[-300:]))

    # Slowloris before AUTH: a line that never ends does not stretch the time to authenticate.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--auth-timeout", "2") as gateway:
        drip = RawClient(gateway.port, timeout=60)
        stopped = threading.Event()

        def feed_slowly():
            while not stopped.wait(0.2):
                try:
                    drip.socket.send(b"N")
                except OSError:
                    return

        feeder = threading.Thread(target=feed_slowly, daemon=True)
        feeder.start()
        received = drip.received_until_closed(timeout=60)
        stopped.set()
        feeder.join()
        check(received is not None and b"421" in received,
              "a client sending one byte at a time and never a line end: 421 and closed at the auth deadline",
              received)
        drip.close()
        # After AUTH, a command line too has a total time (--timeout), however slowly its bytes come.
    with Upstream() as upstream, Gateway(MAILSEAL, alice.home, upstream.port, "--timeout", "2") as gateway:
        drip = RawClient(gateway.port, timeout=60)
        check(drip.login(CREDENTIAL) == 235, "a slow client authenticates")
        stopped = threading.Event()
        feeder = threading.Thread(target=feed_slowly, daemon=True)
        feeder.start()
        received = drip.received_until_closed(timeout=60)
        stopped.set()
        feeder.join()
        check(received is not None and gateway.alive(),
              "an authenticated client dripping one command line forever: closed after --timeout", received)
        drip.close()

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

finish(minimum=132)
