#!/usr/bin/env python3
"""The key service under abuse (docs/service.md, "Abuse"), as attackers do
it: raw HTTP from several loopback source addresses (127.0.0.2 ...: Linux
routes all of 127/8 to lo), join requests signed by throwaway keys with
openssl, forged forwarding headers. The service's clock is moved with
libfaketime instead of sleeping.

- A spammed join queue: hundreds of requests by throwaway keys while the
  owner's PIN join (`device invite`, `device join --pin`, `sync`) still works;
  `device reject --all`; requests expire after an hour.
- Rate limits: 429 with Retry-After, and recovery once the clock passed it.
- Oversized publications: over the service's quotas (400 and 413).
- Forwarding headers: believed only from --trusted-proxy, rightmost hop."""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService, ThrowawayDevice, raw  # noqa: E402

require_mailseal()


def pending(home):
    return home.json("device", "pending")["requests"]


def pin_join(owner, phone, service, name):
    """The owner's own PIN join, whole: invite, join, the admin's sync, the phone's sync."""
    invite = owner.json("device", "invite", "--expires", "10m")
    joined = phone.run("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"], "--wait", "0",
                       "--name", name)
    if joined.returncode != 0:
        return f"join: {joined.stderr.decode()}"
    accepted = owner.json("sync").get("accepted", [])
    if len(accepted) != 1:
        return f"the admin device accepted {accepted}"
    finished = phone.run("sync")
    return "" if finished.returncode == 0 else f"sync: {finished.stderr.decode()}"


# --- A spammed join queue -------------------------------------------------
# Requests expire after --join-minutes (an hour by default; 4 minutes here,
# so that the moved clock stays within the 5 minutes a signed request may be
# off the service's clock).
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, settable_clock=True,
                                                      extra=["--join-minutes", "4"]) as service:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--suite", "modern", "--service", service.url)
    fingerprint = service.account_fingerprint("alice@example.com")
    spammers = [ThrowawayDevice(work, n) for n in range(30)]

    # With the default limits: the spammer's requests without a PIN are
    # limited per profile (20 per 10 minutes), from any number of addresses.
    statuses = [spammers[n].join(service, fingerprint, f"127.0.0.{2 + n % 5}") for n in range(30)]
    accepted = sum(1 for status, _, _ in statuses if status == 201)
    limited = [(headers, answer) for status, headers, answer in statuses if status == 429]
    check(accepted == 20 and len(limited) == 10, "default limits: 20 join requests without a PIN are taken, the "
          "next 10 get 429", [status for status, _, _ in statuses])
    check(all(answer.get("error", {}).get("code") == "rate_limited" and int(headers.get("retry-after", "0")) > 0
              for headers, answer in limited), "each 429 is rate_limited with a Retry-After",
          limited[:1])
    problem = pin_join(alice, Home(work, "phone"), service, "phone")
    check(problem == "", "the owner's PIN join still works while strangers are refused", problem)

    rejected = alice.json("device", "reject", "--all")["rejected"]
    check(len(rejected) == 20, "device reject --all rejects the 20 spam requests at once", len(rejected))
    check(pending(alice) == [], "nothing is pending after it")
    # Expiry: a request nobody decides is gone after an hour (the service's
    # clock is moved, not waited for).
    service.move_clock(30)  # a token of the join budget is back (20 per 10 minutes)
    status, _, _ = spammers[0].join(service, fingerprint, "127.0.0.2")
    check(status == 201 and len(pending(alice)) == 1, "a new request waits", status)
    # A minute short of expiry: the offset is against the real clock, so the
    # test's own running time (seconds on a loaded machine) must fit in it.
    service.move_clock(30 + 180)
    check(len(pending(alice)) == 1, "it still waits a minute before --join-minutes")
    service.move_clock(30 + 241)
    check(pending(alice) == [], "and has expired after it")

# A botnet's worth: limits lifted, hundreds of requests by throwaway keys.
lifted = ["--limit", "joins=0/1s", "--limit", "signed=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--suite", "modern", "--service", service.url)
    fingerprint = service.account_fingerprint("alice@example.com")
    spammers = [ThrowawayDevice(work, n) for n in range(40)]
    started = time.monotonic()
    statuses = [spammers[n % 40].join(service, fingerprint, f"127.0.0.{2 + n % 20}")[0] for n in range(300)]
    check(all(status == 201 for status in statuses), f"300 spam join requests are all taken "
          f"({time.monotonic() - started:.1f} s)", sorted(set(statuses)))
    waiting = pending(alice)
    check(len(waiting) == 32, "only the newest 32 requests without a PIN wait (the oldest were evicted)",
          len(waiting))
    problem = pin_join(alice, Home(work, "phone"), service, "phone")
    check(problem == "", "the owner's PIN join works with the queue full of spam", problem)
    # The PIN request keeps its lane while the spam goes on.
    invite = alice.json("device", "invite", "--expires", "10m")
    tablet = Home(work, "tablet")
    joined = tablet.run("device", "join", "alice@example.com", "--service", service.url, "--pin", invite["pin"], "--wait", "0")
    for n in range(100):
        spammers[n % 40].join(service, fingerprint, f"127.0.0.{2 + n % 20}")
    accepted = alice.json("sync").get("accepted", [])
    check(joined.returncode == 0 and len(accepted) == 1 and tablet.run("sync").returncode == 0,
          "a PIN request made before 100 more spam requests is still there to accept", (joined.stderr, accepted))
    check(len(alice.json("device", "list")["devices"]) == 3, "Alice has three devices")

# --- Rate limits: 429, Retry-After, recovery ---------------------------------
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, settable_clock=True,
                                                      extra=["--limit", "lookup=3/1m"]) as service:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--suite", "modern", "--service", service.url)
    before = time.time()
    answers = [raw(service, "GET", "/v1/addresses/alice%40example.com") for _ in range(4)]
    # The service's clock is the real one (moved by whole seconds) and its
    # buckets count whole seconds: each second that began between the first
    # lookup and the fourth (one or more on a busy machine) refilled 1/20 of
    # a token, a second less to wait.
    elapsed = int(time.time()) - int(before)
    check([status for status, _, _ in answers] == [200, 200, 200, 429], "3 lookups a minute: the fourth gets 429",
          [status for status, _, _ in answers])
    status, headers, answer = answers[3]
    retry_after = int(headers.get("retry-after", "0")) if headers.get("retry-after", "").isdigit() else 0
    check(max(1, 20 - elapsed) <= retry_after <= 20 and answer["error"]["code"] == "rate_limited",
          "with Retry-After: 20 (a token every 20 s), less the whole seconds passed since the first lookup, "
          "and code rate_limited", (elapsed, headers, answer))
    other = raw(service, "GET", "/v1/addresses/alice%40example.com", source="127.0.0.9")
    check(other[0] == 200, "another client address is served meanwhile", other[0])
    bob = Home(work, "bob")
    bob.must("init", "bob@example.org", "--suite", "modern")
    # From 127.0.0.1, mailseal's own lookups run into the same limit.
    for _ in range(4):
        looked = bob.run("lookup", "alice@example.com", "--service", service.url)
        if looked.returncode != 0:
            break
    check(looked.returncode != 0 and b"try again in" in looked.stderr,
          "mailseal lookup says when to try again", looked.stderr.decode())
    service.move_clock(20)
    again = raw(service, "GET", "/v1/addresses/alice%40example.com")
    check(again[0] == 200, "after Retry-After the same client is served again", again[0])

# --- Oversized publications ---------------------------------------------------
with tempfile.TemporaryDirectory() as work, KeyService(
        MAILSEAL, work, extra=["--max-certificates", "1", "--max-document-kib", "16"]) as service:
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--suite", "modern")
    published = alice.run("publish", "--service", service.url)
    check(published.returncode != 0 and b"at most 1" in published.stderr,
          "a profile with more certificates than --max-certificates is refused, saying the quota",
          published.stderr.decode())
    # A 5 MiB body, and one announced as 100 MB: 413 before they are stored.
    target = "/v1/accounts/" + "A" * 20
    status, _, answer = raw(service, "PUT", target, body=b"{" + b" " * (5 * 1024 * 1024) + b"}")
    check(status == 413 and answer["error"]["code"] == "too_large", "a 5 MiB publication: 413 too_large", status)

# --- Forwarding headers -------------------------------------------------------
proxy = ["--trusted-proxy", "127.0.0.3", "--limit", "lookup=2/1h"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=proxy) as service:
    forged = [raw(service, "GET", "/v1/health", "127.0.0.2", [("X-Forwarded-For", f"203.0.113.{n}")])[0]
              for n in range(3)]
    check(forged == [200, 200, 429], "an untrusted peer's X-Forwarded-For is ignored (its own address is limited)",
          forged)
    forged = raw(service, "GET", "/v1/health", "127.0.0.2", [("Forwarded", "for=203.0.113.77")])[0]
    check(forged == 429, "and so is its Forwarded header", forged)
    through = [raw(service, "GET", "/v1/health", "127.0.0.3", [("X-Forwarded-For", "198.51.100.1")])[0]
               for _ in range(3)]
    check(through == [200, 200, 429], "through the trusted proxy, the forwarded client is limited", through)
    spoofed = raw(service, "GET", "/v1/health", "127.0.0.3",
                  [("X-Forwarded-For", "198.51.100.99, 198.51.100.1")])[0]
    check(spoofed == 429, "a client cannot escape by forging the left of the chain (rightmost untrusted hop)",
          spoofed)
    other = raw(service, "GET", "/v1/health", "127.0.0.3", [("X-Forwarded-For", "198.51.100.2")])[0]
    check(other == 200, "another client behind the proxy has its own bucket", other)
    wrong_header = [raw(service, "GET", "/v1/health", "127.0.0.3", [("Forwarded", f"for=198.51.100.{50 + n}")])[0]
                    for n in range(3)]
    check(wrong_header == [200, 200, 429], "a header other than --proxy-header is not read, even from the proxy",
          wrong_header)

finish(minimum=24)
