#!/usr/bin/env python3
"""RFC 4134 examples decrypt or verify, except where tests/data/rfc4134
documents why not (see its README). Exit 77 where the corpus is absent."""
import csv
import json
import os
import subprocess
import sys
import tempfile

MAILSEAL = os.environ["MAILSEAL"]
CORPORA = os.environ.get("MAILSEAL_CORPORA", "")
RFC = os.path.join(CORPORA, "rfc4134")
HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "tools", "mime_tool.py")
if not CORPORA or not os.path.isdir(RFC):
    print("SKIP: ../shared/corpora is absent")
    sys.exit(77)

failures = checks = 0


def check(condition, description):
    global failures, checks
    checks += 1
    print(("ok - " if condition else "FAIL - ") + description)
    failures += 0 if condition else 1


def mailseal(*arguments):
    return subprocess.run([MAILSEAL, *arguments], capture_output=True, text=True)


def tool(*arguments):
    subprocess.run([sys.executable, TOOL, *arguments], check=True)


with tempfile.TemporaryDirectory() as work:
    home = os.path.join(work, "bob")
    mailseal("init", "bobrsa@example.com", "--suite", "modern", "--home", home)
    key, certificate, p12 = (os.path.join(work, n) for n in ("bob.key", "bob.pem", "bob.p12"))
    subprocess.run(["openssl", "pkcs8", "-inform", "DER", "-nocrypt", "-in", os.path.join(RFC, "BobPrivRSAEncrypt.pri"),
                    "-out", key], check=True)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", os.path.join(RFC, "BobRSASignByCarl.cer"), "-out",
                    certificate], check=True)
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", key, "-in", certificate, "-passout", "pass:pw", "-out",
                    p12], check=True)
    with open(os.path.join(work, "pw"), "w") as handle:
        handle.write("pw")
    result = mailseal("import", "pkcs12", p12, "--password-file", os.path.join(work, "pw"), "--home", home)
    check(result.returncode == 0, "Bob's RFC 4134 key imports: " + result.stderr.strip())

    rows = [row for row in csv.DictReader((line for line in open(os.path.join(HERE, "..", "data", "rfc4134",
                                                                               "expected.tsv"))
                                           if not line.startswith("#")), delimiter="\t")]
    check(len(rows) == 17, "the expectations cover the 17 examples")
    for row in rows:
        name, present, sender, outcome = row["file"], row["present"], row["from"], row["outcome"]
        allowed = [] if row["allowed_problems"] == "-" else row["allowed_problems"].split("|")
        source = os.path.join(RFC, name)
        message = os.path.join(work, name + ".eml")
        if present == "eml":
            message = source
        elif present == "detached":
            tool("detached", sender, "bobrsa@example.com", os.path.join(RFC, "ExContent.bin"), source, message)
        elif present in ("signed-data", "enveloped-data"):
            tool("wrap", present, sender, "bobrsa@example.com", source, message)

        if outcome == "certs-only":
            result = mailseal("contact", "import", source, "--json", "--home", home)
            check(result.returncode == 0, "%s: contact import reads the certs-only message" % name)
            continue
        if outcome in ("policy", "refused"):
            result = mailseal("verify", message, "--json", "--home", home)
            report = json.loads(result.stdout)
            check(result.returncode == 1 and report["valid"] is False, "%s: not valid under mailseal's policy" % name)
            problems = report["problems"]
            unexplained = [p for p in problems if not any(a in p for a in allowed)]
            check(not unexplained, "%s: only documented problems (%s)" % (name, unexplained or problems))
            if outcome == "policy":
                check(not any("does not match" in p for p in problems),
                      "%s: the signature itself verifies" % name)
            continue
        result = mailseal("decrypt", message, "--json", "-o", os.path.join(work, "out"), "--home", home)
        if outcome == "decrypted":
            report = json.loads(result.stdout) if result.stdout.strip() else {}
            check(result.returncode == 0 and report.get("decrypted"), "%s: decrypts (%s)" % (name, result.stderr.strip()))
            with open(os.path.join(work, "out")) as handle:
                check("This is some sample content." in handle.read(), "%s: to the RFC's sample content" % name)
        else:
            check(result.returncode == 1 and any(a in result.stderr for a in allowed),
                  "%s: refused as documented (%s)" % (name, result.stderr.strip()))

print("# %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
