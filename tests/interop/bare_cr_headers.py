#!/usr/bin/env python3
"""A bare CR in the header block of signed content (found in review, 2026-12-01).

The header parser breaks lines at LF; a release writes the content with CRLF
line endings, where a bare CR becomes a line break. A signer who writes
"Subject: hi<CR>From: ceo@bank.example" had that From checked as part of the
Subject and released as a From of its own; a man in the middle who turns a
signed CRLF into a bare CR (the canonical digest is the same) hid the signed
From, and the outer, unsigned Reply-To was put on top of the release. Now the
content is read in the form it is released in. Signed by openssl, small (read
whole) and over 4 MiB (streamed), detached and opaque."""
import base64
import email.utils
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import Home, check, finish, require_mailseal, run_tool, skip  # noqa: E402

require_mailseal()
if shutil.which("openssl") is None:
    skip("openssl is not installed")

LARGE = 5 * 1000 * 1000
# Dated now: a signing time far from the Date header is a problem of its own.
OUTER = (f"To: bob@example.org\r\nDate: {email.utils.formatdate(usegmt=True)}\r\nSubject: hi\r\n"
         "MIME-Version: 1.0\r\n").encode()


def base64_lines(der):
    return base64.encodebytes(der).replace(b"\n", b"\r\n")


def content(header_block, size):
    line = b"A" * 70 + b"\r\n"
    return header_block + line * max(1, size // len(line))


def sign(work, data, detached):
    source, signature = os.path.join(work, "content"), os.path.join(work, "signature")
    with open(source, "wb") as handle:
        handle.write(data)
    run_tool("openssl", "cms", "-sign", "-binary", *([] if detached else ["-nodetach"]), "-in", source, "-signer",
             os.path.join(work, "cert.pem"), "-inkey", os.path.join(work, "key.pem"), "-outform", "DER", "-out",
             signature, "-md", "sha256")
    with open(signature, "rb") as handle:
        return handle.read()


def multipart_signed(part, signature, outer_extra=b""):
    return (b"From: attacker@evil.example\r\n" + outer_extra + OUTER +
            b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
            b"boundary=\"BB\"\r\n\r\n--BB\r\n" + part + b"\r\n--BB\r\nContent-Type: application/pkcs7-signature; "
            b"name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_lines(signature) + b"\r\n--BB--\r\n")


def opaque_signed(signed_data):
    return (b"From: attacker@evil.example\r\n" + OUTER +
            b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64_lines(signed_data))


def verify(bob, work, name, message):
    path, out = os.path.join(work, name + ".eml"), os.path.join(work, name + ".out")
    with open(path, "wb") as handle:
        handle.write(message)
    result = bob.run("verify", path, "-o", out)
    released = None
    if os.path.exists(out):
        with open(out, "rb") as handle:
            released = handle.read()
    return result, released


def main():
    work = tempfile.mkdtemp(prefix="mailseal-bare-cr.")
    try:
        # The signer: attacker@evil.example, with a certificate of its own.
        run_tool("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days",
                 "30", "-subj", "/CN=attacker", "-addext", "subjectAltName=email:attacker@evil.example", "-keyout",
                 os.path.join(work, "key.pem"), "-out", os.path.join(work, "cert.pem"))
        bob = Home(work, "Bob")
        bob.must("init", "bob@example.org")

        hidden_from = b"Subject: hi\rFrom: ceo@bank.example\r\nContent-Type: text/plain\r\n\r\n"
        for size, label in ((2000, "small"), (LARGE, "large")):
            data = content(hidden_from, size)
            for detached in (True, False):
                form = "detached" if detached else "opaque"
                signature = sign(work, data, detached)
                message = multipart_signed(data, signature) if detached else opaque_signed(signature)
                result, released = verify(bob, work, f"{label}-{form}", message)
                stderr = result.stderr.decode(errors="replace")
                check(result.returncode == 1, f"{label} {form}: a From hidden behind a bare CR is not verified", stderr)
                check("ceo@bank.example" in stderr, f"{label} {form}: the hidden From is named as the problem",
                      stderr)
                check(released is None, f"{label} {form}: nothing is released")

        # A man in the middle turns a signed CRLF into a bare CR and adds a Reply-To.
        honest = content(b"Subject: pay invoice\r\nFrom: attacker@evil.example\r\nContent-Type: text/plain\r\n\r\n",
                         LARGE)
        signature = sign(work, honest, True)
        altered = honest.replace(b"invoice\r\nFrom", b"invoice\rFrom", 1)
        result, released = verify(bob, work, "mitm",
                                  multipart_signed(altered, signature, b"Reply-To: mitm@evil2.example\r\n"))
        stderr = result.stderr.decode(errors="replace")
        check(result.returncode == 0, "man in the middle: the signature over the canonical form still holds", stderr)
        check(released is not None and b"mitm@evil2.example" not in released,
              "man in the middle: the unsigned outer Reply-To is not released")
        check(released is not None and released.count(b"\r\nFrom: ") + released.startswith(b"From: ") == 1,
              "man in the middle: the release has exactly one From, the signed one")

        # A signature hidden behind a bare CR at the top of large content
        # (found in review, 2026-12-01): reading judged the content one
        # text/plain part and kept the rest of the file for the release, but
        # in the released form a Content-Type names a signature, whose
        # content was released followed by the rest of the file, which that
        # signature does not cover. Now such content is read whole.
        inner_part = b"From: attacker@evil.example\r\nContent-Type: text/plain\r\n\r\nsigned words\r\n"
        hidden_signature = (b"Subject: x\rContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
                            b"micalg=sha-256; boundary=\"CC\"\r\n\r\n--CC\r\n" + inner_part +
                            b"\r\n--CC\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
                            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64_lines(sign(work, inner_part, True)) +
                            b"\r\n--CC--\r\n")

        def stitched(head):
            """`head`, lines to past the first 64 KiB of the body, unsigned words, lines to LARGE."""
            pad = b"E" * 70 + b"\r\n"
            return head + pad * (70000 // len(pad)) + b"P.S. unsigned words\r\n" + pad * (LARGE // len(pad))

        outer = sign(work, stitched(b"From: attacker@evil.example\r\n" + hidden_signature), False)
        result, released = verify(bob, work, "hidden-signature", opaque_signed(outer))
        check(released is None or b"P.S. unsigned" not in released,
              "a signature hidden behind a bare CR inside a large signature: nothing it does not cover is released",
              result.stderr.decode(errors="replace"))

        p12, password = os.path.join(work, "bob.p12"), os.path.join(work, "pw")
        with open(password, "w") as handle:
            handle.write("pw")
        bob.must("export", "pkcs12", "--purpose", "encryption", "-o", p12, "--password-file", password)
        bob_cert = os.path.join(work, "bob.crt")
        run_tool("openssl", "pkcs12", "-in", p12, "-passin", "file:" + password, "-nokeys", "-clcerts", "-out", bob_cert)
        plain = os.path.join(work, "hidden-plain")
        with open(plain, "wb") as handle:
            handle.write(stitched(hidden_signature))
        envelope = run_tool("openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc", "-in", plain, "-outform", "DER",
                            bob_cert)
        encrypted = (b"From: attacker@evil.example\r\n" + OUTER +
                     b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
                     b"Content-Transfer-Encoding: base64\r\n\r\n" + base64_lines(envelope))
        path, out = os.path.join(work, "hidden-encrypted.eml"), os.path.join(work, "hidden-encrypted.out")
        with open(path, "wb") as handle:
            handle.write(encrypted)
        result = bob.run("decrypt", path, "-o", out)
        released = open(out, "rb").read() if os.path.exists(out) else None
        check(released is None or b"P.S. unsigned" not in released,
              "a signature hidden behind a bare CR inside a large encryption: nothing it does not cover is released",
              result.stderr.decode(errors="replace"))
        check(result.returncode == 0 and released is not None and b"signed words" in released,
              "and what it covers is released, as for a small message", result.stderr.decode(errors="replace"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish(minimum=17)


main()
