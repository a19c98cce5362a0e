#!/usr/bin/env python3
"""Runs a test command against a throwaway PostgreSQL cluster: starts one
(tests/tools/postgres_tool.py), gives the command its URI in
MAILSEAL_POSTGRES (the key services that tests/tools/service_tool.py starts
then keep their data there, each in its own database, instead of SQLite
files, two processes a service), and stops it at the end, even on failure. Exits with the command's
status; 77 (skipped) where PostgreSQL is not installed.

    with_postgres.py python3 tests/service/hostile.py"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postgres_tool import Cluster, Unavailable  # noqa: E402

# CTest's timeout ends a test with SIGTERM: the cluster is stopped then too.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
if len(sys.argv) < 2:
    print("usage: with_postgres.py COMMAND [ARGUMENT...]", file=sys.stderr)
    sys.exit(2)
try:
    with Cluster() as cluster:
        print(f"# PostgreSQL cluster at {cluster.folder}", flush=True)
        # Two service processes on the database for each KeyService
        # (tests/tools/service_tool.py): the issue's "the same suite with two
        # service processes".
        environment = dict(os.environ, MAILSEAL_POSTGRES=cluster.uri,
                           MAILSEAL_SERVICE_PROCESSES=os.environ.get("MAILSEAL_SERVICE_PROCESSES", "2"))
        status = subprocess.run(sys.argv[1:], env=environment).returncode
except Unavailable as reason:
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)
sys.exit(status)
