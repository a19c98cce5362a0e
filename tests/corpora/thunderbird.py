#!/usr/bin/env python3
"""Every message of the Thunderbird S/MIME corpus gets the outcome Thunderbird
expects (EXPECTED_OUTCOMES_from_test_smime_decrypt.tsv): decrypted or not,
signed or not, signature good or bad, outermost signer Alice or Dave, and the
expected text after decryption. Exit 77 (skip) where the corpus is absent."""
import csv
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import Home, check, corpus, finish, require_mailseal  # noqa: E402

require_mailseal()
BASE = corpus("thunderbird")
EXPECTATIONS = os.path.join(BASE, "EXPECTED_OUTCOMES_from_test_smime_decrypt.tsv")

TEXTS = {"gTextAliceBob": "This is a test message from Alice to Bob.",
         "gTextFran": "This is a test message to Fran."}
FOLDERS = {"../smime-manual/": "mailnews-test-data-smime-manual/",
           "../smime-interop/": "mailnews-test-data-smime-interop/"}


def corpus_path(name):
    for prefix, folder in FOLDERS.items():
        if name.startswith(prefix):
            return os.path.join(BASE, folder, name[len(prefix):])
    return os.path.join(BASE, "mailnews-test-data-smime", name)


def flag(value):
    return value.strip().lower() in ("true", "1")


with tempfile.TemporaryDirectory() as work:
    # One profile holds the corpus recipients' keys: Bob (alice.* messages)
    # and Fran (the smime-interop ones).
    bob = Home(work, "bob")
    bob.must("init", "bob@example.com", "fran@example.com", "fran-ec@example.com", "--suite", "modern")
    password = os.path.join(work, "password")
    with open(password, "w") as handle:
        handle.write("nss")
    for p12 in ("mailnews-test-data-smime/Bob.p12", "mailnews-test-data-smime-interop/Fran.p12",
                "mailnews-test-data-smime-interop/Fran-ec.p12"):
        result = bob.run("import", "pkcs12", os.path.join(BASE, p12), "--password-file", password)
        check(result.returncode == 0, "import " + p12, result.stderr.decode())

    check(os.path.isfile(EXPECTATIONS), "the corpus has Thunderbird's table of expected outcomes", EXPECTATIONS)
    with open(EXPECTATIONS) as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    check(len(rows) >= 60, "the expectations table has its %d rows" % len(rows))
    for row in rows:
        name = row["filename"]
        path = corpus_path(name)
        if not check(os.path.isfile(path), f"{name} is in the corpus", path):
            continue
        encrypted, signed, good = flag(row["enc"]), flag(row["sig"]), flag(row["sig_good"])
        dave = flag(row["dave"])
        if encrypted:
            output = os.path.join(work, "out.eml")
            if os.path.exists(output):
                os.remove(output)
            # A bad inner signature, or unsigned CBC content (EFAIL), keeps
            # the message back unless asked for.
            result = bob.run("decrypt", path, "--json", "-o", output, "--allow-bad-signature",
                             "--allow-unauthenticated")
            report = json.loads(result.stdout) if result.stdout.strip() else {}
            check(report.get("decrypted") is True, "%s: decrypts" % name, result.stderr.decode())
            if not report.get("decrypted"):
                continue
            bad = report["signature"] is not None and not report["signature"]["valid"]
            check(result.returncode == (1 if bad else 0), "%s: exit status %d" % (name, 1 if bad else 0))
            signature = report["signature"]
            check((signature is not None) == signed, "%s: signed=%s" % (name, signed))
            if signature is not None and signed:
                check(signature["valid"] == good, "%s: signature %s %s" % (name, "good" if good else "bad",
                                                                             signature["problems"]))
            if row["check_text"]:
                with open(output, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
                check(TEXTS[row["check_text"]] in text, "%s: shows the expected text" % name)
        else:
            result = bob.run("verify", path, "--json")
            report = json.loads(result.stdout) if result.stdout.strip() else {}
            check(report.get("encrypted") is False or not report.get("encrypted"), "%s: not decrypted" % name)
            check(report.get("signed") == signed, "%s: signed=%s" % (name, signed))
            if signed:
                check(report.get("valid") == good, "%s: signature %s %s" % (name, "good" if good else "bad",
                                                                          report.get("problems")))
                check((result.returncode == 0) == good, "%s: exit status follows validity" % name)
                signer = (report.get("signer") or {}).get("address", "")
                expected = "dave@example.com" if dave else "alice@example.com"
                check(signer == expected, "%s: outermost signer %s (got %s)" % (name, expected, signer))

finish(minimum=392)
