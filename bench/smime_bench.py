#!/usr/bin/env python3
"""S/MIME throughput and memory, mailseal against `openssl cms` in the same
run (issue: "Fast"). Cases, each printed as one JSON line, then a summary:

  encrypt-large   encrypt a large message (default 100 MB) to one recipient,
                  AES-256-GCM on both sides, no inner signature
  decrypt-large   decrypt mailseal's AES-256-GCM message (both tools, same
                  input; mailseal streams it, openssl reads it whole)
  sign-small      sign N small messages (default 1000), one process each,
                  in --rounds alternating batches, with `mailseal resident`
                  running (as `setup resident` leaves it): each `mailseal
                  sign` is the launcher, the command runs in a child forked
                  from the resident process
  sign-small-cold the same with no resident process (MAILSEAL_RESIDENT=off):
                  every message starts mailseal-cli whole; informative
  sign-encrypt-large  mailseal's default (sign inside, then encrypt): informative
  decrypt-signed-large  decrypt mailseal's default message (multipart/signed inside,
                  AES-256-CBC) and check the inner signature: mailseal decrypt
                  (both layers stream) against `openssl cms -decrypt | openssl
                  cms -verify -noverify` (what openssl needs for the
                  same; each reads its layer whole): informative
  verify-opaque-large    verify mailseal's opaque signature (application/
                  pkcs7-mime signed-data) of the large message, content to a
                  file: `mailseal verify -o` (streams, learns the signer)
                  against `openssl cms -verify -noverify -binary -out` (reads
                  it whole; -noverify: mailseal judges trust instead of PKIX)
  verify-detached-large  the same for mailseal's multipart/signed (openssl
                  without -binary, which reads a multipart/signed's first
                  part as text, CRLF, as RFC 8551 signs it)

Each case with a target (issue 15: decrypt and verify at least 2x faster
than openssl) prints it, and whether the ratio meets it.

ratio = openssl time / mailseal time (above 1: mailseal is faster). The
large cases run --rounds times (default 5), alternating which tool goes
first, and report medians; peak memory is the largest maximum resident set
(ru_maxrss) over the rounds. --cases picks cases (comma-separated).

  bench/smime_bench.py [--mailseal PATH] [--size-mb 100] [--messages 1000] [--rounds 5] [--cases ...]
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MEASURE = ("import resource, subprocess, sys\n"
           "with open(sys.argv[1], 'rb') as i, open(sys.argv[2], 'wb') as o:\n"
           "    code = subprocess.run(sys.argv[3:], stdin=i, stdout=o, stderr=subprocess.DEVNULL).returncode\n"
           "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def measure(command, stdin=os.devnull, stdout=os.devnull):
    """Wall time and peak RSS (KiB) of one command, in a fresh parent process."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, stdin, stdout, *command], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    code, peak = result.stdout.split()
    if int(code) != 0:
        raise SystemExit("benchmark command failed: " + " ".join(command))
    return elapsed, int(peak)


def alternate(rounds, mailseal, openssl):
    """Medians of `rounds` runs of each (callables returning (seconds, KiB)),
    alternating which goes first; the peak is the largest of the rounds."""
    m_runs, o_runs = [], []
    for round_number in range(rounds):
        order = [(mailseal, m_runs), (openssl, o_runs)]
        if round_number % 2:
            order.reverse()
        for function, runs in order:
            runs.append(function())
    return ((statistics.median(t for t, _ in m_runs), max(p for _, p in m_runs)),
            (statistics.median(t for t, _ in o_runs), max(p for _, p in o_runs)))


def run(command, **kwargs):
    subprocess.run(command, check=True, capture_output=True, **kwargs)


def write_large_message(path, size_mb):
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    with open(path, "wb") as out:
        out.write(b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: large\r\n"
                  b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
        block = line * (1024 * 1024 // len(line))
        for _ in range(size_mb):
            out.write(block)


# The targets: openssl time / mailseal time at least this.
TARGETS = {"decrypt-large": 2.0, "verify-opaque-large": 2.0, "verify-detached-large": 2.0, "encrypt-large": 1.5,
           "sign-small": 1.0, "sign-encrypt-large": 1.0}


def report(case, mailseal, openssl, size_bytes=None):
    m_time, m_peak = mailseal
    o_time, o_peak = openssl
    entry = {"case": case, "mailseal_seconds": round(m_time, 3), "openssl_seconds": round(o_time, 3),
             "ratio": round(o_time / m_time, 3), "mailseal_peak_mib": round(m_peak / 1024, 1),
             "openssl_peak_mib": round(o_peak / 1024, 1)}
    if case in TARGETS:
        entry["target_ratio"] = TARGETS[case]
        entry["target_met"] = entry["ratio"] >= TARGETS[case]
    if size_bytes:
        entry["mailseal_mb_per_s"] = round(size_bytes / 1e6 / m_time, 1)
        entry["openssl_mb_per_s"] = round(size_bytes / 1e6 / o_time, 1)
        entry["message_mib"] = round(size_bytes / 2**20, 1)
    print(json.dumps(entry), flush=True)
    return entry


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailseal", default=os.path.join(os.path.dirname(__file__), "..", "build", "src", "cli",
                                                           "mailseal"))
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="encrypt-large,decrypt-large,sign-small,sign-small-cold,sign-encrypt-large,"
                                           "decrypt-signed-large,verify-opaque-large,verify-detached-large")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": platform.node(),
                      "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                      "openssl": subprocess.run(["openssl", "version"], capture_output=True,
                                                text=True).stdout.strip()}), flush=True)
    mailseal = os.path.abspath(args.mailseal)
    work = tempfile.mkdtemp(prefix="mailseal-bench.")
    try:
        alice, bob = os.path.join(work, "alice"), os.path.join(work, "bob")
        run([mailseal, "init", "alice@example.com", "--home", alice])
        run([mailseal, "init", "bob@example.org", "--home", bob])
        certs = os.path.join(work, "bob.pem")
        run([mailseal, "export", "certificates", "-o", certs, "--home", bob])
        run([mailseal, "contact", "import", certs, "--home", alice])
        password = os.path.join(work, "pw")
        with open(password, "w") as handle:
            handle.write("pw")
        # Bob's and Alice's keys as PEM for openssl.
        for who, home, purpose in (("bob", bob, "encryption"), ("alice", alice, "signing")):
            p12 = os.path.join(work, who + ".p12")
            run([mailseal, "export", "pkcs12", "--purpose", purpose, "-o", p12, "--password-file", password,
                 "--home", home])
            run(["openssl", "pkcs12", "-in", p12, "-passin", "file:" + password, "-nodes", "-nocerts", "-out",
                 os.path.join(work, who + ".key")])
            run(["openssl", "pkcs12", "-in", p12, "-passin", "file:" + password, "-nokeys", "-clcerts", "-out",
                 os.path.join(work, who + ".crt")])

        large = os.path.join(work, "large.eml")
        write_large_message(large, args.size_mb)
        size = os.path.getsize(large)
        results = []
        m_encrypted, o_encrypted = os.path.join(work, "m.eml"), os.path.join(work, "o.eml")
        encrypt_m = [mailseal, "encrypt", "--gcm", "--no-sign", "--to", "bob@example.org", "--home", alice]
        encrypt_o = ["openssl", "cms", "-encrypt", "-aes-256-gcm", "-binary", "-stream", os.path.join(work, "bob.crt")]
        if "encrypt-large" in cases:
            results.append(report("encrypt-large", *alternate(args.rounds,
                                                              lambda: measure(encrypt_m, large, m_encrypted),
                                                              lambda: measure(encrypt_o, large, o_encrypted)), size))
        # Both decrypt the same message (mailseal's), so that the input's
        # encoding (BER chunking) is the same for both.
        if "decrypt-large" in cases:
            with open(large, "rb") as source, open(m_encrypted, "wb") as target:
                subprocess.run(encrypt_m, stdin=source, stdout=target, stderr=subprocess.DEVNULL, check=True)
            decrypted = os.path.join(work, "decrypted.eml")
            decrypt_m = [mailseal, "decrypt", "--home", bob, "-o", decrypted]
            decrypt_o = ["openssl", "cms", "-decrypt", "-binary", "-recip", os.path.join(work, "bob.crt"),
                         "-inkey", os.path.join(work, "bob.key"), "-out", decrypted]
            results.append(report("decrypt-large", *alternate(args.rounds,
                                                              lambda: measure(decrypt_m, m_encrypted),
                                                              lambda: measure(decrypt_o, m_encrypted)), size))
        small = os.path.join(work, "small.eml")
        with open(small, "w") as handle:
            handle.write("From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: small\r\n\r\n"
                         "A short note, one of many.\r\n")

        def batch(command, count, env=None):
            """Wall time of `count` runs of `command`, one process each, started
            straight from this process (a wrapper process per message would
            add its own start-up to both sides and hide the difference)."""
            start = time.perf_counter()
            for _ in range(count):
                with open(small, "rb") as source:
                    subprocess.run(command, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   check=True, env=env)
            return time.perf_counter() - start

        sign_m = [mailseal, "sign", "--home", alice]
        sign_o = ["openssl", "cms", "-sign", "-signer", os.path.join(work, "alice.crt"), "-inkey",
                  os.path.join(work, "alice.key")]

        def sign_small(case, env):
            # --rounds batches of messages/rounds each, alternating which tool
            # goes first; the total is the median batch times the rounds.
            per_batch = max(1, args.messages // args.rounds)
            (m_time, _), (o_time, _) = alternate(args.rounds, lambda: (batch(sign_m, per_batch, env), 0),
                                                 lambda: (batch(sign_o, per_batch), 0))
            results.append(report(case, (m_time * args.rounds, measure(sign_m, small)[1]),
                                  (o_time * args.rounds, measure(sign_o, small)[1])))

        if "sign-small-cold" in cases:
            sign_small("sign-small-cold", dict(os.environ, MAILSEAL_RESIDENT="off"))
        if "sign-small" in cases:
            socket = os.path.join(work, "resident", "socket")
            os.mkdir(os.path.dirname(socket), 0o700)
            env = dict(os.environ, MAILSEAL_RESIDENT=socket)
            resident = subprocess.Popen([mailseal, "resident"], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
            try:
                if resident.stdout.readline().strip() != socket:
                    raise SystemExit("mailseal resident did not start")
                sign_small("sign-small", env)
            finally:
                resident.terminate()
                resident.wait()
        if "sign-encrypt-large" in cases:
            sign_encrypt_m = [mailseal, "encrypt", "--to", "bob@example.org", "--home", alice]
            results.append(report("sign-encrypt-large", *alternate(args.rounds,
                                                                   lambda: measure(sign_encrypt_m, large, m_encrypted),
                                                                   lambda: measure(encrypt_o, large, o_encrypted)),
                                  size))
        if "decrypt-signed-large" in cases:
            signed_encrypted = os.path.join(work, "signed-encrypted.eml")
            with open(large, "rb") as source, open(signed_encrypted, "wb") as target:
                subprocess.run([mailseal, "encrypt", "--to", "bob@example.org", "--home", alice], stdin=source,
                               stdout=target, stderr=subprocess.DEVNULL, check=True)
            decrypted = os.path.join(work, "decrypted.eml")
            decrypt_m = [mailseal, "decrypt", "--home", bob, "-o", decrypted]
            decrypt_o = ["sh", "-c", 'openssl cms -decrypt -binary -recip "$1" -inkey "$2" | '
                         'openssl cms -verify -noverify -out "$3"', "sh", os.path.join(work, "bob.crt"),
                         os.path.join(work, "bob.key"), decrypted]
            results.append(report("decrypt-signed-large", *alternate(args.rounds,
                                                                     lambda: measure(decrypt_m, signed_encrypted),
                                                                     lambda: measure(decrypt_o, signed_encrypted)),
                                  size))
        for form in ("opaque", "detached"):
            case = "verify-%s-large" % form
            if case not in cases:
                continue
            signed = os.path.join(work, form + ".eml")
            with open(large, "rb") as source, open(signed, "wb") as target:
                subprocess.run([mailseal, "sign", "--home", alice] + (["--opaque"] if form == "opaque" else []),
                               stdin=source, stdout=target, stderr=subprocess.DEVNULL, check=True)
            content = os.path.join(work, "verified.eml")
            verify_m = [mailseal, "verify", signed, "--home", bob, "-o", content]
            verify_o = ["openssl", "cms", "-verify", "-noverify", "-in", signed, "-out", content]
            if form == "opaque":
                verify_o.insert(4, "-binary")
            results.append(report(case, *alternate(args.rounds, lambda: measure(verify_m),
                                                   lambda: measure(verify_o)), size))
        print("\n%-22s %10s %10s %7s %11s %12s %12s" % ("case", "mailseal s", "openssl s", "ratio", "target",
                                                        "mailseal MiB", "openssl MiB"))
        for entry in results:
            target = entry.get("target_ratio")
            verdict = "" if target is None else ("%.1f %s" % (target, "met" if entry["target_met"] else "MISSED"))
            print("%-22s %10.2f %10.2f %7.2f %11s %12.1f %12.1f" % (entry["case"], entry["mailseal_seconds"],
                                                                   entry["openssl_seconds"], entry["ratio"], verdict,
                                                                   entry["mailseal_peak_mib"],
                                                                   entry["openssl_peak_mib"]))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
