#!/usr/bin/python3
"""Keys into existing mail clients: the Apple configuration profile parses as
a property list and holds the identities; `setup thunderbird` fills a real
NSS database (read back with certutil, used by NSS's cmsutil to sign and to
decrypt) and prefs.js; `setup mutt` writes files that its OpenSSL commands,
run as mutt would, sign and decrypt with."""
import base64
import email
import fcntl
import json
import os
import plistlib
import shlex
import smtplib
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402

require_mailseal()


def run(*arguments, stdin=None):
    return subprocess.run(list(arguments), capture_output=True, input=stdin)


def mailseal(home, *arguments, stdin=None):
    return Home.at(home).run(*arguments, stdin=stdin)


def must(home, *arguments):
    return Home.at(home).must(*arguments)


def der_of_pem(pem):
    return run("openssl", "x509", "-outform", "DER", stdin=pem).stdout


def cms_body(message_bytes):
    """The DER of an application/pkcs7-mime message."""
    parsed = email.message_from_bytes(message_bytes)
    return base64.b64decode(parsed.get_payload())


def dead_process_id():
    """The id of a process that has ended (as after Thunderbird quit)."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def tree(directory):
    listing = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                listing[os.path.relpath(path, directory)] = os.readlink(path)
                continue
            with open(path, "rb") as handle:
                listing[os.path.relpath(path, directory)] = handle.read()
    return listing


with tempfile.TemporaryDirectory() as work:
    alice, bob = os.path.join(work, "alice"), os.path.join(work, "bob")
    must(alice, "init", "alice@example.com", "--name", "Alice")
    must(bob, "init", "bob@example.org", "--name", "Bob")
    alice_certificates = os.path.join(work, "alice.pem")

    def alice_exports():
        """Alice's current certificates (mail ones, then the root), given to Bob as a contact would."""
        must(alice, "export", "certificates", "-o", alice_certificates)
        must(bob, "contact", "import", alice_certificates)
        with open(alice_certificates, "rb") as handle:
            return [block + b"-----END CERTIFICATE-----\n"
                    for block in handle.read().split(b"-----END CERTIFICATE-----") if b"BEGIN" in block]

    def bob_writes_to_alice(name, text):
        path = os.path.join(work, name)
        with open(path, "wb") as out:
            out.write(b"From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\n" + text + b"\r\n")
        result = mailseal(bob, "--json", "encrypt", path, "-o", path + ".enc")
        report = json.loads(result.stdout) if result.returncode == 0 else {}
        with open(path + ".enc", "rb") as handle:
            der = cms_body(handle.read())
        with open(path + ".p7m", "wb") as out:
            out.write(der)
        return report, path + ".p7m"

    pems = alice_exports()
    root_der = der_of_pem(pems[-1])
    report, _ = bob_writes_to_alice("gcm.eml", b"before")
    check(report.get("content_cipher") == "AES-256-CBC",
          "between mailseal profiles, Bob encrypts to Alice with AES-256-CBC (what every client reads)", report)

    # ---- Apple configuration profile ----
    password = os.path.join(work, "password")
    with open(password, "w") as out:
        out.write("install me\n")
    profile_file = os.path.join(work, "alice.mobileconfig")
    result = mailseal(alice, "--json", "export", "mobileconfig", "-o", profile_file, "--password-file", password)
    check(result.returncode == 0, "export mobileconfig", result.stderr.decode())
    cbc = json.loads(result.stdout).get("cbc", {}) if result.returncode == 0 else {}
    check(cbc.get("reissued_certificates") == 1 and cbc.get("warnings") == [
        "correspondents learn the new certificates from your next signed message (no key service is configured)"],
          "the encryption certificate is re-issued to ask senders for AES-CBC (Apple Mail reads no GCM)", cbc)
    pems = alice_exports()
    mail_ders = {der_of_pem(pem) for pem in pems[:-1]}
    report, _ = bob_writes_to_alice("cbc.eml", b"after")
    check(report.get("content_cipher") == "AES-256-CBC" and report.get("key_transport") == "RSAES-PKCS1-v1_5",
          "with the new certificate Bob encrypts with AES-256-CBC and RSA PKCS#1 v1.5", report)
    check(stat.S_IMODE(os.stat(profile_file).st_mode) == 0o600, "the profile file is 0600")
    with open(profile_file, "rb") as handle:
        plist = plistlib.load(handle)
    payloads = plist.get("PayloadContent", [])
    check(plist.get("PayloadType") == "Configuration" and plist.get("PayloadVersion") == 1
          and len({p["PayloadUUID"] for p in payloads} | {plist["PayloadUUID"]}) == len(payloads) + 1,
          "it parses as a property list: a Configuration with distinct payload UUIDs")
    roots = [p for p in payloads if p["PayloadType"] == "com.apple.security.root"]
    identities = [p for p in payloads if p["PayloadType"] == "com.apple.security.pkcs12"]
    check(len(roots) == 1 and roots[0]["PayloadContent"] == root_der, "a root payload holds Alice's profile root")
    check(len(identities) == 2 and all("Password" not in p for p in identities),
          "two PKCS#12 payloads (signing, encryption), without the password by default")
    found = set()
    for payload in identities:
        certificate = run("openssl", "pkcs12", "-nokeys", "-clcerts", "-passin", "pass:install me",
                          stdin=payload["PayloadContent"])
        key = run("openssl", "pkcs12", "-nocerts", "-nodes", "-passin", "pass:install me",
                  stdin=payload["PayloadContent"])
        certificate_key = run("openssl", "x509", "-noout", "-pubkey", stdin=certificate.stdout).stdout
        private_public = run("openssl", "pkey", "-pubout", stdin=key.stdout).stdout
        if certificate.returncode == 0 and certificate_key and certificate_key == private_public:
            found.add(der_of_pem(certificate.stdout))
    check(found == mail_ders, "each PKCS#12 opens with the password and holds one of Alice's keys with its certificate")
    result = mailseal(alice, "export", "mobileconfig", "-o", profile_file, "--password-file", password,
                      "--include-password")
    with open(profile_file, "rb") as handle:
        plist = plistlib.load(handle)
    check(all(p.get("Password") == "install me" for p in plist["PayloadContent"]
              if p["PayloadType"] == "com.apple.security.pkcs12"), "--include-password puts the password in")

    # ---- Thunderbird ----
    thunderbird = os.path.join(work, "thunderbird")
    os.makedirs(thunderbird)
    prefs_file = os.path.join(thunderbird, "prefs.js")
    with open(prefs_file, "w") as out:
        out.write('// Mozilla User Preferences\n'
                  'user_pref("mail.identity.id1.fullName", "Someone Else");\n'
                  'user_pref("mail.identity.id1.useremail", "someone@example.net");\n')
    result = mailseal(alice, "setup", "thunderbird", "--profile", thunderbird)
    check(result.returncode == 1 and b"add the mail account" in result.stderr
          and not os.path.exists(os.path.join(thunderbird, "cert9.db")),
          "no Thunderbird identity for Alice: a clear error, and no database created", result.stderr.decode())
    with open(prefs_file, "a") as out:
        out.write('user_pref("mail.identity.id2.fullName", "Alice");\n'
                  'user_pref("mail.identity.id2.useremail", "Alice@Example.com");\n'
                  'user_pref("mail.identity.id2.signing_cert_name", "an old one");\n')
    # Thunderbird, running, holds an fcntl lock on .parentlock (this process
    # plays it) and a `lock` link naming its address and PID.
    os.symlink(f"127.0.0.1:+{os.getpid()}", os.path.join(thunderbird, "lock"))
    before = tree(thunderbird)
    result = mailseal(alice, "setup", "thunderbird", "--profile", thunderbird)
    check(result.returncode == 1 and b"Thunderbird is running" in result.stderr and tree(thunderbird) == before,
          "a lock link naming a live process (no .parentlock): refused, nothing changed", result.stderr.decode())
    with open(os.path.join(thunderbird, ".parentlock"), "w") as parent_lock:
        # Closing any descriptor of the file releases this process's fcntl
        # locks on it, so the tree is read before the lock is taken.
        before = tree(thunderbird)
        fcntl.lockf(parent_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = mailseal(alice, "setup", "thunderbird", "--profile", thunderbird)
    check(result.returncode == 1 and b"Thunderbird is running" in result.stderr and tree(thunderbird) == before,
          "while Thunderbird runs (.parentlock locked): refused, nothing changed", result.stderr.decode())
    # After a normal quit the lock is released and the link stays behind,
    # naming a process that is gone: set-up goes ahead (below).
    os.unlink(os.path.join(thunderbird, "lock"))
    os.symlink(f"127.0.0.1:+{dead_process_id()}", os.path.join(thunderbird, "lock"))
    result = mailseal(alice, "--json", "setup", "thunderbird", "--profile", thunderbird)
    check(result.returncode == 0, "setup thunderbird", result.stderr.decode())
    thunderbird_report = json.loads(result.stdout) if result.returncode == 0 else {}
    check([i["id"] for i in thunderbird_report.get("identities", [])] == ["id2"],
          "it configures identity id2 (Alice's)")
    database = "sql:" + thunderbird
    listing = run("certutil", "-L", "-d", database).stdout.decode()
    check("mailseal root Alice" in listing and ",C," in listing.split("mailseal root Alice")[1].splitlines()[0],
          "certutil lists the profile root, trusted for email", listing)
    keys = run("certutil", "-K", "-d", database, "-f", "/dev/null").stdout.decode()
    check(keys.count("<") >= 2, "certutil -K lists two private keys", keys)

    with open(prefs_file) as handle:
        prefs = handle.read()

    def pref(name):
        prefix = f'user_pref("mail.identity.id2.{name}", '
        lines = [line for line in prefs.splitlines() if line.startswith(prefix)]
        return lines[-1][len(prefix):-2].strip('"') if len(lines) == 1 else None

    check(pref("sign_mail") == "true" and pref("e2etechpref") == "1" and pref("signing_cert_name") != "an old one",
          "prefs.js: signing on, S/MIME preferred, the old certificate name replaced", prefs)
    check('mail.identity.id1.signing' not in prefs, "the other identity is left alone")
    for purpose in ("signing", "encryption"):
        db_key = base64.b64decode(pref(f"{purpose}_cert_dbkey") or "")
        nickname = pref(f"{purpose}_cert_name")
        serial_length = int.from_bytes(db_key[8:12], "big")
        issuer_length = int.from_bytes(db_key[12:16], "big")
        serial = db_key[16:16 + serial_length]
        issuer = db_key[16 + serial_length:]
        exported = run("certutil", "-L", "-d", database, "-n", nickname or "?", "-a").stdout
        matches = []
        for pem in exported.split(b"-----END CERTIFICATE-----")[:-1]:
            pem += b"-----END CERTIFICATE-----\n"
            text = run("openssl", "x509", "-noout", "-serial", stdin=pem).stdout.decode().strip()
            if text.split("=")[1].lower() == serial.hex().lstrip("0") or text.split("=")[1].lower() == serial.hex():
                matches.append(pem)
        check(db_key[:8] == bytes(8) and len(issuer) == issuer_length and len(matches) == 1,
              f"the {purpose} dbKey names a certificate NSS holds under nickname '{nickname}'", db_key.hex())
    # NSS itself uses the imported keys: cmsutil signs, and decrypts Bob's mail.
    body = os.path.join(work, "body.txt")
    with open(body, "w") as out:
        out.write("signed by NSS with Alice's imported key\n")
    nickname = pref("signing_cert_name")
    listing = run("certutil", "-L", "-d", database).stdout.decode()
    check(nickname == "alice@example.com (signing)" and pref("encryption_cert_name") == "alice@example.com (encryption)"
          and all(f"{name} " in listing for name in (nickname, pref("encryption_cert_name"))),
          "the signing and the encryption certificate have distinct nicknames in the database and in prefs.js",
          listing + prefs)
    signed = run("cmsutil", "-S", "-N", nickname, "-d", database, "-i", body, "-p", "", "-H", "SHA256",
                 "-u", "4", "-o", os.path.join(work, "nss-signed.p7m"))
    signer = os.path.join(work, "nss-signer.pem")
    verified = run("openssl", "cms", "-verify", "-inform", "DER", "-in", os.path.join(work, "nss-signed.p7m"),
                   "-CAfile", alice_certificates, "-signer", signer)
    check(signed.returncode == 0 and verified.returncode == 0 and b"signed by NSS" in verified.stdout,
          "cmsutil signs with the imported key; openssl verifies it to Alice's root",
          signed.stderr.decode() + verified.stderr.decode())
    signing_serial = base64.b64decode(pref("signing_cert_dbkey") or "")
    signing_serial = signing_serial[16:16 + int.from_bytes(signing_serial[8:12], "big")]
    signer_serial = run("openssl", "x509", "-noout", "-serial", "-in", signer).stdout.decode().strip()
    check(signer_serial.split("=")[-1].lower().lstrip("0") == signing_serial.hex().lstrip("0"),
          "the nickname '(signing)' names the signing certificate: NSS signs with it", signer_serial)
    _, to_alice = bob_writes_to_alice("to-alice.eml", b"read me in Thunderbird")
    decrypted = run("cmsutil", "-D", "-i", to_alice, "-d", database, "-p", "")
    check(decrypted.returncode == 0 and b"read me in Thunderbird" in decrypted.stdout,
          "cmsutil decrypts what Bob's mailseal sent Alice, with the key imported into Thunderbird's database",
          decrypted.stderr.decode())
    check(thunderbird_report.get("cbc", {}).get("reissued_certificates") == 0,
          "setup thunderbird found the certificates already asking for CBC")
    result = mailseal(alice, "setup", "thunderbird", "--profile", thunderbird)
    with open(prefs_file) as handle:
        again = handle.read()
    check(result.returncode == 0 and again.count("id2.signing_cert_dbkey") == 1,
          "running it again changes nothing twice", result.stderr.decode())

    # ---- Thunderbird trusts correspondents as mailseal rates them ----
    def signed_by(home, sender, name):
        """A message signed by `sender`'s mailseal, as it arrives at Alice."""
        path = os.path.join(work, name)
        with open(path, "wb") as out:
            out.write(f"From: {sender}\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nsigned\r\n".encode())
        must(home, "sign", path, "-o", path + ".signed")
        return path + ".signed"

    def signing_certificate(home, name):
        """`home`'s signing certificate, added to Alice's NSS database (no trust) under `name`."""
        exported = os.path.join(work, name + ".pem")
        must(home, "export", "certificates", "-o", exported)
        with open(exported, "rb") as handle:
            blocks = [b + b"-----END CERTIFICATE-----\n" for b in handle.read().split(b"-----END CERTIFICATE-----")
                      if b"BEGIN" in b]
        for pem in blocks:
            usage = run("openssl", "x509", "-noout", "-ext", "keyUsage", stdin=pem).stdout
            if b"Digital Signature" in usage and b"Certificate Sign" not in usage:
                path = os.path.join(work, name + "-signing.pem")
                with open(path, "wb") as out:
                    out.write(pem)
                run("certutil", "-A", "-d", database, "-n", name, "-t", ",,", "-i", path)
                return name
        return name

    def verifies_for_email(nickname, usage="S"):
        """NSS's verdict on a certificate for S/MIME signing (S) or another use, at the profile's trust."""
        return run("certutil", "-V", "-d", database, "-n", nickname, "-u", usage, "-e")

    def trust_flags(prefix):
        """The trust flags certutil -L lists for nicknames that start with `prefix`."""
        listing = run("certutil", "-L", "-d", database).stdout.decode()
        return [line[60:].strip() for line in listing.splitlines() if line.startswith(prefix)]

    def setup_roots():
        result = mailseal(alice, "--json", "setup", "thunderbird", "--profile", thunderbird)
        check(result.returncode == 0, "setup thunderbird again", result.stderr.decode())
        return json.loads(result.stdout).get("roots", []) if result.returncode == 0 else []

    must(alice, "learn", signed_by(bob, "bob@example.org", "from-bob.eml"))
    bob_nickname = signing_certificate(bob, "bob signing")
    roots = setup_roots()
    check([r["client_trust"] for r in roots] == ["untrusted"] and trust_flags("mailseal contact bob@example.org")
          == [",,"], "Bob first seen (trust on first use, marginal): his root is in the database without trust",
          (roots, trust_flags("mailseal contact")))
    first = verifies_for_email(bob_nickname)
    check(first.returncode != 0 and b"issuer" in first.stdout + first.stderr,
          "NSS does not accept Bob's signing certificate yet", (first.stdout + first.stderr).decode())
    bob_fingerprint = must(bob, "fingerprint").stdout.strip().decode()
    must(alice, "contact", "pin", "bob@example.org", bob_fingerprint)
    roots = setup_roots()
    check([r["client_trust"] for r in roots] == ["anchor"] and trust_flags("mailseal contact bob@example.org")
          == [",C,"], "Bob pinned (full): setup thunderbird trusts his profile root for email only (,C,)",
          (roots, trust_flags("mailseal contact")))
    pinned = verifies_for_email(bob_nickname)
    check(pinned.returncode == 0, "NSS now verifies Bob's signing certificate for S/MIME (certutil -V -u S)",
          pinned.stderr.decode())
    check(verifies_for_email(bob_nickname, "V").returncode != 0,
          "and not for TLS servers: the root is no SSL trust anchor (certutil -V -u V)")

    mallory = os.path.join(work, "mallory")
    must(mallory, "init", "bob@example.org", "--name", "Bob")
    must(alice, "learn", signed_by(mallory, "bob@example.org", "from-mallory.eml"))
    mallory_nickname = signing_certificate(mallory, "impostor signing")
    roots = setup_roots()
    by_trust = sorted((r["client_trust"], r["level"]) for r in roots)
    check(by_trust == [("anchor", "full"), ("distrusted", "conflict")]
          and sorted(trust_flags("mailseal contact bob@example.org")) == [",C,", ",p,"],
          "an impostor for Bob (a conflict): his root is explicitly distrusted (,p,), Bob's pin stands",
          (roots, trust_flags("mailseal contact")))
    impostor = verifies_for_email(mallory_nickname)
    check(impostor.returncode != 0 and b"marked as not trusted" in impostor.stdout + impostor.stderr
          and verifies_for_email(bob_nickname).returncode == 0,
          "NSS refuses the impostor's certificate (its issuer marked as not trusted) and still accepts Bob's",
          (impostor.stdout + impostor.stderr).decode())

    # A root the Thunderbird user (or Thunderbird itself) trusted before mailseal saw a conflict: withdrawn.
    mallory_root = os.path.join(work, "mallory-root.pem")
    must(mallory, "export", "certificates", "-o", mallory_root)
    run("certutil", "-A", "-d", database, "-n", "mallory root", "-t", ",C,", "-i", mallory_root)
    setup_roots()
    check(verifies_for_email(mallory_nickname).returncode != 0,
          "an impostor root trusted by hand in Thunderbird is distrusted again by the next set-up")

    # Revocation withdraws the trust of a pinned correspondent.
    dan = os.path.join(work, "dan")
    must(dan, "init", "dan@example.net", "--name", "Dan")
    must(alice, "learn", signed_by(dan, "dan@example.net", "from-dan.eml"))
    must(alice, "contact", "pin", "dan@example.net", must(dan, "fingerprint").stdout.strip().decode())
    dan_nickname = signing_certificate(dan, "dan signing")
    setup_roots()
    check(verifies_for_email(dan_nickname).returncode == 0, "Dan pinned: NSS accepts his signing certificate")
    revocation = os.path.join(work, "dan-revocation.pem")
    must(dan, "export", "revocation", "-o", revocation)
    must(alice, "contact", "import", revocation)
    roots = setup_roots()
    dan_root = [r for r in roots if r["addresses"] == ["dan@example.net"]]
    check(dan_root and dan_root[0]["client_trust"] == "distrusted" and dan_root[0]["level"] == "revoked"
          and verifies_for_email(dan_nickname).returncode != 0,
          "Dan's root revoked: setup thunderbird withdraws the trust, NSS refuses his certificate", roots)

    # A CA without name constraints (made by OpenSSL, like a corporate or public CA) is never made an anchor,
    # even when mailseal trusts its binding fully.
    corporate_key, corporate = os.path.join(work, "corp.key"), os.path.join(work, "corp.pem")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
        corporate_key, "-subj", "/O=Example Corp/CN=Example Corp Mail CA", "-days", "30", "-addext",
        "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", corporate)
    carol_key, carol_request, carol = (os.path.join(work, n) for n in ("carol.key", "carol.csr", "carol.pem"))
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", carol_key,
        "-subj", "/CN=Carol", "-out", carol_request)
    extensions = os.path.join(work, "carol.ext")
    with open(extensions, "w") as out:
        out.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=emailProtection\nsubjectAltName=email:carol@example.com\n")
    run("openssl", "x509", "-req", "-in", carol_request, "-CA", corporate, "-CAkey", corporate_key,
        "-CAcreateserial", "-days", "20", "-extfile", extensions, "-out", carol)
    with open(carol, "ab") as out, open(corporate, "rb") as ca:
        out.write(ca.read())
    must(alice, "contact", "import", carol)
    corporate_fingerprint = json.loads(must(alice, "--json", "trust", "carol@example.com").stdout)["fingerprint"]
    must(alice, "contact", "pin", "carol@example.com", corporate_fingerprint)
    roots = setup_roots()
    carol_root = [r for r in roots if r["addresses"] == ["carol@example.com"]]
    check(carol_root and carol_root[0]["level"] == "full" and carol_root[0]["client_trust"] == "untrusted"
          and not carol_root[0]["profile_root"] and "no email name constraints" in (carol_root[0]["refusal"] or "")
          and not trust_flags("mailseal contact carol"),
          "a pinned binding under a CA without name constraints: the CA is not made a Thunderbird trust anchor",
          carol_root)
    listing = run("certutil", "-L", "-d", database).stdout.decode()
    check("Example Corp" not in listing, "the corporate CA is not even added to the database", listing)

    # ---- mutt ----
    mutt_directory = os.path.join(work, "mutt")
    result = mailseal(alice, "setup", "mutt", "--dir", mutt_directory)
    configuration = result.stdout.decode()
    check(result.returncode == 0 and "set smime_sign_command" in configuration, "setup mutt prints muttrc lines",
          result.stderr.decode())
    key_files = [name for name in os.listdir(mutt_directory) if name.endswith(".key")]
    check(len(key_files) == 2 and all(stat.S_IMODE(os.stat(os.path.join(mutt_directory, n)).st_mode) == 0o600
                                      for n in key_files)
          and stat.S_IMODE(os.stat(mutt_directory).st_mode) == 0o700, "key files 0600 in a 0700 directory")

    # mutt submits through the gateway with a credential of its own, its secret only in a 0600 file.
    submission = os.path.join(mutt_directory, "gateway.muttrc")
    with open(submission) as handle:
        submission_lines = handle.read()
    secret = next((line.split(" = ", 1)[1].strip('"') for line in submission_lines.splitlines()
                   if line.startswith("set smtp_pass = ")), "")
    check(f'source "{submission}"' in configuration and len(secret) >= 43 and secret not in configuration
          and secret not in result.stderr.decode()
          and 'set smtp_url = "smtp://mutt@127.0.0.1:10587/"' in submission_lines
          and stat.S_IMODE(os.stat(submission).st_mode) == 0o600,
          "setup mutt: smtp_url (the gateway, default 127.0.0.1:10587) and smtp_pass in a 0600 file the printed "
          "lines source; the secret printed nowhere", configuration + submission_lines.replace(secret, "SECRET"))
    listed = json.loads(mailseal(alice, "--json", "credential", "list").stdout)["credentials"]
    check([c["name"] for c in listed] == ["mutt"], "it made the credential 'mutt'", listed)
    gateway = subprocess.Popen([MAILSEAL, "--home", alice, "gateway", "--listen", "127.0.0.1:0", "--upstream",
                                "127.0.0.1:9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = gateway.stdout.readline().decode().strip().rsplit(":", 1)[-1]
        with smtplib.SMTP("127.0.0.1", int(port), timeout=30, local_hostname="mutt.test") as client:
            code, _ = client.login("mutt", secret)
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    check(code == 235, "the gateway accepts mutt's credential (AUTH PLAIN)", code)
    again = mailseal(alice, "setup", "mutt", "--dir", mutt_directory, "--gateway", "127.0.0.1:2525")
    with open(submission) as handle:
        renewed = handle.read()
    check(again.returncode == 0 and "smtp://mutt@127.0.0.1:2525/" in renewed and secret not in renewed,
          "setup mutt again: --gateway is used, and the credential is replaced (a new secret)", again.stderr.decode())

    def command(name):
        for line in configuration.splitlines():
            if line.startswith(f"set {name} = "):
                return line.split(" = ", 1)[1].strip('"')
        return ""

    # mutt expands %f (the file), %d (the digest) and %s (the signature) and pipes the passphrase.
    sign = command("smime_sign_command").replace("%d", "sha256").replace("%f", shlex.quote(body))
    signature = subprocess.run(sign, shell=True, capture_output=True, input=b"\n")
    with open(os.path.join(work, "mutt.sig"), "wb") as out:
        out.write(signature.stdout)
    verified = run("openssl", "cms", "-verify", "-inform", "DER", "-in", os.path.join(work, "mutt.sig"), "-content",
                   body, "-CAfile", alice_certificates, "-purpose", "smimesign")
    check(signature.returncode == 0 and verified.returncode == 0,
          "mutt's sign command makes a detached signature openssl verifies", signature.stderr + verified.stderr)
    decrypt = command("smime_decrypt_command").replace("%f", shlex.quote(to_alice))
    decrypted = subprocess.run(decrypt, shell=True, capture_output=True, input=b"\n")
    check(decrypted.returncode == 0 and b"read me in Thunderbird" in decrypted.stdout,
          "mutt's decrypt command reads Bob's message", decrypted.stderr)

    # ---- PKCS#12 for Outlook or gpgsm: the same choice, on request ----
    dave = os.path.join(work, "dave")
    must(dave, "init", "dave@example.com", "--name", "Dave")
    plain_export = mailseal(dave, "export", "pkcs12", "-o", os.path.join(work, "dave.p12"), "--password-file", password)
    check(plain_export.returncode == 0 and b"--ask-for-cbc" in plain_export.stderr,
          "export pkcs12 points out that clients without AES-GCM need --ask-for-cbc", plain_export.stderr.decode())
    asked = mailseal(dave, "--json", "export", "pkcs12", "--ask-for-cbc", "--purpose", "encryption", "-o",
                     os.path.join(work, "dave-cbc.p12"), "--password-file", password)
    answer = json.loads(asked.stdout) if asked.returncode == 0 else {}
    check(answer.get("cbc", {}).get("reissued_certificates") == 1, "--ask-for-cbc re-issues the certificate", answer)
    dave_certificates = os.path.join(work, "dave.pem")
    must(dave, "export", "certificates", "-o", dave_certificates)
    must(bob, "contact", "import", dave_certificates)
    in_file = run("openssl", "pkcs12", "-in", os.path.join(work, "dave-cbc.p12"), "-passin", "pass:install me",
                  "-nokeys", "-clcerts").stdout
    with open(dave_certificates, "rb") as handle:
        current = {der_of_pem(block + b"-----END CERTIFICATE-----\n")
                   for block in handle.read().split(b"-----END CERTIFICATE-----") if b"BEGIN" in block}
    note = os.path.join(work, "to-dave.eml")
    with open(note, "wb") as out:
        out.write(b"From: bob@example.org\r\nTo: dave@example.com\r\nSubject: x\r\n\r\nfor Outlook\r\n")
    encrypted = mailseal(bob, "--json", "encrypt", note, "-o", note + ".enc")
    choice = json.loads(encrypted.stdout) if encrypted.returncode == 0 else {}
    check(der_of_pem(in_file) in current and choice.get("content_cipher") == "AES-256-CBC",
          "the file holds the re-issued certificate, and Bob now writes AES-CBC to Dave", choice)

finish(minimum=50)
