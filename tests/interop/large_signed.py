"""Large opaque signed messages verify as a stream (issue 15; docs/smime.md,
"Large messages"): `mailseal verify -o` of a message over 4 MiB, signed by
mailseal and by `openssl cms -sign -stream` (BER with indefinite lengths and
a chunked content), in bounded memory, its content released only under a
valid signature and then the same bytes as `openssl cms -verify` gives; and
what it refuses, as an attacker would send it: altered content (the digest
decides at the end: nothing written, no temporary file left behind), a
truncated message, two signers (one of them not the sender), a content
nested deeper than the reader allows."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, run_measured, run_tool, sanitizer_memory_allowance_mib, skip  # noqa: E402

require_mailseal()
if shutil.which("openssl") is None:
    skip("openssl is not installed")

MEGABYTES = 24
# Read whole, the message, its decoding and the content took well over 100
# MiB for this size; the streaming reader needs a few buffers.
MAX_PEAK_MIB = 48 + sanitizer_memory_allowance_mib()


def wrap_signed(der):
    """An opaque signed message around a CMS structure, as a hand-made sender writes it."""
    encoded = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: large\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded)


work = tempfile.mkdtemp(prefix="mailseal-large-signed.")
try:
    alice, bob = Home(work, "Alice"), Home(work, "Bob")
    alice.must("init", "alice@example.com")
    bob.must("init", "bob@example.org")
    password = os.path.join(work, "pw")
    with open(password, "w") as handle:
        handle.write("pw")
    pem = {}
    for who, home in (("alice", alice), ("bob", bob)):
        p12 = os.path.join(work, who + ".p12")
        home.must("export", "pkcs12", "--purpose", "signing", "-o", p12, "--password-file", password)
        pem[who] = (os.path.join(work, who + ".crt"), os.path.join(work, who + ".key"))
        run_tool("openssl", "pkcs12", "-in", p12, "-passin", "file:" + password, "-nokeys", "-clcerts", "-out", pem[who][0])
        run_tool("openssl", "pkcs12", "-in", p12, "-passin", "file:" + password, "-nocerts", "-nodes", "-out", pem[who][1])

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

    def verify(message_path, name, *extra):
        """mailseal verify into out/NAME in its own process: (exit code, peak MiB, stderr, what was written)."""
        out = os.path.join(out_dir, name)
        arguments = [MAILSEAL, "--home", bob.home, "verify", message_path, "-o", out, *extra]
        code, peak, stderr, stdout = run_measured(arguments, env=dict(os.environ, TMPDIR=spool))
        written = None
        if os.path.exists(out):
            with open(out, "rb") as handle:
                written = handle.read()
        verify.stdout = stdout
        return code, peak, stderr, written

    def openssl_content(message_path):
        return run_tool("openssl", "cms", "-verify", "-noverify", "-binary", "-in", message_path)

    def with_from(path):
        """openssl writes no From, To or Subject: added as the sending client does."""
        with open(path, "rb") as handle:
            message = handle.read()
        eol = b"\r\n" if b"\r\n" in message[:200] else b"\n"
        with open(path, "wb") as handle:
            handle.write(eol.join([b"From: Alice <alice@example.com>", b"To: Bob <bob@example.org>",
                                   b"Subject: large", b""]) + message)

    def leftovers():
        return sorted(os.listdir(out_dir)) + sorted(os.listdir(spool))

    # mailseal's own opaque signature: verified, learned, released.
    opaque = os.path.join(work, "opaque.eml")
    with open(plain_path, "rb") as source:
        signed = alice.must("sign", "--opaque", stdin=source.read()).stdout
    with open(opaque, "wb") as handle:
        handle.write(signed)
    code, peak, err, written = verify(opaque, "opaque.out")
    check(code == 0 and "good signature from alice@example.com" in err, "a large opaque signature holds", err)
    check(written == openssl_content(opaque), "the content written is what openssl cms -verify gives")
    check(written is not None and written.endswith(body), "and it holds the whole body")
    check(peak < MAX_PEAK_MIB, f"in bounded memory: peak {peak:.1f} MiB for a {MEGABYTES} MiB message")
    check(leftovers() == ["opaque.out"], "no temporary file is left beside the output", leftovers())
    check(os.stat(os.path.join(out_dir, "opaque.out")).st_mode & 0o777 == 0o600, "the output is 0600")
    contacts = json.loads(bob.must("contact", "list", "--json").stdout)
    check("alice@example.com" in json.dumps(contacts), "the signer was learned from the large message", contacts)
    code, peak, err, written = verify(opaque, "json.out", "--json")
    document = json.loads(verify.stdout)
    check(code == 0 and document["valid"] and document["signed"] and "alice@example.com" in json.dumps(document["signer"])
          and document["digest"] == "SHA-256" and document["problems"] == [],
          "--json: the fields of a valid signature", verify.stdout)
    os.remove(os.path.join(out_dir, "json.out"))

    # openssl cms -sign -stream: BER, indefinite lengths, the content in chunks.
    streamed = os.path.join(work, "openssl-stream.eml")
    run_tool("openssl", "cms", "-sign", "-stream", "-binary", "-nodetach", "-in", plain_path, "-signer", pem["alice"][0],
        "-inkey", pem["alice"][1], "-out", streamed)
    with_from(streamed)
    code, peak, err, written = verify(streamed, "openssl.out")
    check(code == 0 and written == plain, "openssl's streamed (BER, chunked) opaque signature holds", err)
    check(peak < MAX_PEAK_MIB, f"openssl's streamed message in bounded memory: peak {peak:.1f} MiB")

    # Without -stream: DER, definite lengths counting the whole structure (as
    # NSS writes): it streams as well.
    definite = os.path.join(work, "openssl-definite.eml")
    run_tool("openssl", "cms", "-sign", "-binary", "-nodetach", "-in", plain_path, "-signer", pem["alice"][0],
             "-inkey", pem["alice"][1], "-out", definite)
    with_from(definite)
    code, peak, err, written = verify(definite, "definite.out")
    check(code == 0 and written == plain, "openssl's DER opaque signature (definite lengths) holds", err)
    check(peak < MAX_PEAK_MIB, f"and streams: peak {peak:.1f} MiB")
    os.remove(os.path.join(out_dir, "definite.out"))

    # Attack: one altered base64 character in the middle of the content: the
    # digest fails at the end; nothing is written.
    with open(opaque, "rb") as handle:
        altered = bytearray(handle.read())
    position = len(altered) // 2
    while altered[position] in b"\r\n=":
        position -= 1
    altered[position] = ord("A") if altered[position] != ord("A") else ord("B")
    altered_path = os.path.join(work, "altered.eml")
    with open(altered_path, "wb") as handle:
        handle.write(altered)
    code, peak, err, written = verify(altered_path, "altered.out")
    check(code != 0 and "does not match the message" in err, "altered content fails the digest", err)
    check(written is None and leftovers() == ["opaque.out", "openssl.out"],
          "nothing of an altered message is written or left behind", leftovers())

    # Attack: the message cut in two.
    truncated = os.path.join(work, "truncated.eml")
    with open(truncated, "wb") as handle:
        handle.write(signed[: len(signed) // 2 - (len(signed) // 2) % 78])
    code, peak, err, written = verify(truncated, "truncated.out")
    check(code != 0 and ("truncated" in err or "ends early" in err), "a truncated message is refused", err)
    check(written is None and len(leftovers()) == 2, "and nothing of it is written", leftovers())

    # Attack: a second signer, Bob, over Alice's content (openssl, two -signer).
    two = os.path.join(work, "two-signers.eml")
    run_tool("openssl", "cms", "-sign", "-stream", "-binary", "-nodetach", "-in", plain_path, "-signer", pem["alice"][0],
        "-inkey", pem["alice"][1], "-signer", pem["bob"][0], "-inkey", pem["bob"][1], "-out", two)
    with_from(two)
    code, peak, err, written = verify(two, "two.out")
    check(code != 0 and "2 signers" in err, "two signers are refused (exactly one is accepted)", err)
    check(written is None and len(leftovers()) == 2, "and nothing of that message is written", leftovers())

    # Attack: the content nested 40 constructed OCTET STRINGs deep, the
    # message padded past the streaming threshold.
    nested = bytes.fromhex("3080" "06092a864886f70d010702" "a080" "3080" "020101" "310f300d06096086480165030402010500"
                           "3080" "06092a864886f70d010701" "a080" + "2480" * 40)
    nested += b"\x04" * (5 * 1024 * 1024)
    nested_path = os.path.join(work, "nested.eml")
    with open(nested_path, "wb") as handle:
        handle.write(wrap_signed(nested))
    code, peak, err, written = verify(nested_path, "nested.out")
    check(code != 0 and "deeper" in err, "a content nested past the reader's limit is refused", err)
    check(written is None and len(leftovers()) == 2, "and nothing is written", leftovers())

    # Killed halfway: the content read so far sits in a file with no name
    # (O_TMPFILE) beside the output, so nothing is left behind to be mistaken
    # for a verified output.
    process = subprocess.Popen([MAILSEAL, "--home", bob.home, "verify", "-", "-o", os.path.join(out_dir, "killed.out")],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, TMPDIR=spool))
    process.stdin.write(signed[:len(signed) * 3 // 5])
    process.stdin.flush()
    spooling = None
    links = []
    for _ in range(1200):
        try:
            links = [os.readlink(f"/proc/{process.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{process.pid}/fd")]
        except OSError:
            links = []
        spooling = next((link for link in links if link.startswith(out_dir + "/")), None)
        if spooling:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    process.stdin.close()
    check(spooling is not None and "(deleted)" in spooling,
          "halfway through, the content is spooled beside the output in a file with no name",
          f"{spooling}; open: {links}; exit {process.returncode}")
    check(len(leftovers()) == 2, "killed then, it leaves nothing behind", leftovers())
finally:
    shutil.rmtree(work, ignore_errors=True)

finish(minimum=21)
