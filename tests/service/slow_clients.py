#!/usr/bin/env python3
"""Slow clients cannot starve the key service (docs/service.md, "Abuse").

As an attacker does it, with raw sockets from several loopback addresses
(127.0.0.2 ... : Linux routes all of 127/8 to lo): 200 connections that each
send a request header one byte every two seconds, or nothing at all, are
all open while a well-behaved client's lookups (`mailseal lookup`, and raw
requests) keep answering before a generous deadline. Then, with a short
--request-seconds, a connection that trickles a byte a second (so a
per-read timeout never fires) is cut at the absolute deadline; one client
address cannot open more than --max-connections-per-client; and at the cap
of open connections the oldest slow one gives way to a new client."""
import os
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

# Generous: what a lookup must beat while the slow connections are open. A
# service whose workers the slow connections held would not answer at all.
LOOKUP_DEADLINE = 10


def slow_connection(service, source):
    """A connection from `source` that the service accepted (it is open)."""
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.bind((source, 0))
    connection.settimeout(5)
    connection.connect((service.host, service.port))
    return connection


def is_open(connection):
    """True while the service has neither closed nor reset the connection."""
    connection.setblocking(False)
    try:
        return connection.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        connection.setblocking(True)


def closed_within(connection, seconds):
    """True when the service closes the connection before `seconds` pass."""
    connection.settimeout(seconds)
    try:
        while connection.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


def raw_lookup(service, target, timeout=LOOKUP_DEADLINE):
    """The status line of a raw GET, or the error that stopped it."""
    try:
        with socket.create_connection((service.host, service.port), timeout=timeout) as connection:
            connection.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
            return answer.split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as error:
        return repr(error)


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work) as service:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--suite", "modern", "--service", service.url)
    bob = Home(work, "bob")
    bob.must("init", "bob@example.org", "--suite", "modern")

    # 200 slow connections from 10 addresses (20 each, within the default
    # per-client cap): the first half trickle a header, the rest send nothing.
    slow = []
    for number in range(200):
        connection = slow_connection(service, f"127.0.0.{2 + number % 10}")
        if number < 100:
            connection.sendall(b"G")
        slow.append(connection)
    stop = threading.Event()

    def trickle():
        header = b"ET /v1/health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 1000
        position = 0
        while not stop.wait(2):
            for connection in slow[:100]:
                try:
                    connection.sendall(header[position:position + 1])
                except OSError:
                    pass
            position += 1

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        time.sleep(3)  # not a timing assertion: the trickle has begun before the lookups
        check(all(is_open(connection) for connection in slow), "200 slow connections are open at once",
              sum(1 for connection in slow if not is_open(connection)))
        answered = []
        for _ in range(5):
            try:
                result = alice.run("lookup", "alice@example.com", "--service", service.url)  # through mailseal
                answered.append(result.returncode == 0)
            except OSError:
                answered.append(False)
            answered.append(raw_lookup(service, "/v1/addresses/alice%40example.com").startswith("HTTP/1.1 200"))
        check(all(answered), f"while they are open, 10 lookups all answer (each before {LOOKUP_DEADLINE} s)",
              answered)
        looked = bob.run("lookup", "alice@example.com", "--service", service.url)
        check(looked.returncode == 0, "Bob's lookup of Alice answers too", looked.stderr.decode())
        check(sum(1 for connection in slow if is_open(connection)) == 200,
              "the slow connections were still open while the lookups answered")
    finally:
        stop.set()
        trickler.join()
        for connection in slow:
            connection.close()
    check(service.alive(), "the service is still running")

# Short limits: the absolute deadline, the per-client cap, the overall cap.
limits = ["--request-seconds", "3", "--idle-seconds", "60", "--max-connections-per-client", "8",
          "--max-connections", "16", "--workers", "2"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=limits) as service:
    trickling = slow_connection(service, "127.0.0.2")
    stop = threading.Event()
    sent = []

    def trickle_one():
        for byte in b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100:
            if stop.wait(1):
                return
            try:
                trickling.sendall(bytes([byte]))
                sent.append(byte)
            except OSError:
                return

    trickler = threading.Thread(target=trickle_one)
    trickler.start()
    # The idle timeout (60 s) never fires for a byte a second; the request
    # deadline (3 s) does, whatever the trickle.
    cut = closed_within(trickling, 30)
    stop.set()
    trickler.join()
    check(cut and len(sent) < 40, "a header trickled a byte a second is cut at the request deadline "
          "(absolute, not per read)", f"closed: {cut}, bytes sent before: {len(sent)}")
    trickling.close()

    same = [slow_connection(service, "127.0.0.3") for _ in range(12)]
    time.sleep(1)  # not a timing assertion: lets the service accept (and refuse) them all
    open_count = sum(1 for connection in same if is_open(connection))
    check(open_count == 8, "one client address gets at most --max-connections-per-client (8 of 12 open)",
          open_count)
    status = raw_lookup(service, "/v1/health")
    check(status.startswith("HTTP/1.1 200"), "another client is served meanwhile", status)
    others = [slow_connection(service, f"127.0.0.{4 + n % 4}") for n in range(8)]
    time.sleep(1)
    status = raw_lookup(service, "/v1/health")
    check(status.startswith("HTTP/1.1 200"), "at the cap of 16 open connections a new client is still served",
          status)
    gone = sum(1 for connection in same + others if not is_open(connection))
    check(gone >= 1, "the oldest slow connection gave way to it", gone)
    for connection in same + others:
        connection.close()
    check(service.alive(), "the service is still running")

finish(minimum=10)
