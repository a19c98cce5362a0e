"""Inputs for fuzz_multipart_scan without libFuzzer: the seeds of
fuzz/corpus/multipart_scan mutated (bytes flipped and cut; CR, LF,
delimiters, boundaries, parts marked hp-legacy-display and header lines
inserted; the byte that chooses the start changed). Usage:

    python3 fuzz/mutate_multipart_seeds.py OUT_DIR [COUNT [SEED]]
    build/fuzz/fuzz_multipart_scan OUT_DIR
"""
import os
import random
import sys

TOKENS = [b"\r", b"\n", b"\r\n", b"--b", b"--b--", b"--c", b"--c--", b"  ", b"\r\n\r\n", b"--b\r\n", b"\r\n--b\r\n\r\n",
          b"Content-Type: text/plain; hp-legacy-display=1\r\n", b"Content-Type: text/html; hp-legacy-display=\"1\"\r\n",
          b"Content-Type: multipart/alternative; boundary=c\r\n", b"Content-Type: multipart/mixed; boundary=b\r\n",
          b"Content-Type: multipart/related; boundary=d\r\n", b"--d\r\n", b"--d--\r\n",
          b"Content-Disposition: attachment\r\n", b"Content-Transfer-Encoding: base64\r\n",
          b"Content-Transfer-Encoding: quoted-printable\r\n", b"Subject: Report\r\n", b"Subject: Other\r\n",
          b"From: a@example.com\r\n", b"From: b@example.com\r\n", b"hp=cipher", b"; hp=\"cipher\"",
          b"<div class=\"header-protection-legacy-display\">\r\n<pre>Subject: Report</pre>\r\n</div>\r\n", b"=\r\n",
          b"=0D=0A", b"\t", b"Subject: Report\r\n\r\n"]


def mutate(seed, rng):
    s = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randint(1, len(s))
        if op < 0.55:
            s[pos:pos] = rng.choice(TOKENS)
        elif op < 0.7 and len(s) > 2:
            del s[pos:min(len(s), pos + rng.randint(1, 20))]
        elif op < 0.85 and len(s) > 2:
            s[rng.randint(1, len(s) - 1)] = rng.randint(0, 255)
        else:
            s[0] = rng.randint(0, 255)
    return bytes(s)


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1515)
    corpus = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "multipart_scan")
    seeds = [open(os.path.join(corpus, name), "rb").read() for name in sorted(os.listdir(corpus))]
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        with open(os.path.join(out, f"in_{i:06d}"), "wb") as handle:
            handle.write(mutate(rng.choice(seeds), rng))


if __name__ == "__main__":
    main()
