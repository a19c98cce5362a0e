"""Large encrypted messages stream (issue 15; docs/smime.md, "Large
messages"): `mailseal decrypt` of a message over 4 MiB, made by mailseal and
by `openssl cms -encrypt -stream` (BER with indefinite lengths and a chunked
encrypted content), in bounded memory; and what it refuses, as an attacker
would send it: altered ciphertext (the tag decides at the end: nothing
written, no temporary file left behind), unauthenticated CBC, bytes after
the CMS structure, recipientInfos that are not BER."""
import base64
import os
import resource
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, run_measured, run_tool, sanitizer_memory_allowance_mib, skip  # noqa: E402

require_mailseal()
if shutil.which("openssl") is None:
    skip("openssl is not installed")

MEGABYTES = 24
# The old reader held the message, its decoding and the plaintext (well over
# 100 MiB for this size); the streaming one needs a few buffers.
MAX_PEAK_MIB = 48 + sanitizer_memory_allowance_mib()


def decrypt(bob, message_path, output, tmpdir, *extra):
    """mailseal decrypt in its own process: (exit code, peak RSS in MiB, stderr)."""
    env = dict(os.environ, TMPDIR=tmpdir)
    arguments = [MAILSEAL, "--home", bob.home, "decrypt", message_path, *extra]
    if output:
        arguments += ["-o", output]
    code, peak, stderr, _ = run_measured(arguments, env=env)
    return code, peak, stderr


def body_of(message):
    return message.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in message else b""


def wrap_smime(der, smime_type):
    """An S/MIME message around a CMS structure, as a hand-made sender writes it."""
    encoded = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: large\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=" + smime_type +
            b"; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded)


work = tempfile.mkdtemp(prefix="mailseal-large.")
try:
    alice, bob = Home(work, "Alice"), Home(work, "Bob")
    alice.must("init", "alice@example.com")
    bob.must("init", "bob@example.org")
    alice.must("contact", "import", bob.certificates())
    password = os.path.join(work, "pw")
    with open(password, "w") as handle:
        handle.write("pw")
    p12 = os.path.join(work, "bob.p12")
    bob.must("export", "pkcs12", "--purpose", "encryption", "-o", p12, "--password-file", password)
    bob_crt = os.path.join(work, "bob.crt")
    run_tool("openssl", "pkcs12", "-in", p12, "-passin", "file:" + password, "-nokeys", "-clcerts", "-out", bob_crt)

    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = line * (MEGABYTES * 1024 * 1024 // len(line))
    plain = (b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: large\r\n"
             b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body)
    plain_path = os.path.join(work, "plain.eml")
    with open(plain_path, "wb") as handle:
        handle.write(plain)
    out_dir = os.path.join(work, "out")
    spool = os.path.join(work, "spool")
    os.makedirs(out_dir)
    os.makedirs(spool)

    def encrypt_to_bob(path, *options):
        with open(plain_path, "rb") as source:
            encrypted = alice.must("encrypt", *options, "--to", "bob@example.org", stdin=source.read()).stdout
        with open(path, "wb") as handle:
            handle.write(encrypted)

    def decrypt_to(message_path, name):
        """Decrypts into out/NAME: (exit code, peak MiB, stderr, what was written)."""
        out = os.path.join(out_dir, name)
        code, peak, err = decrypt(bob, message_path, out, spool)
        written = b""
        if code == 0:
            with open(out, "rb") as handle:
                written = handle.read()
        return code, peak, err, written

    def leftovers():
        return sorted(os.listdir(out_dir)) + sorted(os.listdir(spool))

    # mailseal's own AES-256-GCM message, unsigned: released, streamed.
    gcm = os.path.join(work, "gcm.eml")
    encrypt_to_bob(gcm, "--gcm", "--no-sign")
    code, peak, err, decrypted = decrypt_to(gcm, "gcm.out")
    check(code == 0 and body_of(decrypted) == body, "a large AES-GCM message from mailseal decrypts whole", err)
    check(b"Subject: large" in decrypted.split(b"\r\n\r\n")[0], "its protected Subject is restored")
    check(peak < MAX_PEAK_MIB, f"in bounded memory: peak {peak:.1f} MiB for a {MEGABYTES} MiB message")
    check(leftovers() == ["gcm.out"], "no temporary file is left beside the output", leftovers())
    check(os.stat(os.path.join(out_dir, "gcm.out")).st_mode & 0o777 == 0o600, "the output is 0600")

    # To standard output: the plaintext waits in TMPDIR, and goes.
    code, peak, err = decrypt(bob, gcm, None, spool)
    check(code == 0 and not os.listdir(spool), "to standard output, the temporary file in TMPDIR is removed", err)

    # openssl cms -stream: BER, indefinite lengths, the content in chunks.
    ber = os.path.join(work, "openssl-stream.eml")
    run_tool("openssl", "cms", "-encrypt", "-stream", "-binary", "-aes-256-gcm", "-in", plain_path, "-out", ber, bob_crt)
    code, peak, err, decrypted = decrypt_to(ber, "openssl.out")
    check(code == 0 and decrypted == plain, "openssl's streamed (BER, chunked) AES-GCM message decrypts", err)
    check(peak < MAX_PEAK_MIB, f"openssl's streamed message in bounded memory: peak {peak:.1f} MiB")

    # Attack: one altered base64 character near the end (inside the last
    # ciphertext chunk): GCM's tag fails at the end; nothing is written.
    with open(gcm, "rb") as handle:
        altered = bytearray(handle.read())
    position = len(altered) - 200
    while altered[position] in b"\r\n=":
        position -= 1
    altered[position] = ord("A") if altered[position] != ord("A") else ord("B")
    altered_path = os.path.join(work, "altered.eml")
    with open(altered_path, "wb") as handle:
        handle.write(altered)
    out = os.path.join(out_dir, "altered.out")
    code, peak, err = decrypt(bob, altered_path, out, spool)
    check(code != 0 and "altered in transit" in err, "altered AES-GCM ciphertext is refused at the tag", err)
    check(not os.path.exists(out) and leftovers() == ["gcm.out", "openssl.out"],
          "nothing of an altered message is written or left behind", leftovers())

    # Attack (EFAIL): unsigned AES-CBC from openssl, large: withheld, nothing left.
    cbc = os.path.join(work, "cbc.eml")
    run_tool("openssl", "cms", "-encrypt", "-stream", "-binary", "-aes256", "-in", plain_path, "-out", cbc, bob_crt)
    out = os.path.join(out_dir, "cbc.out")
    code, peak, err = decrypt(bob, cbc, out, spool)
    check(code != 0 and "without authentication" in err, "large unsigned AES-CBC content is withheld", err)
    check(not os.path.exists(out) and len(leftovers()) == 2, "and its plaintext is not left on disk", leftovers())

    # Attack: bytes after the CMS structure (hidden data a lenient parser skips).
    der = run_tool("openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER", "-in", plain_path, bob_crt)
    trailing = os.path.join(work, "trailing.eml")
    with open(trailing, "wb") as handle:
        handle.write(wrap_smime(der + b"\x00\x00hidden", b"authEnveloped-data"))
    out = os.path.join(out_dir, "trailing.out")
    code, peak, err = decrypt(bob, trailing, out, spool)
    check(code != 0 and "bytes follow the end" in err, "bytes after the CMS structure are refused", err)
    with open(os.path.join(work, "exact.eml"), "wb") as handle:
        handle.write(wrap_smime(der, b"authEnveloped-data"))
    code, peak, err = decrypt(bob, os.path.join(work, "exact.eml"), os.path.join(out_dir, "exact.out"), spool)
    check(code == 0, "the same structure without them decrypts (the check above is about the trailing bytes)", err)
    os.remove(os.path.join(out_dir, "exact.out"))

    # Attack: a primitive element with an indefinite length in the envelope.
    # The ContentInfo's OBJECT IDENTIFIER given length 0x80: refused as not BER.
    broken = bytearray(der)
    oid_at = broken.index(b"\x06\x0b")
    broken[oid_at + 1] = 0x80
    with open(os.path.join(work, "broken.eml"), "wb") as handle:
        handle.write(wrap_smime(bytes(broken), b"authEnveloped-data"))
    code, peak, err = decrypt(bob, os.path.join(work, "broken.eml"), os.path.join(out_dir, "broken.out"), spool)
    check(code != 0 and ("BER" in err or "CMS structure" in err) and not os.path.exists(os.path.join(out_dir, "broken.out")),
          "a primitive element of indefinite length is refused as malformed", err)

    # mailseal's default (signed inside, AES-CBC), large: the decryption
    # streams, and so does the signature inside it, from the decrypted file.
    signed = os.path.join(work, "signed.eml")
    encrypt_to_bob(signed)
    code, peak, err, decrypted = decrypt_to(signed, "signed.out")
    check(code == 0 and body_of(decrypted) == body and "good signature from alice@example.com" in err,
          "a large signed-then-encrypted message decrypts and its signature holds", err)
    check(peak < MAX_PEAK_MIB, f"the signature inside streams too: peak {peak:.1f} MiB for a {MEGABYTES} MiB message")
    check(leftovers() == ["gcm.out", "openssl.out", "signed.out"], "no temporary file is left", leftovers())

    # Signed by openssl (as another client signs), then encrypted by openssl
    # (AES-256-CBC): a multipart/signed inside, as Thunderbird sends, and an
    # opaque signature inside; each also with its signed content altered
    # before the encryption (a signer's mistake or a forgery: the digest
    # decides, nothing is written).
    alice_p12 = os.path.join(work, "alice.p12")
    alice.must("export", "pkcs12", "--purpose", "signing", "-o", alice_p12, "--password-file", password)
    alice_pem = os.path.join(work, "alice.pem")
    run_tool("openssl", "pkcs12", "-in", alice_p12, "-passin", "file:" + password, "-nodes", "-out", alice_pem)
    inner_path = os.path.join(work, "inner.eml")
    with open(inner_path, "wb") as handle:
        handle.write(b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body)

    def signed_then_encrypted(name, *sign_options, alter=None, sender=b"Alice <alice@example.com>"):
        signed_mime = run_tool("openssl", "cms", "-sign", "-signer", alice_pem, "-in", inner_path, "-binary",
                               "-md", "sha256", *sign_options)
        if alter:
            signed_mime = alter(signed_mime)
        signed_file = os.path.join(work, name + ".signed")
        with open(signed_file, "wb") as handle:
            handle.write(signed_mime)
        encrypted = run_tool("openssl", "cms", "-encrypt", "-aes256", "-binary", "-in", signed_file, bob_crt)
        path = os.path.join(work, name + ".eml")
        with open(path, "wb") as handle:
            handle.write(b"From: " + sender + b"\r\nTo: Bob <bob@example.org>\r\nSubject: large\r\n" +
                         encrypted.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        return path

    def flip_in_body(text):
        at = text.index(b"again and again", len(text) // 2)
        return text[:at] + b"AGAIN" + text[at + 5:]

    def flip_in_der(text):
        """The opaque signature's content is base64 inside: altered in the decoded DER."""
        head, encoded = text.split(b"\n\n", 1) if b"\r\n\r\n" not in text else text.split(b"\r\n\r\n", 1)
        der = base64.b64decode(encoded)
        at = der.index(b"again and again", len(der) // 2)
        der = der[:at] + b"AGAIN" + der[at + 5:]
        return head + b"\r\n\r\n" + base64.encodebytes(der).replace(b"\n", b"\r\n")

    for name, options, alter, form in (("detached-inside", [], flip_in_body, "multipart/signed"),
                                       ("opaque-inside", ["-nodetach"], flip_in_der, "opaque")):
        code, peak, err, decrypted = decrypt_to(signed_then_encrypted(name, *options), name + ".out")
        check(code == 0 and body_of(decrypted) == body and "good signature from alice@example.com" in err,
              f"openssl's {form} signature inside openssl's encryption holds", err)
        check(peak < MAX_PEAK_MIB, f"and streams: peak {peak:.1f} MiB")
        before = leftovers()
        code, peak, err, decrypted = decrypt_to(signed_then_encrypted(name + "-altered", *options, alter=alter),
                                                name + "-altered.out")
        check(code != 0 and "signature is not valid" in err and decrypted == b"",
              f"altered content under a {form} signature inside the encryption is withheld", err)
        check(leftovers() == before, "and nothing of it is written or left behind", leftovers())

    # Alice's signature inside a message whose From is someone else's: whom
    # it is from is unknown, so nothing is released.
    code, peak, err, decrypted = decrypt_to(
        signed_then_encrypted("impostor", sender=b"Carol <carol@example.net>"), "impostor.out")
    check(code != 0 and "carol@example.net" in err and decrypted == b"" and leftovers() == before,
          "a streamed inner signature by someone other than the From is withheld", err)
finally:
    shutil.rmtree(work, ignore_errors=True)

finish(minimum=26)
