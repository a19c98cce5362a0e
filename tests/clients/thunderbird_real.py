#!/usr/bin/python3
"""The real Thunderbird reads what mailseal writes (on demand; not part of the
default CTest run: it needs Thunderbird, Xvfb, ImageMagick, xdotool and
tesseract, which `scripts/install-deps.sh --real-clients` installs, and takes
about three minutes).

Alice and Bob get mailseal profiles; Bob learns Alice's certificates before she
sets Thunderbird up (they advertise AES-256-GCM, which Thunderbird cannot read:
issue 12 item 1; mailseal now writes AES-256-CBC anyway), Alice runs `mailseal
setup thunderbird` on a fresh profile with a local-folders account (no
network), Bob learns her re-issued certificates, and these messages go into
the profile's Local Folders Inbox:

  signed        Bob -> Alice, signed only (multipart/signed)
  early         Bob -> Alice, encrypted with the certificates he learned
                before her set-up (they advertise GCM): AES-256-CBC, signed
  cbc           Bob -> Alice, encrypted (AES-256-CBC), Subject "[...]" outside
  clear         Bob -> Alice, encrypted with `--subject-in-clear`
  html          Bob -> Alice, encrypted, multipart/alternative (text and
                quoted-printable HTML), Subject "[...]" outside
  unsigned      Bob -> Alice, `encrypt --no-sign` (AES-256-CBC, no signature)
  self          Alice -> Alice, encrypted (what her sent folder holds)
  openssl-gcm   AES-256-GCM made by `openssl cms` to Alice's current
                certificate: tells a GCM limit of Thunderbird from a
                certificate it lacks (mailseal writes GCM only with --gcm)

Thunderbird then runs under Xvfb once per message, opening the message in a
message window (`thunderbird -profile DIR FILE.eml`) and once on the Inbox;
each window is captured as a PNG (ImageMagick `import -window root`) in the
results folder, which the script prints (MAILSEAL_RESULTS=DIR chooses it).
tesseract reads each screenshot; the checks below are on that text (OCR, so
they are evidence to look at together with the screenshots, which are the
record). The checks say what a reader should see, and what Thunderbird 153
is known to do: it reads no AES-GCM (openssl's GCM body stays blank) and no
protected S/MIME header (its S/MIME path, mailnews/mime/src/mimecryp.cpp,
takes only the Content-Type from the decrypted headers; docs/smime.md), so an
obscured Subject shows as `[...]` in the list and the header pane and
`--subject-in-clear` shows the real one there; an obscured Subject shows at
the top of the body instead, in the RFC 9788 Legacy Display Element mailseal
adds for such clients (plain text and HTML).
docs/gateway.md, "Thunderbird itself", has the table. MAILSEAL_DISPLAY=N runs
Xvfb on display :N (default :90 to :98). Usage:

  MAILSEAL=build/src/cli/mailseal tests/clients/thunderbird_real.py
"""
import email
import email.utils
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import Home, check, finish, require_mailseal, skip  # noqa: E402
from thunderbird_tool import LOCAL_FOLDERS_PREFS  # noqa: E402

require_mailseal()
for program in ("thunderbird", "Xvfb", "import", "xdotool", "tesseract", "openssl"):
    if shutil.which(program) is None:
        skip(f"{program} is not installed (scripts/install-deps.sh --real-clients installs it)")

WAIT = float(os.environ.get("MAILSEAL_THUNDERBIRD_WAIT", "14"))

PREFS = LOCAL_FOLDERS_PREFS


def run(*arguments, stdin=None, env=None):
    return subprocess.run(list(arguments), capture_output=True, input=stdin, env=env)


def plain_message(sender, recipient, subject, body, number):
    return (f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate(time.time() - 60 + number, usegmt=True)}\r\n"
            f"Message-ID: <real-{number}@mailseal.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def html_message(sender, recipient, subject, body, number):
    quoted = f"<html><body>\r\n<p style=3D\"color: #000\">{body}</p>\r\n</body></html>"
    return (f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate(time.time() - 60 + number, usegmt=True)}\r\n"
            f"Message-ID: <real-{number}@mailseal.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
            f"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            f"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            f"\r\n{quoted}\r\n--alt--\r\n").encode()


def write_mbox(path, messages):
    with open(path, "wb") as out:
        for message in messages:
            out.write(b"From - Mon Nov 30 12:00:00 2026\n")
            for line in message.replace(b"\r\n", b"\n").split(b"\n"):
                out.write((b">" + line if line.startswith(b"From ") else line) + b"\n")
            out.write(b"\n")


class Display:
    """An Xvfb server of its own."""

    def __init__(self, number):
        self.name = f":{number}"
        self.process = subprocess.Popen(["Xvfb", self.name, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        if self.process.poll() is not None:
            raise RuntimeError(f"Xvfb {self.name} did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait()


def thunderbird_shows(display, profile, results, name, arguments, steps):
    """Runs Thunderbird on this profile (with these extra arguments) and takes
    the steps: ("wait", seconds), ("key", xdotool key name), ("click", x, y),
    ("shot", suffix): the screen to NAME-SUFFIX.png, read by tesseract into
    NAME-SUFFIX.txt. Returns {suffix: OCR text}."""
    env = dict(os.environ, DISPLAY=display.name, MOZ_CRASHREPORTER_DISABLE="1", MOZ_DISABLE_AUTO_SAFE_MODE="1",
               HOME=os.path.dirname(profile))
    log = open(os.path.join(results, f"{name}.log"), "wb")
    process = subprocess.Popen(["thunderbird", "--no-remote", "-profile", profile, *arguments],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    texts = {}
    try:
        time.sleep(WAIT)
        for step in steps:
            if step[0] == "wait":
                time.sleep(step[1])
            elif step[0] == "key":
                run("xdotool", "key", "--clearmodifiers", step[1], env=env)
                time.sleep(1.5)
            elif step[0] == "click":
                run("xdotool", "mousemove", str(step[1]), str(step[2]), "click", "1", env=env)
                time.sleep(2.5)
            elif step[0] == "shot":
                picture = os.path.join(results, f"{name}-{step[1]}.png")
                run("import", "-display", display.name, "-window", "root", picture, env=env)
                text = run("tesseract", picture, "-", env=env).stdout.decode(errors="replace")
                with open(os.path.join(results, f"{name}-{step[1]}.txt"), "w") as out:
                    out.write(text)
                texts[step[1]] = text
        return texts
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        # A killed Thunderbird leaves its lock link; the next start must not see it as running.
        for lock in ("lock", ".parentlock"):
            try:
                os.unlink(os.path.join(profile, lock))
            except FileNotFoundError:
                pass


# Where things are in a 1280x900 screen: the S/MIME button of a message
# window's header (it opens the security information pane), and the "Local
# Folders" account in the main window's folder pane.
SMIME_BUTTON = (820, 148)
LOCAL_FOLDERS = (143, 112)
# The first card of the message list (cards view), and the step to the next.
MESSAGE_LIST = (430, 115, 75)


results = os.environ.get("MAILSEAL_RESULTS") or tempfile.mkdtemp(prefix="mailseal-thunderbird-")
os.makedirs(results, exist_ok=True)
print(f"# results (screenshots, OCR text, Thunderbird's output): {results}", flush=True)
version = run("thunderbird", "--version").stdout.decode().strip().splitlines()[-1]
print(f"# {version}", flush=True)

with tempfile.TemporaryDirectory() as work:
    alice, bob = Home(work, "Alice"), Home(work, "Bob")
    alice.must("init", "alice@example.com", "--name", "Alice")
    bob.must("init", "bob@example.org", "--name", "Bob")
    alice.must("contact", "import", bob.certificates())
    alice_before = alice.certificates()
    bob.must("contact", "import", alice_before)
    messages = {}

    def write(name, sender_home, source, command, *options):
        path = os.path.join(work, f"{name}.txt")
        with open(path, "wb") as out:
            out.write(source)
        output = os.path.join(results, f"{name}.eml")
        report = sender_home.json(command, path, "-o", output, *options) if command == "encrypt" else \
            sender_home.must(command, path, "-o", output)
        with open(output, "rb") as handle:
            messages[name] = handle.read()
        return report

    # Bob learned Alice's certificates before her client was set up: they advertise GCM.
    report = write("early", bob, plain_message("bob@example.org", "alice@example.com", "Early subject from Bob",
                                               "Body Bob encrypted before her set-up.", 1), "encrypt")
    check(report.get("content_cipher") == "AES-256-CBC" and report.get("signed"),
          "Bob encrypts to Alice with AES-256-CBC, signed, although her certificates he holds advertise GCM", report)

    # Alice compared Bob's fingerprint (a pin: full), and an impostor's
    # message for bob@example.org reached her (a conflict) before the set-up.
    alice.must("contact", "pin", "bob@example.org", bob.must("fingerprint").stdout.decode().strip())
    mallory = Home(work, "Mallory")
    mallory.must("init", "bob@example.org", "--name", "Bob")
    write("impostor", mallory, plain_message("bob@example.org", "alice@example.com", "Signed subject from an impostor",
                                             "Body signed by an impostor.", 8), "sign")
    alice.must("learn", os.path.join(results, "impostor.eml"))

    profile = os.path.join(work, "tb", "profile")
    os.makedirs(os.path.join(profile, "Mail", "Local Folders"))
    with open(os.path.join(profile, "prefs.js"), "w") as out:
        out.write(PREFS)
    setup = alice.run("--json", "setup", "thunderbird", "--profile", profile)
    check(setup.returncode == 0, "mailseal setup thunderbird on the new profile", setup.stderr.decode())

    # Alice's re-issued certificates reach Bob: CBC.
    bob.must("contact", "import", alice.certificates())
    report = write("cbc", bob, plain_message("bob@example.org", "alice@example.com", "CBC subject from Bob",
                                             "Body encrypted with AES-256-CBC.", 2), "encrypt")
    check(report.get("content_cipher") == "AES-256-CBC", "after the set-up Bob encrypts with AES-256-CBC", report)
    write("signed", bob, plain_message("bob@example.org", "alice@example.com", "Signed subject from Bob",
                                       "Body signed by Bob.", 3), "sign")
    write("clear", bob, plain_message("bob@example.org", "alice@example.com", "Clear subject from Bob",
                                      "Body with the Subject in clear.", 6), "encrypt", "--subject-in-clear")
    write("html", bob, html_message("bob@example.org", "alice@example.com", "HTML subject from Bob",
                                    "Body of an HTML message.", 8), "encrypt")
    report = write("unsigned", bob, plain_message("bob@example.org", "alice@example.com", "Unsigned subject",
                                                  "Body encrypted without a signature.", 7), "encrypt", "--no-sign")
    check(report.get("content_cipher") == "AES-256-CBC" and not report.get("signed"),
          "encrypt --no-sign: AES-256-CBC without a signature", report)
    report = write("self", alice, plain_message("alice@example.com", "alice@example.com", "Note to self",
                                                "Body Alice encrypted to herself.", 4), "encrypt")
    print(f"# to self: {report.get('content_cipher')}", flush=True)

    # AES-256-GCM to the certificate Thunderbird holds now, made by OpenSSL:
    # Alice's current encryption certificate (the one whose key usage allows it).
    recipient = os.path.join(work, "alice-encryption.pem")
    with open(alice.certificates(), "rb") as handle:
        blocks = [b + b"-----END CERTIFICATE-----\n" for b in handle.read().split(b"-----END CERTIFICATE-----")
                  if b"BEGIN" in b]
    current = next((block for block in blocks
                    if b"Key Encipherment" in run("openssl", "x509", "-noout", "-ext", "keyUsage", stdin=block).stdout
                    or b"Key Agreement" in run("openssl", "x509", "-noout", "-ext", "keyUsage", stdin=block).stdout),
                   b"")
    with open(recipient, "wb") as out:
        out.write(current)
    inner = plain_message("bob@example.org", "alice@example.com", "OpenSSL GCM subject",
                          "Body encrypted by openssl cms with AES-256-GCM.", 5)
    made = run("openssl", "cms", "-encrypt", "-aes-256-gcm", "-recip", recipient, "-from", "bob@example.org",
               "-to", "alice@example.com", "-subject", "OpenSSL GCM subject", stdin=inner)
    check(made.returncode == 0, "openssl cms makes an AES-256-GCM message to Alice's current certificate",
          made.stderr.decode())
    messages["openssl-gcm"] = made.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(os.path.join(results, "openssl-gcm.eml"), "wb") as out:
        out.write(messages["openssl-gcm"])

    # What NSS itself (the system's cmsutil, on the same database) makes of each encrypted one.
    for name in ("early", "cbc", "clear", "unsigned", "self", "openssl-gcm"):
        der = email.message_from_bytes(messages[name]).get_payload(decode=True)
        decrypted = run("cmsutil", "-D", "-d", "sql:" + profile, "-p", "", stdin=der)
        print(f"# cmsutil -D {name}: exit {decrypted.returncode} "
              f"{decrypted.stderr.decode(errors='replace').strip()[:200]}", flush=True)

    inbox = os.path.join(profile, "Mail", "Local Folders", "Inbox")
    order = ["signed", "early", "cbc", "clear", "html", "unsigned", "self", "openssl-gcm", "impostor"]
    write_mbox(inbox, [messages[name] for name in order])

    display = Display(int(os.environ.get("MAILSEAL_DISPLAY") or 90 + os.getpid() % 9))
    try:
        seen = {}
        for name in order:
            texts = thunderbird_shows(display, profile, results, name, [os.path.join(results, f"{name}.eml")],
                                      [("shot", "message"), ("click", *SMIME_BUTTON), ("shot", "security")])
            seen[name] = texts["message"]
            seen[name + "-security"] = texts["security"]
        # The Inbox: the list, then each message in turn, then the list again
        # (Thunderbird puts a decrypted protected Subject into it).
        steps = [("click", *LOCAL_FOLDERS), ("key", "Right"), ("key", "Down"), ("wait", 3), ("shot", "list"),
                 ]
        for number in range(1, len(order) + 1):
            steps += [("click", MESSAGE_LIST[0], MESSAGE_LIST[1] + (number - 1) * MESSAGE_LIST[2]), ("wait", 4),
                      ("shot", f"message{number}")]
        steps += [("shot", "list-after")]
        inbox_texts = thunderbird_shows(display, profile, results, "inbox", [], steps)
    finally:
        display.stop()

    def shows(name, *words):
        return all(word.lower() in seen[name].lower() for word in words)

    check(shows("signed", "Body signed by Bob"), "signed: the body shows", seen["signed"])
    check(shows("cbc", "Body encrypted with AES-256-CBC"), "AES-256-CBC: the body shows", seen["cbc"])
    check(shows("cbc", "Subject: CBC subject from Bob", "Body encrypted with AES-256-CBC") and
          seen["cbc"].lower().index("subject: cbc subject") < seen["cbc"].lower().index("body encrypted with"),
          "AES-256-CBC, Subject obscured: the real Subject shows at the top of the body (RFC 9788 Legacy Display "
          "Element)", seen["cbc"])
    # OCR reads Thunderbird's "[...]" as anything from "[...]" to "[lace]":
    # that the real Subject is nowhere but in the body is what is checked.
    check(seen["cbc"].lower().count("cbc subject from bob") == 1 and
          "cbc subject from bob" not in inbox_texts.get("list", "").lower(),
          "AES-256-CBC, Subject obscured: only the body shows the real Subject, not the header pane or the list "
          "(Thunderbird 153 reads no protected S/MIME headers; when this fails, it learned to, and docs/smime.md "
          "should say so)", seen["cbc"] + inbox_texts.get("list", ""))
    check(shows("html", "Subject: HTML subject from Bob", "Body of an HTML message"),
          "HTML (multipart/alternative), Subject obscured: the real Subject shows at the top of the HTML body",
          seen["html"])
    check(not shows("clear", "Subject: Clear subject"), "--subject-in-clear: no Legacy Display Element in the body",
          seen["clear"])
    check(shows("early", "Body Bob encrypted before her set-up"), "certificates learned before the set-up "
          "(advertising GCM): the body shows", seen["early"])
    check(shows("early-security", "Message Is Encrypted"), "certificates learned before the set-up: \"Message Is "
          "Encrypted\"", seen["early-security"])
    check(shows("clear", "Body with the Subject in clear"), "--subject-in-clear: the body shows", seen["clear"])
    check(shows("clear", "Clear subject from Bob"), "--subject-in-clear: the header pane shows the Subject",
          seen["clear"])
    check("clear subject from bob" in inbox_texts.get("list", "").lower(),
          "--subject-in-clear: the message list shows the Subject", inbox_texts.get("list", ""))
    check(shows("unsigned", "Body encrypted without"), "--no-sign (AES-256-CBC): the body shows",
          seen["unsigned"])
    check(not shows("openssl-gcm", "Body encrypted by openssl"), "AES-256-GCM (openssl, current certificate): "
          "Thunderbird 153 shows no body (when this fails, it reads GCM now: docs/smime.md should say so)",
          seen["openssl-gcm"])
    check(shows("self", "Body Alice encrypted to herself"), "to self: the body shows", seen["self"])
    check(shows("self-security", "Message Is Signed", "Message Is Encrypted"),
          "to self: Thunderbird says \"Message Is Signed\" and \"Message Is Encrypted\" (Alice's root is "
          "trusted in her profile)", seen["self-security"])
    check(shows("cbc-security", "Message Is Encrypted"), "AES-256-CBC: \"Message Is Encrypted\"",
          seen["cbc-security"])
    check(shows("signed-security", "Message Is Signed"), "Bob's signature: \"Message Is Signed\" (issue 12 "
          "item 3: Thunderbird trusts the roots of correspondents mailseal rates partial or better)",
          seen["signed-security"])
    check(shows("impostor-security", "Not Valid") and not shows("impostor-security", "Message Is Signed"),
          "an impostor for Bob (a conflict): \"Digital Signature Is Not Valid\" (his root is distrusted)",
          seen["impostor-security"])
    print(f"# screenshots: {results}/*.png", flush=True)

finish(minimum=22)
