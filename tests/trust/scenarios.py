#!/usr/bin/env python3
"""Trust scenarios in the style of sequoia-wot's tests: each builds a small
network of real mailseal profiles (temporary homes), exchanges certificates,
signed messages, endorsements, rotations and revocations the way people would,
and checks the verdict Alice's profile reaches: level, amount, paths.

Amounts include trust on first use: a certificate Alice imported or learned
from one message counts 10 (docs/trust.md)."""
import email.utils
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import Home, check, finish, require_mailseal, seeded_random  # noqa: E402

require_mailseal()
TOFU = 10  # one sighting
RANDOM = seeded_random("random bytes and serial numbers")


class Person(Home):
    """A mailseal profile in its own home."""

    def __init__(self, work, name, address):
        super().__init__(work, name)
        self.address = address
        self.must("init", address, "--name", name, "--suite", "modern")

    # The historical name in these scenarios: every call is a person using mailseal.
    def mailseal(self, *arguments, stdin=None):
        return self.run(*arguments, stdin=stdin)

    def fingerprint(self, bits=140):
        return self.must("fingerprint", "--bits", str(bits)).stdout.decode().strip()

    def root_key_file(self):
        keys = os.path.join(self.home, "keys")
        return os.path.join(keys, next(name for name in os.listdir(keys) if name.startswith("root-")))

    def root_certificate(self):
        pem = open(self.certificates()).read()
        blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", pem, re.S)
        out = self.path("root.pem")
        with open(out, "w") as handle:
            handle.write(blocks[-1])
        return out

    def signed_message(self, to="alice@example.org", subject="hello", name="signed.eml"):
        message = (f"From: {self.address}\r\nTo: {to}\r\nSubject: {subject}\r\n"
                   f"Date: {email.utils.formatdate()}\r\nMessage-ID: <{subject}.{self.name}@test>\r\n\r\n"
                   f"{subject} from {self.name}\r\n").encode()
        out = self.path(name)
        self.must("sign", "-o", out, stdin=message)
        return out

    def knows(self, other):
        self.must("contact", "import", other.certificates())

    def endorse(self, other, *options):
        self.must("endorse", other.address, *options)

    def endorsements(self):
        out = self.path("endorsements.pem")
        self.must("export", "endorsements", "-o", out)
        return out

    def trust(self, address):
        result = self.run("trust", address, "--json")
        if result.returncode != 0:
            return {"level": "unknown", "amount": -1, "paths": [], "error": result.stderr.decode()}
        return json.loads(result.stdout)


def expect(verdict, level, amount, description, paths=None):
    detail = json.dumps(verdict, indent=1)
    ok = verdict["level"] == level and verdict["amount"] == amount
    if paths is not None:
        ok = ok and [len(p["edges"]) for p in verdict["paths"]] == paths
    check(ok, f"{description}: {level} {amount}" + (f", paths of {paths} edges" if paths is not None else ""),
          f"got {verdict['level']} {verdict['amount']}\n{detail}")


def scenario(function):
    with tempfile.TemporaryDirectory() as work:
        print(f"# {function.__name__}: {function.__doc__}")
        try:
            function(work)
        except Exception as error:  # a broken step fails the scenario, not the suite
            check(False, f"{function.__name__} ran to the end", str(error))


def people(work, *names):
    return [Person(work, name, f"{name.lower()}@example.org") for name in names]


@scenario
def introducer_chain(work):
    """Alice -> Carol (depth 2) -> Dave (depth 1) -> Bob: the least amount flows"""
    alice, carol, dave, bob = people(work, "Alice", "Carol", "Dave", "Bob")
    alice.knows(carol)
    carol.knows(dave)
    dave.knows(bob)
    alice.endorse(carol, "--depth", "2")
    carol.endorse(dave, "--depth", "1", "--amount", "100")
    dave.endorse(bob, "--amount", "80")
    alice.must("contact", "import", carol.endorsements())
    alice.must("contact", "import", dave.endorsements())
    alice.knows(bob)
    expect(alice.trust("bob@example.org"), "partial", 80 + TOFU, "Bob through three introducers", [3])
    expect(alice.trust("carol@example.org"), "full", 120, "Carol, endorsed by Alice herself", [1])
    verdict = alice.trust("bob@example.org")
    edges = verdict["paths"][0]["edges"]
    check([e["amount"] for e in edges] == [120, 100, 80] and [e["depth"] for e in edges] == [2, 1, 0],
          "the path lists each edge's amount and depth", json.dumps(edges))
    check(edges[0]["from_name"] == "you" and edges[-1]["to"] == verdict["fingerprint"],
          "the path runs from Alice's root to Bob's identity", json.dumps(edges))


@scenario
def depth_runs_out(work):
    """Alice -> Carol (depth 1) -> Dave -> Bob: Carol may introduce Dave, not Dave's introductions"""
    alice, carol, dave, bob = people(work, "Alice", "Carol", "Dave", "Bob")
    alice.knows(carol)
    carol.knows(dave)
    dave.knows(bob)
    alice.endorse(carol, "--depth", "1")
    carol.endorse(dave, "--depth", "5")  # more depth than Carol was given: ignored
    dave.endorse(bob)
    alice.must("contact", "import", carol.endorsements())
    alice.must("contact", "import", dave.endorsements())
    alice.knows(dave)
    alice.knows(bob)
    expect(alice.trust("dave@example.org"), "full", 120, "Dave, one introduction away", [2])
    expect(alice.trust("bob@example.org"), "marginal", TOFU, "Bob, two introductions away: no path", [])


@scenario
def scope_excludes(work):
    """Alice trusts Carol to introduce example.net only: Bob at example.org gets nothing"""
    alice, carol, bob = people(work, "Alice", "Carol", "Bob")
    erin = Person(work, "Erin", "erin@example.net")
    alice.knows(carol)
    carol.knows(bob)
    carol.knows(erin)
    alice.endorse(carol, "--depth", "1", "--scope", "example.net")
    carol.endorse(bob)
    carol.endorse(erin)
    alice.must("contact", "import", carol.endorsements())
    alice.knows(bob)
    alice.knows(erin)
    expect(alice.trust("erin@example.net"), "full", 120, "Erin, inside Carol's scope", [2])
    expect(alice.trust("bob@example.org"), "marginal", TOFU, "Bob, outside Carol's scope", [])


@scenario
def partial_paths_add_up(work):
    """Carol and Dave each vouch 60 for Bob: together they reach full"""
    alice, carol, dave, bob = people(work, "Alice", "Carol", "Dave", "Bob")
    for introducer in (carol, dave):
        alice.knows(introducer)
        introducer.knows(bob)
        alice.endorse(introducer, "--depth", "1")
        introducer.endorse(bob, "--amount", "60")
    alice.knows(bob)
    alice.must("contact", "import", carol.endorsements())
    expect(alice.trust("bob@example.org"), "partial", 60 + TOFU, "Bob with Carol's endorsement only", [2])
    alice.must("contact", "import", dave.endorsements())
    expect(alice.trust("bob@example.org"), "full", 120, "Bob with both: 60 + 60 (+10) capped at 120", [2, 2])


@scenario
def cycle(work):
    """Carol and Dave endorse each other (and Bob endorses Carol back): the search ends, the flow is right"""
    alice, carol, dave, bob = people(work, "Alice", "Carol", "Dave", "Bob")
    alice.knows(carol)
    carol.knows(dave)
    dave.knows(carol)
    dave.knows(bob)
    bob.knows(carol)
    alice.endorse(carol, "--depth", "3")
    carol.endorse(dave, "--depth", "3", "--amount", "100")
    dave.endorse(carol, "--depth", "3", "--amount", "100")
    dave.endorse(bob, "--amount", "90", "--depth", "3")
    bob.endorse(carol, "--depth", "3")
    for introducer in (carol, dave, bob):
        alice.must("contact", "import", introducer.endorsements())
    alice.knows(bob)
    expect(alice.trust("bob@example.org"), "partial", 90 + TOFU, "Bob behind a loop", [3])


@scenario
def revoked_introducer(work):
    """Dave, in the middle of the path, revokes his root: Bob loses the path through him, Dave is revoked"""
    alice, carol, dave, bob = people(work, "Alice", "Carol", "Dave", "Bob")
    alice.knows(carol)
    carol.knows(dave)
    dave.knows(bob)
    alice.endorse(carol, "--depth", "2")
    carol.endorse(dave, "--depth", "1")
    dave.endorse(bob, "--amount", "90")  # the edge through the introducer who will revoke
    alice.must("contact", "import", carol.endorsements())
    alice.must("contact", "import", dave.endorsements())
    alice.knows(dave)
    alice.knows(bob)
    dave_identity = alice.trust("dave@example.org")["fingerprint"]
    before = alice.trust("bob@example.org")
    expect(before, "partial", 90 + TOFU, "Bob before the revocation", [3])
    edges = before["paths"][0]["edges"] if before["paths"] else []
    check(len(edges) == 3 and edges[2]["from"] == dave_identity and edges[2]["amount"] == 90,
          "the path runs through Dave's endorsement of Bob", json.dumps(edges))
    revocation = dave.path("revocation.pem")
    dave.must("export", "revocation", "-o", revocation)
    imported = alice.mailseal("contact", "import", revocation, "--json")
    check(imported.returncode == 0 and json.loads(imported.stdout)["revocations"] == 1,
          "Alice takes Dave's revocation", imported.stderr.decode())
    # Nothing else changed: the revocation is what removes the path.
    expect(alice.trust("bob@example.org"), "marginal", TOFU, "Bob after Dave revoked his root", [])
    expect(alice.trust("dave@example.org"), "revoked", 0, "Dave himself")
    expect(alice.trust("carol@example.org"), "full", 120, "Carol, who endorsed Dave, keeps her own trust", [1])
    refused = alice.mailseal("encrypt", "--to", "dave@example.org", stdin=b"From: alice@example.org\r\n"
                             b"To: dave@example.org\r\nSubject: x\r\n\r\nx\r\n")
    check(refused.returncode == 1 and b"dave@example.org (revoked)" in refused.stderr and not refused.stdout,
          "encrypting to Dave is refused, naming him, writing nothing", refused.stderr.decode())


@scenario
def conflict_after_first_use(work):
    """Bob's key is learned from his mail; Mallory signs as Bob with another profile: a conflict until settled"""
    alice, bob = people(work, "Alice", "Bob")
    mallory = Person(work, "Mallory", "bob@example.org")
    verified = alice.mailseal("verify", bob.signed_message(), "--json")
    first = json.loads(verified.stdout)["trust"]
    check(verified.returncode == 0 and first["level"] == "marginal" and first["amount"] == TOFU,
          "verify learns Bob on first use: marginal", verified.stdout.decode())
    fake = mallory.signed_message(subject="fake")
    verified = alice.mailseal("verify", fake, "--json")
    second = json.loads(verified.stdout)["trust"]
    check(verified.returncode == 0 and second["level"] == "conflict",
          "Mallory's valid signature as Bob is a conflict", verified.stdout.decode())
    required = alice.mailseal("verify", fake, "--require-trust", "marginal")
    check(required.returncode == 1, "verify --require-trust marginal fails on the conflict", required.stderr.decode())
    verdict = alice.trust("bob@example.org")
    check(verdict["level"] == "conflict" and verdict["conflict"] == bob.fingerprint(),
          "trust names Bob's first-seen identity in the conflict", json.dumps(verdict))
    message = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nsecret\r\n"
    refused = alice.mailseal("encrypt", stdin=message)
    stderr = refused.stderr.decode()
    check(refused.returncode == 1 and "bob@example.org (conflict)" in stderr and "contact accept" in stderr
          and not refused.stdout, "encrypt refuses Bob, says how to resolve, writes nothing", stderr)
    endorsed = alice.mailseal("endorse", "bob@example.org")
    check(endorsed.returncode == 1 and b"two different keys" in endorsed.stderr,
          "endorsing during a conflict is refused (it would vouch for one key at random)", endorsed.stderr.decode())
    again = alice.trust("bob@example.org")
    check(again["level"] == "conflict", "the conflict does not resolve itself")
    alice.must("contact", "accept", "bob@example.org", bob.fingerprint())
    expect(alice.trust("bob@example.org"), "marginal", TOFU, "after accepting Bob's real key")
    encrypted = alice.mailseal("encrypt", stdin=message)
    check(encrypted.returncode == 0, "encrypt works again", encrypted.stderr.decode())
    for reader, readable in ((bob, True), (mallory, False)):
        result = reader.mailseal("decrypt", "--no-learn", stdin=encrypted.stdout)
        check((result.returncode == 0) == readable and (b"secret" in result.stdout) == readable,
              f"{reader.name} {'reads' if readable else 'cannot read'} it", result.stderr.decode())
    check(bob.trust("alice@example.org")["level"] == "unknown", "decrypt --no-learn recorded nothing")
    decrypted = json.loads(bob.must("decrypt", "--json", stdin=encrypted.stdout).stdout)
    check(decrypted["trust"]["level"] == "marginal" and decrypted["trust"]["address"] == "alice@example.org",
          "decrypt learns the sender of an encrypted, signed message", json.dumps(decrypted))
    learned = json.loads(bob.must("learn", "--json", stdin=encrypted.stdout).stdout)
    check(not learned["learned"] and learned["address"] == "alice@example.org",
          "learn opens encrypted mail too (and knows it already)", json.dumps(learned))
    # Pinning Mallory's key instead is the user's decision, and it wins.
    alice.must("contact", "pin", mallory.fingerprint(200) + "?bob@example.org")
    expect(alice.trust("bob@example.org"), "full", 120, "after pinning the other key with a strong address")


@scenario
def rotation_keeps_continuity(work):
    """Bob moves to a new profile and signs a rotation statement with the old root: history continues"""
    alice, bob = people(work, "Alice", "Bob")
    alice.must("learn", bob.signed_message())
    new_bob = Person(work, "NewBob", "bob@example.org")
    alice.must("verify", new_bob.signed_message(subject="new"))
    expect(alice.trust("bob@example.org"), "conflict", 0, "the new profile before the rotation statement")
    rotation = bob.path("rotation.pem")
    bob.must("export", "rotation", new_bob.certificates(), "-o", rotation)
    imported = alice.mailseal("contact", "import", rotation, "--json")
    check(imported.returncode == 0 and json.loads(imported.stdout)["endorsements"] == 1,
          "Alice takes the rotation statement", imported.stderr.decode() + imported.stdout.decode())
    verdict = alice.trust("bob@example.org")
    expect(verdict, "marginal", TOFU, "the new profile after the rotation statement")
    check(verdict["fingerprint"] == new_bob.fingerprint(), "the verdict is about the new profile", json.dumps(verdict))
    # A rotation statement signed by someone else's root does not count.
    mallory = Person(work, "Mallory", "mallory@example.org")
    impostor = Person(work, "Impostor", "bob@example.org")
    forged = mallory.path("rotation.pem")
    mallory.must("export", "rotation", impostor.certificates(), "-o", forged)
    alice.mailseal("contact", "import", forged)
    alice.must("verify", impostor.signed_message(subject="impostor"))
    expect(alice.trust("bob@example.org"), "conflict", 0, "a rotation signed by a stranger gives no continuity")


def openssl(*arguments):
    return subprocess.run(["openssl", *arguments], check=True, capture_output=True).stdout


def openssl_ca(work, name, issuer=None):
    """A CA made by openssl, a root or one issued by `issuer`: (key file, certificate file)."""
    stem = os.path.join(work, re.sub(r"\W", "-", name))
    if issuer is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                stem + ".key", "-out", stem + ".pem", "-subj", f"/CN={name}", "-days", "30", "-addext",
                "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return stem + ".key", stem + ".pem"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            stem + ".key", "-out", stem + ".csr", "-subj", f"/CN={name}")
    with open(stem + ".cnf", "w") as handle:
        handle.write("[e]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n")
    openssl("x509", "-req", "-in", stem + ".csr", "-CA", issuer[1], "-CAkey", issuer[0], "-set_serial", "2",
            "-days", "25", "-extfile", stem + ".cnf", "-extensions", "e", "-out", stem + ".pem")
    return stem + ".key", stem + ".pem"


def openssl_mail_certificate(work, ca, address, serial, key=None):
    """A mail certificate for `address` issued by `ca` (key file, certificate file), for a new key or `key`."""
    ca_key, ca_certificate = ca
    stem = os.path.join(work, f"{address}-{serial}")
    if key is None:
        key = stem + ".key"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("req", "-new", "-key", key, "-out", stem + ".csr", "-subj", f"/CN={address}")
    with open(stem + ".cnf", "w") as handle:
        handle.write(f"[e]\nsubjectAltName=email:{address}\nkeyUsage=critical,digitalSignature,keyAgreement\n"
                     "extendedKeyUsage=emailProtection\n")
    openssl("x509", "-req", "-in", stem + ".csr", "-CA", ca_certificate, "-CAkey", ca_key, "-set_serial", str(serial),
            "-days", "20", "-extfile", stem + ".cnf", "-extensions", "e", "-out", stem + ".pem")
    return key, stem + ".pem"


def openssl_signed_message(work, ca, signer, sender, to, text):
    """A message signed with openssl cms, carrying the signer's certificate and the CA."""
    body = os.path.join(work, "body.txt")
    with open(body, "w") as handle:
        handle.write(text + "\r\n")
    signed = openssl("cms", "-sign", "-in", body, "-signer", signer[1], "-inkey", signer[0], "-certfile", ca[1],
                     "-from", sender, "-to", to, "-subject", "signed by openssl", "-md", "sha256")
    message = os.path.join(work, f"{sender}-signed.eml")
    with open(message, "wb") as handle:
        handle.write(f"Date: {email.utils.formatdate()}\n".encode() + signed)
    return message


@scenario
def pkix_only(work):
    """A certificate from a CA (made by openssl) counts 60 once the CA is a trust anchor"""
    alice, = people(work, "Alice")
    ca = openssl_ca(work, "Example CA")
    _, ca_file = ca
    bob = openssl_mail_certificate(work, ca, "bob@example.org", 7)
    message = openssl_signed_message(work, ca, bob, "bob@example.org", "alice@example.org",
                                     "hello from a CA certificate")
    verified = alice.mailseal("verify", message, "--json")
    check(verified.returncode == 0 and json.loads(verified.stdout)["trust"]["level"] == "marginal",
          "openssl's signed message verifies; the CA is not an anchor yet: marginal",
          verified.stderr.decode() + verified.stdout.decode())
    alice.must("trust", "anchor", "add", ca_file)
    verdict = alice.trust("bob@example.org")
    expect(verdict, "partial", 60 + TOFU, "with the CA as an anchor (default amount 60)")
    check(any(item["kind"] == "pkix" and item["amount"] == 60 for item in verdict["evidence"]),
          "the evidence names the anchor", json.dumps(verdict["evidence"]))
    listed = json.loads(alice.must("trust", "anchor", "list", "--json").stdout)
    check(len(listed["anchors"]) == 1 and listed["anchors"][0]["subject"] == "CN=Example CA", "trust anchor list")
    required = alice.mailseal("verify", message, "--require-trust", "partial")
    check(required.returncode == 0, "verify --require-trust partial passes", required.stderr.decode())
    required = alice.mailseal("verify", message, "--require-trust", "full")
    check(required.returncode == 1 and b"below full" in required.stderr, "verify --require-trust full fails",
          required.stderr.decode())
    # The content is released only when the trust check passes: -o names a
    # file that must not even be created otherwise.
    written = os.path.join(work, "verified-pkix.eml")
    required = alice.mailseal("verify", message, "-o", written, "--require-trust", "full")
    check(required.returncode == 1 and not os.path.exists(written),
          "verify -o FILE --require-trust full writes nothing when trust is below full", required.stderr.decode())
    required = alice.mailseal("verify", message, "-o", written, "--require-trust", "partial")
    check(required.returncode == 0 and os.path.exists(written)
          and b"hello from a CA certificate" in open(written, "rb").read(),
          "verify -o FILE --require-trust partial writes the content", required.stderr.decode())


@scenario
def ca_certificate_then_its_chain(work):
    """A CA-issued certificate imported alone, then signed mail carrying it with its chain: one identity"""
    alice, = people(work, "Alice")
    ca = openssl_ca(work, "Directory CA")
    bob = openssl_mail_certificate(work, ca, "bob@example.org", 11)
    alice.must("contact", "import", bob[1])
    message = openssl_signed_message(work, ca, bob, "bob@example.org", "alice@example.org", "hello with my chain")
    verified = alice.mailseal("verify", message, "--json")
    report = json.loads(verified.stdout) if verified.returncode == 0 else {}
    check(verified.returncode == 0 and report.get("trust", {}).get("level") == "marginal",
          "the same certificate arriving with its CA chain is the same binding: marginal, no conflict",
          verified.stderr.decode() + verified.stdout.decode())
    encrypted = alice.mailseal("encrypt", "-o", os.devnull, stdin=b"From: alice@example.org\r\n"
                               b"To: bob@example.org\r\nSubject: x\r\n\r\nreply\r\n")
    check(encrypted.returncode == 0, "Alice still encrypts to Bob", encrypted.stderr.decode())
    # Another CA certifying Bob's key for his address is not the same
    # certificate: it does not take the binding over.
    other_ca = openssl_ca(work, "Other CA")
    usurper = openssl_mail_certificate(work, other_ca, "bob@example.org", 12, key=bob[0])
    bundle = os.path.join(work, "usurper-bundle.pem")
    with open(bundle, "wb") as handle:
        handle.write(open(other_ca[1], "rb").read() + open(usurper[1], "rb").read())
    alice.must("contact", "import", bundle)
    check(alice.trust("bob@example.org")["level"] == "conflict",
          "the same key certified by another CA: a conflict", json.dumps(alice.trust("bob@example.org")))


@scenario
def intermediate_ca_as_anchor(work):
    """An intermediate CA added as a trust anchor gives PKIX evidence for what it issued"""
    alice, = people(work, "Alice")
    root = openssl_ca(work, "Company Root")
    issuing = openssl_ca(work, "Company Issuing CA", issuer=root)
    bob = openssl_mail_certificate(work, issuing, "bob@example.org", 21)
    chain = os.path.join(work, "issuing-and-root.pem")
    with open(chain, "wb") as handle:
        handle.write(open(issuing[1], "rb").read() + open(root[1], "rb").read())
    message = openssl_signed_message(work, (issuing[0], chain), bob, "bob@example.org", "alice@example.org",
                                     "hello through an issuing CA")
    alice.must("verify", message)
    alice.must("trust", "anchor", "add", issuing[1])
    verdict = alice.trust("bob@example.org")
    expect(verdict, "partial", 60 + TOFU, "with the issuing CA (not self-signed) as the anchor")
    check(any(item["kind"] == "pkix" and item["amount"] == 60 for item in verdict["evidence"]),
          "the evidence names the issuing CA", json.dumps(verdict["evidence"]))
    other = openssl_mail_certificate(work, root, "carol@example.org", 22)
    alice.must("contact", "import", other[1])
    check(not any(item["kind"] == "pkix" for item in alice.trust("carol@example.org")["evidence"]),
          "a certificate the root issued directly gets nothing from the issuing CA as anchor",
          json.dumps(alice.trust("carol@example.org")))


@scenario
def pin_overrides_all_but_revocation(work):
    """A pin made before the key arrives gives full trust; only a revocation beats it"""
    alice, bob = people(work, "Alice", "Bob")
    strong = json.loads(bob.must("status", "--json").stdout)["strong_addresses"][0]["query_form"]
    alice.must("contact", "pin", strong)
    message = bob.signed_message()
    alice.must("learn", message)
    verdict = alice.trust("bob@example.org")
    expect(verdict, "full", 120, "Bob, pinned before his key arrived")
    check(verdict["work_factor_bits"] > 100, "the pin's work factor is its second-preimage work",
          json.dumps(verdict))
    mallory = Person(work, "Mallory", "bob@example.org")
    alice.mailseal("verify", mallory.signed_message(subject="fake"))
    expect(alice.trust("bob@example.org"), "full", 120, "Mallory's key does not displace a pinned one")
    fake = alice.mailseal("verify", mallory.signed_message(subject="fake2"), "--json")
    check(json.loads(fake.stdout)["trust"]["level"] == "conflict", "Mallory's key itself is a conflict")
    revocation = bob.path("revocation.pem")
    bob.must("export", "revocation", "-o", revocation)
    alice.must("contact", "import", revocation)
    verified = json.loads(alice.mailseal("verify", message, "--json").stdout)
    check(verified["valid"] and verified["trust"]["level"] == "revoked",
          "Bob's own message, signed with the pinned key, after its revocation: revoked", json.dumps(verified))
    refused = alice.mailseal("encrypt", "--to", "bob@example.org", stdin=b"From: alice@example.org\r\n"
                             b"To: bob@example.org\r\nSubject: x\r\n\r\nx\r\n")
    check(refused.returncode == 1 and not refused.stdout, "encrypt to Bob is refused now", refused.stderr.decode())


@scenario
def hostile_trust_material(work):
    """Mis-signed, damaged, unknown-issuer and absurd endorsements and CRLs are ignored with a warning"""
    alice, carol, bob = people(work, "Alice", "Carol", "Bob")
    alice.knows(carol)
    carol.knows(bob)
    alice.knows(bob)
    alice.endorse(carol, "--depth", "1")
    carol.endorse(bob, "--amount", "50")
    bundle = open(carol.endorsements()).read()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", bundle, re.S)
    root, endorsement = blocks[0], blocks[1]
    baseline = alice.trust("bob@example.org")
    expect(baseline, "marginal", TOFU, "Bob before any endorsement of Carol's")

    def import_text(text, name):
        path = os.path.join(work, name)
        with open(path, "w" if isinstance(text, str) else "wb") as handle:
            handle.write(text)
        return alice.mailseal("contact", "import", path, "--json")

    def bad(result, description):
        verdict = alice.trust("bob@example.org")
        ok = result.returncode in (0, 1) and b"ignored" in result.stderr and \
            verdict["level"] == "marginal" and verdict["amount"] == TOFU
        check(ok, description + ": a warning, no crash, no raised level",
              result.stderr.decode() + result.stdout.decode() + json.dumps(verdict))

    # By someone whose root is neither in the bundle nor in Alice's store.
    stranger = Person(work, "Stranger", "stranger@example.org")
    stranger.knows(bob)
    stranger.endorse(bob)
    orphan = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                        open(stranger.endorsements()).read(), re.S)[1]
    bad(import_text(orphan, "orphan.pem"), "an endorsement from an unknown issuer")
    # A flipped byte in the signature.
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=endorsement.encode(), capture_output=True,
                         check=True).stdout
    tampered = der[:-5] + bytes([der[-5] ^ 0x01]) + der[-4:]
    pem = subprocess.run(["openssl", "x509", "-inform", "DER"], input=tampered, capture_output=True).stdout
    if pem:
        bad(import_text(root + pem.decode(), "missigned.pem"), "a mis-signed endorsement")
    else:
        check(False, "openssl re-encodes the tampered endorsement")

    # Endorsements Carol's real root signs, with terms mailseal would never write.
    def forged(extension_der, name):
        config = os.path.join(work, name + ".cnf")
        with open(config, "w") as handle:
            handle.write("[e]\nbasicConstraints=critical,CA:true\nsubjectAltName=email:bob@example.org\n"
                         f"2.25.142306864262817934866580448232155847179=DER:{extension_der}\n")
        bob_root = bob.root_certificate()
        out = subprocess.run(["openssl", "x509", "-in", bob_root, "-CA", carol.root_certificate(), "-CAkey",
                              carol.root_key_file(), "-clrext", "-extfile", config, "-extensions", "e",
                              "-set_serial", str(RANDOM.randrange(10, 1000000)), "-days", "30"],
                             capture_output=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.decode())
        return root + out.stdout.decode()

    # SEQUENCE { kind 0, amount 1000, depth 0, exportable TRUE }
    bad(import_text(forged("300B020100020203E80201000101FF", "absurd"), "absurd.pem"), "an amount of 1000")
    # SEQUENCE { kind 0, amount -5, depth 0, exportable TRUE }
    bad(import_text(forged("300A0201000201FB0201000101FF", "negative"), "negative.pem"), "a negative amount")
    # Damaged: a truncated SEQUENCE.
    bad(import_text(forged("300B02010002", "damaged"), "damaged.pem"), "a damaged endorsement extension")
    # A CRL signed by nobody Alice knows, and garbage in PEM armour.
    crl = stranger.path("revocation.pem")
    stranger.must("export", "revocation", "-o", crl)
    stranger_crl = open(crl).read().split("-----END CERTIFICATE-----\n")[1]
    bad(import_text(root + stranger_crl, "stranger-crl.pem"), "a revocation list from an unknown issuer")
    garbage = root + "-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n"
    bad(import_text(garbage, "garbage-crl.pem"), "a damaged revocation list")
    # After all that, Carol's real endorsements still work, and twice is once.
    for attempt in (1, 2):
        alice.must("contact", "import", carol.endorsements())
        expect(alice.trust("bob@example.org"), "partial", 50 + TOFU, f"Carol's real endorsement (import {attempt})",
               [2])
    # Random bytes are refused outright.
    result = import_text(RANDOM.randbytes(300), "random.bin")
    check(result.returncode == 1 and b"error" in result.stderr, "random bytes: a clear error",
          result.stderr.decode())


@scenario
def replayed_messages(work):
    """Learning the same message again adds no history"""
    alice, bob = people(work, "Alice", "Bob")
    message = bob.signed_message()
    first = json.loads(alice.must("learn", message, "--json").stdout)
    again = json.loads(alice.must("learn", message, "--json").stdout)
    check(first["learned"] and not again["learned"], "the second learn of one message is refused as a replay")
    check(first["trust"]["amount"] == again["trust"]["amount"] == TOFU, "the amount does not grow",
          json.dumps([first, again]))
    unsigned = alice.mailseal("learn", stdin=b"From: bob@example.org\r\nSubject: x\r\n\r\nx\r\n")
    check(unsigned.returncode == 1 and b"not signed" in unsigned.stderr, "an unsigned message teaches nothing",
          unsigned.stderr.decode())
    tampered = open(message, "rb").read().replace(b"hello from Bob", b"HELLO from Bob")
    result = alice.mailseal("learn", stdin=tampered)
    check(result.returncode == 1 and b"not valid" in result.stderr, "a tampered message teaches nothing",
          result.stderr.decode())
    dot = alice.must("trust", "bob@example.org", "--dot").stdout.decode()
    check(dot.startswith("digraph trust {") and "bob@example.org: marginal" in dot, "--dot writes Graphviz", dot)


finish(minimum=72)
