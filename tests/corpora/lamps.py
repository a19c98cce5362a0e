#!/usr/bin/env python3
"""The IETF LAMPS sample messages (draft-autocrypt-lamps-protected-headers):
encrypted ones decrypt to their .inner files (signed+encrypted ones, whose
signature mailseal verifies and removes, to .inner.inner), signed ones verify,
with Bob's key from either copy of bob.p12 (the notmuch one is RC2-40 with an
empty password). Exit 77 where the corpus is absent."""
import json
import os
import subprocess
import sys
import tempfile

MAILSEAL = os.environ["MAILSEAL"]
CORPORA = os.environ.get("MAILSEAL_CORPORA", "")
SAMPLES = os.path.join(CORPORA, "autocrypt-protected-headers")
if not CORPORA or not os.path.isdir(SAMPLES):
    print("SKIP: ../shared/corpora is absent")
    sys.exit(77)

failures = checks = 0


def check(condition, description):
    global failures, checks
    checks += 1
    print(("ok - " if condition else "FAIL - ") + description)
    failures += 0 if condition else 1


def mailseal(*arguments):
    return subprocess.run([MAILSEAL, *arguments], capture_output=True)


def normalised(data):
    return data.replace(b"\r\n", b"\n").rstrip(b"\n")


with tempfile.TemporaryDirectory() as work:
    for label, p12, password in (("autocrypt", os.path.join(SAMPLES, "bob.p12"), "bob"),
                                 ("notmuch", os.path.join(CORPORA, "notmuch", "test", "smime", "bob.p12"), "")):
        home = os.path.join(work, label)
        mailseal("init", "bob@smime.example", "--suite", "modern", "--home", home)
        with open(os.path.join(work, "pw"), "w") as handle:
            handle.write(password)
        result = mailseal("import", "pkcs12", p12, "--password-file", os.path.join(work, "pw"), "--home", home)
        check(result.returncode == 0, "%s bob.p12 imports: %s" % (label, result.stderr.decode().strip()))
        for name in sorted(os.listdir(SAMPLES)):
            if not name.endswith(".eml"):
                continue
            path = os.path.join(SAMPLES, name)
            base = path[:-4]
            output = os.path.join(work, "out")
            if os.path.exists(output):
                os.remove(output)
            if "enc" in name:
                result = mailseal("decrypt", path, "--json", "-o", output, "--home", home)
                report = json.loads(result.stdout)
                check(result.returncode == 0 and report["decrypted"], "%s (%s key): decrypts" % (name, label))
                expected = base + (".inner.inner" if os.path.exists(base + ".inner.inner") else ".inner")
                if "sign" in name:
                    check(report["signature"] is not None and report["signature"]["valid"],
                          "%s: inner signature valid" % name)
                    check(report["signature"]["signer"]["address"] == "alice@smime.example", "%s: signed by Alice" % name)
            else:
                result = mailseal("verify", path, "--json", "-o", output, "--home", home)
                report = json.loads(result.stdout)
                check(result.returncode == 0 and report["valid"], "%s: signature valid (%s)" % (name, report["problems"]))
                expected = base + ".inner"
            if os.path.exists(expected):
                with open(output, "rb") as produced, open(expected, "rb") as wanted:
                    check(normalised(produced.read()) == normalised(wanted.read()),
                          "%s: output equals %s" % (name, os.path.basename(expected)))

print("# %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
