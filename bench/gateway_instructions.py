#!/usr/bin/python3
"""Instructions the gateway spends per signed and encrypted message, counted
by `valgrind --tool=callgrind` (a count does not depend on the machine's
load, unlike wall or CPU time). The gateway (mailseal-cli, in process) runs
under callgrind; one SMTP session submits --warm-up messages, the counters
are zeroed (callgrind_control -z), the session submits --messages more, and
the counters are dumped (callgrind_control -d). Prints the instructions per
message of that second batch, the gateway's total across its threads, and
the callgrind file for callgrind_annotate. Run on demand:
/usr/bin/python3 bench/gateway_instructions.py [--messages N] [--cli PATH]."""
import argparse
import glob
import json
import os
import smtplib
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
from smtp_tool import Gateway, Upstream, make_credential  # noqa: E402
from gateway_load import alice_and_bob, message, must  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--messages", type=int, default=10)
parser.add_argument("--warm-up", type=int, default=2)
parser.add_argument("--cli", default=os.path.join(HERE, "..", "build", "src", "cli", "mailseal-cli"))
parser.add_argument("--keep", help="a folder to keep the callgrind output in")
arguments = parser.parse_args()
CLI = os.path.abspath(arguments.cli)


def total_instructions(path):
    """The `totals:` line of a callgrind output file (its first event is Ir)."""
    with open(path) as data:
        for line in data:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


with tempfile.TemporaryDirectory() as work:
    out_dir = arguments.keep or work
    alice, _, _ = alice_and_bob(CLI, work)
    credential = make_credential(CLI, alice, "bench")
    with Upstream() as upstream:
        gateway = Gateway(CLI, alice, upstream.port, "--sync", "0")
        out_file = os.path.join(out_dir, "callgrind.out.gateway")
        gateway.command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}.%p"] + gateway.command
        with gateway:
            pid = gateway.process.pid
            with smtplib.SMTP("127.0.0.1", gateway.port, timeout=600, local_hostname="client.test") as client:
                client.login(*credential)
                for number in range(arguments.warm_up):
                    client.sendmail("alice@example.com", ["bob@example.org"], message(number))
                must("callgrind_control", "-z", str(pid))
                for number in range(arguments.messages):
                    client.sendmail("alice@example.com", ["bob@example.org"], message(1000 + number))
                must("callgrind_control", "-d", "measured", str(pid))
        arrived = upstream.take()
        assert len(arrived) == arguments.warm_up + arguments.messages
        assert all(b"pkcs7-mime" in m.content[:2000] for m in arrived), "every message signed and encrypted"
    # One file a dump, every thread's counts in it (--separate-threads is off);
    # the dump asked for names its trigger.
    dumps = sorted(glob.glob(out_file + ".*"))
    measured = [path for path in dumps if "Trigger: dump measured" in open(path).read(4096)]
    if not measured:
        raise SystemExit(f"no dump named 'measured' among {dumps}")
    instructions = total_instructions(measured[0])
    print(json.dumps({"case": "gateway sign+encrypt+relay, one session", "messages": arguments.messages,
                      "instructions": instructions, "instructions_per_message": instructions // arguments.messages,
                      "callgrind_file": measured[0] if arguments.keep else None}))
