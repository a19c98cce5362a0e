#!/usr/bin/env python3
"""RFC 4134 examples decrypt or verify, except where tests/data/rfc4134
documents why not (see its README). Exit 77 where the corpus is absent."""
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import Home, check, corpus, finish, require_mailseal  # noqa: E402

require_mailseal()
RFC = corpus("rfc4134")
TOOL = os.path.join(HERE, "..", "tools", "mime_tool.py")
EXPECTATIONS = os.path.join(HERE, "..", "data", "rfc4134", "expected.tsv")


def tool(*arguments):
    subprocess.run([sys.executable, TOOL, *arguments], check=True)


def text(result):
    return result.stderr.decode(errors="replace").strip()


with tempfile.TemporaryDirectory() as work:
    bob = Home(work, "bob")
    bob.must("init", "bobrsa@example.com", "--suite", "modern")
    key, certificate, p12 = (os.path.join(work, n) for n in ("bob.key", "bob.pem", "bob.p12"))
    subprocess.run(["openssl", "pkcs8", "-inform", "DER", "-nocrypt", "-in", os.path.join(RFC, "BobPrivRSAEncrypt.pri"),
                    "-out", key], check=True)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", os.path.join(RFC, "BobRSASignByCarl.cer"), "-out",
                    certificate], check=True)
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", key, "-in", certificate, "-passout", "pass:pw", "-out",
                    p12], check=True)
    with open(os.path.join(work, "pw"), "w") as handle:
        handle.write("pw")
    result = bob.run("import", "pkcs12", p12, "--password-file", os.path.join(work, "pw"))
    check(result.returncode == 0, "Bob's RFC 4134 key imports", text(result))

    with open(EXPECTATIONS) as table:
        rows = list(csv.DictReader((line for line in table if not line.startswith("#")), delimiter="\t"))
    check(len(rows) == 17, "the expectations cover the 17 examples")
    for row in rows:
        name, present, sender, outcome = row["file"], row["present"], row["from"], row["outcome"]
        allowed = [] if row["allowed_problems"] == "-" else row["allowed_problems"].split("|")
        source = os.path.join(RFC, name)
        if not check(os.path.isfile(source), f"{name} is in the corpus"):
            continue
        message = os.path.join(work, name + ".eml")
        if present == "eml":
            message = source
        elif present == "detached":
            tool("detached", sender, "bobrsa@example.com", os.path.join(RFC, "ExContent.bin"), source, message)
        elif present in ("signed-data", "enveloped-data"):
            tool("wrap", present, sender, "bobrsa@example.com", source, message)

        if outcome == "certs-only":
            result = bob.run("contact", "import", source, "--json")
            check(result.returncode == 0, "%s: contact import reads the certs-only message" % name)
            continue
        if outcome in ("policy", "refused"):
            result = bob.run("verify", message, "--json")
            report = json.loads(result.stdout)
            check(result.returncode == 1 and report["valid"] is False, "%s: not valid under mailseal's policy" % name)
            problems = report["problems"]
            unexplained = [p for p in problems if not any(a in p for a in allowed)]
            check(not unexplained, "%s: only documented problems (%s)" % (name, unexplained or problems))
            if outcome == "policy":
                check(not any("does not match" in p for p in problems),
                      "%s: the signature itself verifies" % name)
            continue
        out = os.path.join(work, "out")
        if os.path.exists(out):
            os.remove(out)  # a previous example's output must not count
        # 5.x are unsigned CBC: released only when asked for (docs/smime.md: EFAIL).
        result = bob.run("decrypt", message, "--json", "-o", out, "--allow-unauthenticated")
        if outcome == "decrypted":
            report = json.loads(result.stdout) if result.stdout.strip() else {}
            check(result.returncode == 0 and report.get("decrypted"), f"{name}: decrypts", text(result))
            plain = open(out, encoding="utf-8", errors="replace").read() if os.path.exists(out) else ""
            check("This is some sample content." in plain, f"{name}: to the RFC's sample content", plain[:300])
        else:
            check(result.returncode == 1 and any(a in text(result) for a in allowed),
                  f"{name}: refused as documented", text(result))

finish(minimum=57)
