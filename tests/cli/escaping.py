#!/usr/bin/env python3
"""Untrusted text is escaped exactly once, where it reaches a terminal: the
library keeps raw strings, JSON carries them raw, and the mailseal command
escapes them when it prints text. Each case holds a backslash and an escape
character (and a bidirectional override where a certificate name can carry
one): a header line in an error message, a person's name on their
certificates (the trust report), and a trust anchor's subject (anchor list
and the evidence of a verdict)."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import check, finish  # noqa: E402

MAILSEAL = os.environ["MAILSEAL"]
EVIL = "\\\x1b[31m"  # a backslash, then ESC [ 31 m (red)
RLO = "\u202e"       # right-to-left override: reorders what a terminal shows


def terminal_escape(text):
    """What escape_for_terminal makes of `text` (common/escape.h), for the
    characters these cases use."""
    out = []
    for character in text:
        if character == "\\":
            out.append("\\\\")
        elif ord(character) < 0x20 or ord(character) == 0x7f:
            out.append(f"\\x{ord(character):02x}")
        elif character == RLO:
            out.append("".join(f"\\x{byte:02x}" for byte in character.encode()))
        else:
            out.append(character)
    return "".join(out)


def run(*arguments):
    return subprocess.run([MAILSEAL, *arguments], capture_output=True)


def must(*arguments):
    result = run(*arguments)
    if result.returncode != 0:
        raise RuntimeError(f"mailseal {' '.join(arguments)} failed: {result.stderr.decode(errors='replace')}")
    return result


def no_raw_control(output, what):
    text = output.decode()
    check("\x1b" not in text and RLO not in text, f"{what}: no raw escape character or override reaches the terminal",
          repr(text))


def header_in_an_error(work):
    message = os.path.join(work, "bad-header.eml")
    with open(message, "wb") as handle:
        handle.write(f"From: alice@example.com\r\nevil{EVIL} line\r\nSubject: x\r\n\r\nbody\r\n".encode())
    result = run("verify", message, "--home", os.path.join(work, "no-profile"))
    stderr = result.stderr.decode()
    check(result.returncode == 1, "verify refuses a header line that is not a field", stderr)
    check(f"'{terminal_escape('evil' + EVIL + ' line')}'" in stderr, "the error shows the header line escaped once",
          repr(stderr))
    check("\\\\\\\\" not in stderr, "and no doubled backslashes", repr(stderr))
    no_raw_control(result.stderr, "the error")


def name_on_certificates(work):
    alice, bob = os.path.join(work, "alice"), os.path.join(work, "bob")
    name = "Bob" + EVIL
    must("init", "alice@example.com", "--home", alice, "--suite", "modern")
    must("init", "bob@example.org", "--home", bob, "--suite", "modern", "--name", name)
    certificates = os.path.join(work, "bob.pem")
    must("export", "certificates", "-o", certificates, "--home", bob)
    must("contact", "import", certificates, "--home", alice)
    must("endorse", "bob@example.org", "--home", alice)

    document = json.loads(must("trust", "bob@example.org", "--json", "--home", alice).stdout)
    names = [edge["to_name"] for path in document["paths"] for edge in path["edges"]]
    check(names == [name], "trust --json names Bob as his certificate does, raw", repr(names))
    text = must("trust", "bob@example.org", "--home", alice).stdout
    check(f"({terminal_escape(name)})" in text.decode(), "trust prints his name escaped once", text.decode())
    no_raw_control(text, "trust")
    status = json.loads(must("status", "--json", "--home", bob).stdout)
    check(status["name"] == name, "status --json gives the name raw", repr(status["name"]))
    text = must("status", "--home", bob).stdout
    check(f"profile      {terminal_escape(name)}\n" in text.decode(), "status prints it escaped once", text.decode())
    no_raw_control(text, "status")


def anchor_subject(work):
    """An enterprise CA whose name holds a backslash, ESC and an override, and
    a certificate for carol@example.net it issued."""
    home = os.path.join(work, "alice")
    key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    common_name = "Evil" + EVIL + RLO + "CA"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", ca, "-days", "10", "-utf8",
                    "-subj", "/CN=" + common_name.replace("\\", "\\\\"),
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True, capture_output=True)
    carol_key, csr, carol = (os.path.join(work, name) for name in ("carol.key", "carol.csr", "carol.pem"))
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", carol_key, "-out", csr, "-subj", "/CN=Carol"], check=True, capture_output=True)
    extensions = os.path.join(work, "carol.ext")
    with open(extensions, "w") as handle:
        handle.write("[e]\nsubjectAltName=email:carol@example.net\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                     "extendedKeyUsage=emailProtection\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", key, "-set_serial", "7", "-days", "5",
                    "-extfile", extensions, "-extensions", "e", "-out", carol], check=True, capture_output=True)
    must("contact", "import", carol, "--home", home)
    must("trust", "anchor", "add", ca, "--home", home)

    subject = subprocess.run(["openssl", "x509", "-in", ca, "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"],
                             check=True, capture_output=True).stdout.decode().strip().removeprefix("subject=")
    listed = json.loads(must("trust", "anchor", "list", "--json", "--home", home).stdout)["anchors"]
    check([anchor["subject"] for anchor in listed] == [subject] and RLO in subject,
          "trust anchor list --json gives the subject raw (its RFC 2253 form)", repr(listed))
    text = must("trust", "anchor", "list", "--home", home).stdout
    check(text.decode().rstrip("\n").endswith("  " + terminal_escape(subject)),
          "trust anchor list prints the subject escaped once", text.decode())
    no_raw_control(text, "trust anchor list")

    verdict = json.loads(must("trust", "carol@example.net", "--json", "--home", home).stdout)
    details = [item["detail"] for item in verdict["evidence"] if item["kind"] == "pkix"]
    check(details == [f"validates to the trust anchor {subject}"], "the evidence in --json names the anchor raw",
          repr(details))
    text = must("trust", "carol@example.net", "--home", home).stdout
    check(f"validates to the trust anchor {terminal_escape(subject)}\n" in text.decode(),
          "trust prints the anchor in the evidence escaped once", text.decode())
    no_raw_control(text, "trust")


def main():
    with tempfile.TemporaryDirectory(prefix="mailseal-escaping-") as work:
        header_in_an_error(work)
        name_on_certificates(work)
        anchor_subject(work)
    finish(minimum=16)


if __name__ == "__main__":
    main()
