#!/usr/bin/env python3
"""Runs a test command with `mailseal resident` running (docs/resident.md), so
that every sign, encrypt, decrypt, verify... the script makes runs in a
child of the resident process: the same script's checks then show that a
command run there is the command run alone. Fails when the resident process
ran no command (the variant would have tested nothing) or did not stop
cleanly. Exits with the command's status.

    with_resident.py bash tests/cli/smime.sh"""
import os
import re
import signal
import subprocess
import sys
import tempfile

signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
if len(sys.argv) < 2:
    print("usage: with_resident.py COMMAND [ARGUMENT...]", file=sys.stderr)
    sys.exit(2)
mailseal = os.environ["MAILSEAL"]
with tempfile.TemporaryDirectory(prefix="mailseal-resident.") as folder:
    socket_path = os.path.join(folder, "socket")
    env = dict(os.environ, MAILSEAL_RESIDENT=socket_path)
    resident = subprocess.Popen([mailseal, "resident"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        if resident.stdout.readline().strip() != socket_path:
            print("FAIL - mailseal resident did not start: " + resident.stderr.read(), flush=True)
            sys.exit(1)
        print(f"# mailseal resident at {socket_path}", flush=True)
        status = subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        resident.send_signal(signal.SIGTERM)
        try:
            code = resident.wait(timeout=60)
        except subprocess.TimeoutExpired:
            resident.kill()
            code = None
    report = resident.stderr.read()
    started = re.search(r"stopped after (\d+) command", report)
    ran = int(started.group(1)) if started else 0
    print(f"# the resident process ran {ran} command(s); exit {code}", flush=True)
    if code != 0 or ran == 0:
        print("FAIL - the resident process ran no command or did not stop cleanly:\n" + report, flush=True)
        sys.exit(1)
sys.exit(status)
