#!/usr/bin/python3
"""A local SMTP server for the demo: keeps every message it receives as
DIR/N.eml and prints its port on the first line. Stops on SIGTERM."""
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
from smtp_tool import Upstream  # noqa: E402

directory = sys.argv[1]
os.makedirs(directory, exist_ok=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
with Upstream() as server:
    print(server.port, flush=True)
    count = 0
    while not stop.wait(0.1):
        for message in server.take():
            count += 1
            with open(os.path.join(directory, f"{count}.eml"), "wb") as out:
                out.write(message.content)
