#!/usr/bin/env python3
"""OpenSSL's own hostile S/MIME test messages (openssl/openssl
test/smime-eml): mailseal refuses each with a message naming the fault, a
non-zero exit and no output file. pkcs7-empty-digest-set.eml is a detached
signature whose digestAlgorithms set is empty; OpenSSL's CMS_verify leaked
its content BIO on it (issue 15), so mailseal refuses it before OpenSSL
verifies (RFC 5652 section 5.3: the signer's digest algorithm must be
listed). Skips (77) where the corpus is absent."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import Home, check, corpus, corpus_files, finish, require_mailseal  # noqa: E402

require_mailseal()
MESSAGES = corpus("openssl-testdata", "test", "smime-eml")
# What mailseal must say about each message, and the exit status.
EXPECTED = {
    "pkcs7-empty-digest-set.eml": ("the signature lists no digest algorithm", 1),
}

with tempfile.TemporaryDirectory() as work:
    carol = Home(work, "carol")
    carol.must("init", "carol@example.org")
    names = corpus_files(MESSAGES, ".eml", at_least=1)
    for name in names:
        check(name in EXPECTED, f"{name} has an expected verdict in this test")
        if name not in EXPECTED:
            continue
        reason, status = EXPECTED[name]
        output = os.path.join(work, f"{name}.out")
        result = carol.run("verify", os.path.join(MESSAGES, name), "-o", output)
        stderr = result.stderr.decode(errors="replace")
        check(result.returncode == status, f"{name}: verify exits {status}", f"exit {result.returncode}: {stderr}")
        check(reason in stderr, f"{name}: verify says '{reason}'", stderr)
        check("BAD signature" in stderr, f"{name}: the signature is reported bad", stderr)
        check(not os.path.exists(output), f"{name}: nothing is written to -o")

finish(minimum=5)
