#!/usr/bin/python3
"""Throughput of the SMTP gateway against its peer in the same run: the same
small messages signed and encrypted by `openssl cms` (one sign and one encrypt
process per message, as a script around a mail client would) and submitted
directly, and submitted with no cryptography at all (the transport's own cost).
Prints JSON lines and a table; ratio = peer time / gateway time (above 1 the
gateway is faster). The messages are submitted over --sessions SMTP sessions
at once (a mail client with several accounts, several clients), and openssl
runs as many pipelines at once, so both can use every core. Run on demand:
/usr/bin/python3 bench/gateway_bench.py [--messages N] [--sessions N] [--mailseal PATH]."""
import argparse
import concurrent.futures
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
from smtp_tool import Gateway, Upstream, make_credential  # noqa: E402
from gateway_load import alice_and_bob, message, must  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--messages", type=int, default=400)
parser.add_argument("--sessions", type=int, default=4)
parser.add_argument("--mailseal", default=os.path.join(HERE, "..", "build", "src", "cli", "mailseal"))
arguments = parser.parse_args()
MAILSEAL = os.path.abspath(arguments.mailseal)


def submit_session(port, payloads, credential):
    with smtplib.SMTP("127.0.0.1", port, timeout=120, local_hostname="client.test") as client:
        if credential:
            client.login(*credential)
        for payload in payloads:
            client.sendmail("alice@example.com", ["bob@example.org"], payload)


def in_parallel(work, items):
    """Runs work(share) for --sessions shares of `items` at once."""
    shares = [items[i::arguments.sessions] for i in range(arguments.sessions)]
    with concurrent.futures.ThreadPoolExecutor(arguments.sessions) as pool:
        for done in [pool.submit(work, share) for share in shares if share]:
            done.result()


def submit_all(port, payloads, credential=None):
    in_parallel(lambda share: submit_session(port, share, credential), payloads)


with tempfile.TemporaryDirectory() as work:
    alice, _, bob_pem = alice_and_bob(MAILSEAL, work)
    # The same keys for openssl: Alice's signing key, Bob's encryption certificate.
    with open(os.path.join(work, "pw"), "w") as out:
        out.write("pw\n")
    must(MAILSEAL, "--home", alice, "export", "pkcs12", "--purpose", "signing", "-o", os.path.join(work, "a.p12"),
         "--password-file", os.path.join(work, "pw"))
    must("openssl", "pkcs12", "-in", os.path.join(work, "a.p12"), "-passin", "pass:pw", "-nodes", "-nocerts", "-out",
         os.path.join(work, "a.key"))
    must("openssl", "pkcs12", "-in", os.path.join(work, "a.p12"), "-passin", "pass:pw", "-nokeys", "-clcerts",
         "-out", os.path.join(work, "a.crt"))
    pems = open(bob_pem).read().split("-----END CERTIFICATE-----")
    with open(os.path.join(work, "bob-enc.pem"), "w") as out:
        out.write(pems[1].strip() + "\n-----END CERTIFICATE-----\n")
    payloads = [message(n) for n in range(arguments.messages)]

    results = {}
    with Upstream() as upstream:
        start = time.perf_counter()
        submit_all(upstream.port, payloads)
        results["plain"] = time.perf_counter() - start
        assert len(upstream.take()) == arguments.messages

        credential = make_credential(MAILSEAL, alice, "bench")
        with Gateway(MAILSEAL, alice, upstream.port) as gateway:
            start = time.perf_counter()
            submit_all(gateway.port, payloads, credential)
            results["gateway"] = time.perf_counter() - start
        arrived = upstream.take()
        assert len(arrived) == arguments.messages and all(b"pkcs7-mime" in m.content[:2000] for m in arrived)

        def openssl_session(share):
            protected = []
            for payload in share:
                signed = subprocess.run(["openssl", "cms", "-sign", "-signer", os.path.join(work, "a.crt"), "-inkey",
                                         os.path.join(work, "a.key"), "-md", "sha256"], input=payload,
                                        capture_output=True, check=True).stdout
                encrypted = subprocess.run(["openssl", "cms", "-encrypt", "-aes256", "-from", "alice@example.com",
                                            "-to", "bob@example.org", "-subject", "[...]",
                                            os.path.join(work, "bob-enc.pem")],
                                           input=signed, capture_output=True, check=True).stdout
                # openssl writes LF; SMTP wants CRLF (smtplib does not convert bytes).
                protected.append(encrypted.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            submit_session(upstream.port, protected, None)

        start = time.perf_counter()
        in_parallel(openssl_session, payloads)
        results["openssl"] = time.perf_counter() - start
        assert len(upstream.take()) == arguments.messages

    count = arguments.messages
    rows = [
        ("gateway: sign + encrypt + relay", results["gateway"], results["openssl"]),
        ("openssl cms sign + encrypt per message, then submit", results["openssl"], results["openssl"]),
        ("submit with no cryptography (transport only)", results["plain"], results["openssl"]),
    ]
    for name, seconds, peer in rows:
        print(json.dumps({"case": name, "messages": count, "seconds": round(seconds, 3),
                          "messages_per_second": round(count / seconds, 1),
                          "ratio_vs_openssl": round(peer / seconds, 2)}))
    print(f"\n| case ({count} messages of 1 KB, RSA-3072, {arguments.sessions} sessions at once) | time | messages/s "
          "| ratio openssl/this |")
    print("|---|---|---|---|")
    for name, seconds, peer in rows:
        print(f"| {name} | {seconds:.2f} s | {count / seconds:.1f} | {peer / seconds:.2f} |")
