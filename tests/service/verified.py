#!/usr/bin/python3
"""Verified addresses on the key service, end to end: a real `mailseal serve
--smtp` on 127.0.0.1 mailing its challenges to a real SMTP server (aiosmtpd),
the links in those mails fetched the way a browser and a mail scanner fetch
them, and lookups and encryption by a correspondent. Then the attacks: a
squatter who publishes first but never receives the mail, two claimants, an
expired challenge (the service's clock moved with libfaketime), a replayed
link, someone else's token in a signed confirmation, and hostile requests to
the new endpoints, some over raw sockets."""
import email
import email.policy
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, faketime_environment, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Upstream  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")
from service_tool import KeyService, sign_request  # noqa: E402

require_mailseal()

MAIL_FROM = "keys@keys.test"
LINK = re.compile(r"(https?://[^\s/]+/verify/([0-9a-f]{64}))")
HOUR = 3600


def fetch(service, method, target, body=None, headers=None):
    """(status, headers, text) of one request, as a browser would send it."""
    connection = http.client.HTTPConnection(service.host, service.port, timeout=30)
    connection.request(method, target, body=body, headers=headers or {})
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    answer = (response.status, {k.lower(): v for k, v in response.getheaders()}, text)
    connection.close()
    return answer


def raw(service, data, read_timeout=15):
    """Bytes sent over a plain socket; everything the service answers."""
    with socket.create_connection((service.host, service.port), timeout=read_timeout) as connection:
        try:
            connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service may answer and close before it has read everything
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return received


def lookup(home, service, address):
    result = home.run("--json", "lookup", address, "--service", service.url)
    return result.returncode, json.loads(result.stdout) if result.returncode == 0 else result.stderr.decode()


def discovery_evidence(home, address):
    """The discovery item of `mailseal trust ADDRESS`'s evidence, or None."""
    verdict = home.json("trust", address)
    return next((item for item in verdict.get("evidence", []) if item["kind"] == "discovery"), None)


def discovery_rows(home):
    """(address, source, verified) of the discoveries in a home's local store."""
    with sqlite3.connect(os.path.join(home.home, "mailseal.db")) as database:
        return database.execute("SELECT address, source, verified FROM discoveries ORDER BY address").fetchall()


def claims_in(service):
    return service.rows("SELECT address, account, state, token_hash FROM claims ORDER BY address, account")


def account_of(service, address):
    """The full fingerprint of the newest profile that claims `address` (the CLI shows short ones)."""
    return service.rows("SELECT account FROM claims WHERE address = ? ORDER BY claimed_at DESC", (address,))[0][0]


def root_key_of(home):
    keys = os.path.join(home.home, "keys")
    return next(os.path.join(keys, name) for name in os.listdir(keys) if name.startswith("root-"))


class Mailbox:
    """The SMTP server's mail, by recipient."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.kept = []

    def challenge(self, address, description):
        """The newest challenge mailed to `address`: (link, token, the parsed mail)."""
        for _ in range(100):  # the service relays before it answers; this only collects
            self.kept += self.upstream.take()
            mails = [m for m in self.kept if address in m.recipients]
            if mails:
                break
            time.sleep(0.05)
        mails = [m for m in self.kept if address in m.recipients]
        check(len(mails) >= 1, f"{description}: a challenge mail reached {address}")
        if not mails:
            return None, None, None
        mail = email.message_from_bytes(mails[-1].content, policy=email.policy.default)
        self.kept = [m for m in self.kept if m is not mails[-1]]
        found = LINK.search(mail.get_content())
        check(found is not None, f"{description}: the mail holds a /verify/ link", mail.get_content())
        return (found.group(1), found.group(2), mail) if found else (None, None, mail)

    def nothing_for(self, address):
        self.kept += self.upstream.take()
        return not any(address in m.recipients for m in self.kept)


def path_of(link):
    return urllib.parse.urlparse(link).path


with tempfile.TemporaryDirectory() as work, Upstream() as upstream, \
        KeyService(MAILSEAL, work, extra=["--smtp", f"127.0.0.1:{upstream.port}", "--mail-from", MAIL_FROM],
                   settable_clock=True) as service:
    mailbox = Mailbox(upstream)
    alice, bob = Home(work, "alice"), Home(work, "bob")
    alice.must("init", "alice@example.com", "--name", "Alice")

    # --- The whole flow ---------------------------------------------------
    made = bob.json("init", "bob@example.org", "--name", "Bob", "--service", service.url)
    check(made["published"] and made["claims"] == [{"address": "bob@example.org", "state": "pending"}],
          "flow: init --service publishes, and the address is pending", made)
    link, token, mail = mailbox.challenge("bob@example.org", "flow")
    check(mail is not None and mail["From"].addresses[0].addr_spec == MAIL_FROM and
          mail["To"].addresses[0].addr_spec == "bob@example.org" and mail["Date"] and mail["Message-ID"],
          "flow: the mail is from --mail-from, to the address, with Date and Message-ID", str(mail))
    check(mail is not None and f"mailseal address confirm {token}" in mail.get_content() and
          made["fingerprint"].split("-")[0] in mail.get_content(),
          "flow: the mail names the profile and the signed-confirmation command")
    check(link is not None and link.startswith(service.url + "/verify/"), "flow: the link is on the service's URL",
          link)
    stored = [row[3] for row in claims_in(service)]
    check(token not in stored and all(hash_ is None or len(hash_) == 128 for hash_ in stored),
          "flow: the service keeps only a hash of the token", stored)
    status, found = lookup(alice, service, "bob@example.org")
    check(status != 0 and "404" in found, "flow: a pending address is not served", found)
    status, headers, _ = fetch(service, "GET", "/v1/addresses/bob%40example.org")
    check(status == 404 and headers.get("content-type", "").startswith("application/json") and
          headers.get("x-content-type-options") == "nosniff" and headers.get("cache-control") == "no-store",
          "flow: the API's JSON answers are not sniffed as pages nor kept by caches", (status, headers))

    status, headers, page = fetch(service, "GET", path_of(link))
    check(status == 200 and headers.get("content-type", "").startswith("text/html") and
          'method="post"' in page and "bob@example.org" in page,
          "flow: GET on the link shows a page with a button that POSTs", page)
    csp = headers.get("content-security-policy", "")
    check("default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp and
          headers.get("referrer-policy") == "no-referrer" and headers.get("cache-control") == "no-store" and
          headers.get("x-content-type-options") == "nosniff",
          "flow: the page has a strict Content-Security-Policy, no referrer, no caching", headers)
    check("<script" not in page and "http" not in page.replace(service.url, ""),
          "flow: the page has no scripts and no external assets", page)
    fetch(service, "GET", path_of(link))
    fetch(service, "HEAD", path_of(link))
    status, found = lookup(alice, service, "bob@example.org")
    check(status != 0, "flow: GET and HEAD (what mail scanners do) change nothing", found)

    status, headers, page = fetch(service, "POST", path_of(link), body="",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 200 and "Address confirmed" in page, "flow: POST from the page's button confirms", page)
    status, found = lookup(alice, service, "bob@example.org")
    check(status == 0 and found["verified"] is True and found["fingerprint"] == made["fingerprint"],
          "flow: lookup now serves Bob's profile, marked verified", found)
    check(status == 0 and found["trust"]["level"] == "marginal" and found["trust"]["amount"] == 5,
          "flow: a verified lookup is still discovery, marginal: amount 5, not trust", found)
    evidence = discovery_evidence(alice, "bob@example.org")
    check(status == 0 and evidence is not None and evidence["amount"] == 5
          and "verified the address" in evidence["detail"] and found["trust"]["work_factor_bits"] == 40,
          "flow: the evidence says the service verified the address; subverting the service (which could say "
          "so itself) still costs 2^40", (found, evidence))
    check(discovery_rows(alice) == [("bob@example.org", service.url, 1)],
          "flow: Alice's store records the discovery as verified", discovery_rows(alice))
    message = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nfor Bob only\r\n"
    encrypted = os.path.join(work, "to-bob.eml")
    alice.must("encrypt", "-o", encrypted, stdin=message)
    decrypted = bob.run("decrypt", encrypted, "-o", os.path.join(work, "to-bob.txt"))
    check(decrypted.returncode == 0 and b"for Bob only" in open(os.path.join(work, "to-bob.txt"), "rb").read(),
          "flow: Alice encrypts to the verified key and Bob decrypts", decrypted.stderr.decode())

    # --- A replayed link ----------------------------------------------------
    before = claims_in(service)
    status, _, page = fetch(service, "POST", path_of(link), body="")
    check(status == 409 and "Confirmed already" in page and "Nothing was changed" in page,
          "replay: POSTing a used link again is refused with a clear page", f"{status} {page}")
    status, _, page = fetch(service, "GET", path_of(link))
    check(status == 200 and "Confirmed already" in page and "<form" not in page,
          "replay: the used link's page offers no button", page)
    check(claims_in(service) == before, "replay: nothing changed in the database")

    # --- A squatter who publishes first and never receives the mail ---------
    mallory, carol = Home(work, "mallory"), Home(work, "carol")
    squat = mallory.json("init", "carol@example.net", "--name", "Not Carol", "--suite", "modern",
                         "--service", service.url)
    squat_link, squat_token, _ = mailbox.challenge("carol@example.net", "squatter")
    check(squat["claims"] == [{"address": "carol@example.net", "state": "pending"}],
          "squatter: his claim is only pending", squat)
    status, found = lookup(alice, service, "carol@example.net")
    check(status != 0, "squatter: his pending claim is not served", found)
    real = carol.json("init", "carol@example.net", "--name", "Carol", "--service", service.url)
    check(real["published"] and real["claims"] == [{"address": "carol@example.net", "state": "pending"}],
          "squatter: the real Carol publishes after him, and is not blocked (no 409)", real)
    carol_link, carol_token, _ = mailbox.challenge("carol@example.net", "squatter: Carol's own challenge")
    status, _, page = fetch(service, "POST", path_of(carol_link), body="")
    check(status == 200, "squatter: Carol, who receives the mail, confirms", page)
    status, found = lookup(alice, service, "carol@example.net")
    check(status == 0 and found["fingerprint"] == real["fingerprint"] and found["verified"] is True,
          "squatter: lookup serves Carol's key, not the squatter's", found)
    status, _, page = fetch(service, "POST", path_of(squat_link), body="")
    check(status == 404 and "not known" in page, "squatter: his claim was dropped; his link is unknown now", page)
    again = mallory.run("--json", "publish", "--service", service.url)
    status, found = lookup(alice, service, "carol@example.net")
    check(again.returncode == 0 and status == 0 and found["fingerprint"] == real["fingerprint"],
          "squatter: publishing again only makes another pending claim; Carol's stays served", found)
    again_link, _, again_mail = mailbox.challenge("carol@example.net", "squatter: his new claim mails Carol again")
    again_text = again_mail.get_content() if again_mail else ""
    check("Careful" in again_text and real["fingerprint"] in again_text,
          "squatter: that mail warns that the address belongs to Carol's profile already", again_text)
    status, _, page = fetch(service, "GET", path_of(again_link))
    check(status == 200 and "belongs to another profile" in page and "<form" not in page,
          "squatter: his link's page says the address is Carol's, with no button", page)
    status, _, page = fetch(service, "POST", path_of(again_link), body="")
    status_after, found = lookup(alice, service, "carol@example.net")
    check(status == 409 and status_after == 0 and found["fingerprint"] == real["fingerprint"],
          "squatter: Carol pressing a button anyway (a POST) does not give him her address", f"{status} {found}")
    stolen = mallory.run("address", "confirm", carol_link, "--service", service.url)
    check(stolen.returncode != 0 and b"refused" in stolen.stderr,
          "squatter: Carol's (used) token in his own signed confirmation is refused", stolen.stderr.decode())

    # --- Two claimants; the signed-confirmation path -------------------------
    dave1, dave2 = Home(work, "dave1"), Home(work, "dave2")
    first = dave1.json("init", "dave@example.com", "--name", "Dave", "--service", service.url)
    link1, token1, _ = mailbox.challenge("dave@example.com", "two claimants: the first")
    second = dave2.json("init", "dave@example.com", "--name", "Dave too", "--service", service.url)
    link2, token2, _ = mailbox.challenge("dave@example.com", "two claimants: the second")
    check(token1 != token2, "two claimants: each claim has its own token")
    pending = [row for row in claims_in(service) if row[0] == "dave@example.com"]
    check(len(pending) == 2 and all(row[2] == "pending" for row in pending),
          "two claimants: both claims are pending side by side", pending)
    crossed = dave2.run("--json", "address", "confirm", token1, "--service", service.url)
    check(crossed.returncode != 0 and b"no challenge with that token" in crossed.stderr,
          "two claimants: the second cannot confirm with the first's token (signed by his own root)",
          crossed.stderr.decode())
    signed = dave1.json("address", "confirm", link1, "--service", service.url)
    check(signed.get("address") == "dave@example.com" and signed.get("state") == "verified",
          "signed confirmation: `address confirm LINK`, signed by the profile's root, verifies", signed)
    status, found = lookup(alice, service, "dave@example.com")
    check(status == 0 and found["fingerprint"] == first["fingerprint"], "two claimants: the first verified wins",
          found)
    status, _, page = fetch(service, "GET", path_of(link2))
    check(status == 404, "two claimants: the other claim is dropped, its link unknown", page)
    check(len([row for row in claims_in(service) if row[0] == "dave@example.com"]) == 1,
          "two claimants: one claim to the address is left")
    replayed = dave1.run("address", "confirm", token1, "--service", service.url)
    check(replayed.returncode != 0 and b"confirmed already" in replayed.stderr,
          "signed confirmation: a second use of the token is refused", replayed.stderr.decode())
    bad = dave1.run("address", "confirm", "not-a-token", "--service", service.url)
    check(bad.returncode == 2, "signed confirmation: text without a token is a usage error", bad.stderr.decode())

    # --- Withdrawal ------------------------------------------------------------
    withdrawn = bob.json("address", "withdraw", "bob@example.org", "--service", service.url)
    check(withdrawn["state"] == "withdrawn", "withdrawal: Bob withdraws his address", withdrawn)
    status, found = lookup(alice, service, "bob@example.org")
    check(status != 0, "withdrawal: the address is no longer served", found)
    again = bob.run("address", "withdraw", "bob@example.org", "--service", service.url)
    check(again.returncode != 0, "withdrawal: withdrawing again finds no claim", again.stderr.decode())
    mallory_key = root_key_of(mallory)
    # Mallory signs a withdrawal of Carol's address with his own root: refused.
    status, answer = service.request("GET", "/v1/addresses/carol%40example.net")
    carol_account = "/v1/accounts/" + answer["fingerprint"] + "/addresses/carol%40example.net"
    status, answer = service.request("DELETE", carol_account, headers={
        "Authorization": sign_request(mallory_key, "root", "DELETE", carol_account, b"")})
    check(status == 401 and answer["error"]["code"] == "bad_signature",
          "withdrawal: a withdrawal signed by another profile's root is refused", f"{status} {answer}")
    status, found = lookup(alice, service, "carol@example.net")
    check(status == 0, "withdrawal: ... and Carol's address is still served", found)
    republished = bob.json("publish", "--service", service.url)
    check(republished["claims"] == [{"address": "bob@example.org", "state": "pending"}],
          "withdrawal: the next publication claims the address again, pending", republished)
    mailbox.challenge("bob@example.org", "withdrawal: the new claim mails a new challenge")

    # --- An expired challenge -----------------------------------------------
    def later(home, seconds, *arguments):
        """`mailseal` for `home` with its clock `seconds` ahead (libfaketime), as the service's is."""
        return subprocess.run([MAILSEAL, "--home", home.home, *arguments], capture_output=True,
                              env=faketime_environment(offset=f"+{seconds}"))

    erin = Home(work, "erin")
    erin.json("init", "erin@example.com", "--name", "Erin", "--suite", "modern", "--service", service.url)
    erin_link, erin_token, _ = mailbox.challenge("erin@example.com", "expiry")
    quiet = erin.json("publish", "--service", service.url)
    check(quiet["claims"] == [{"address": "erin@example.com", "state": "pending"}] and
          mailbox.nothing_for("erin@example.com"),
          "expiry: publishing again while the link works sends no second mail", quiet)
    a_day = 24 * HOUR + 60
    service.move_clock(a_day)
    before = claims_in(service)
    status, _, page = fetch(service, "GET", path_of(erin_link))
    check(status == 410 and "expired" in page and "<form" not in page,
          "expiry: after 24 hours the link's page says it expired, with no button", page)
    status, _, page = fetch(service, "POST", path_of(erin_link), body="")
    check(status == 410 and "Nothing was changed" in page, "expiry: POSTing an expired link is refused", page)
    check(claims_in(service) == before, "expiry: nothing changed in the database")
    erin_key = root_key_of(erin)
    confirmations = "/v1/accounts/" + account_of(service, "erin@example.com") + "/confirmations"
    body = json.dumps({"token": erin_token}).encode()
    status, answer = service.request("POST", confirmations, body, headers={
        "Authorization": sign_request(erin_key, "root", "POST", confirmations, body, now=int(time.time()) + a_day)})
    check(status == 410 and answer["error"]["code"] == "expired",
          "expiry: a signed confirmation with the expired token is refused", f"{status} {answer}")
    status, found = lookup(alice, service, "erin@example.com")
    check(status != 0, "expiry: the expired claim is not served", found)
    renewed = later(erin, a_day, "--json", "publish", "--service", service.url)
    check(renewed.returncode == 0, "expiry: Erin publishes again a day later", renewed.stderr.decode())
    new_link, new_token, _ = mailbox.challenge("erin@example.com", "expiry: publishing again after expiry")
    check(new_token is not None and new_token != erin_token, "expiry: the new mail has a new token")
    status, _, page = fetch(service, "GET", path_of(erin_link))
    check(status == 404, "expiry: the old link is unknown now", page)
    status, _, page = fetch(service, "POST", path_of(new_link), body="")
    status_lookup, found = lookup(alice, service, "erin@example.com")
    check(status == 200 and status_lookup == 0 and found["verified"] is True,
          "expiry: the new link confirms, and the address is served", f"{page} {found}")
    service.move_clock(0)
    gina = Home(work, "gina")
    gina.must("init", "gina@example.com", "--name", "Gina", "--service", service.url)
    gina_link, _, _ = mailbox.challenge("gina@example.com", "stale claims")
    two_days = 48 * HOUR + 60
    service.move_clock(two_days)
    status, _, page = fetch(service, "GET", path_of(gina_link))
    check(status == 410, "stale claims: after 48 hours the claim's link has expired", page)
    touched = later(dave1, two_days, "publish", "--service", service.url)
    check(touched.returncode == 0 and not [row for row in claims_in(service) if row[0] == "gina@example.com"],
          "stale claims: the next publication (anyone's) forgets the stale claim", touched.stderr.decode())
    status, _, page = fetch(service, "GET", path_of(gina_link))
    check(status == 404, "stale claims: its link is unknown now", page)
    service.move_clock(0)

    # A claim with a live link to attack.
    hank = Home(work, "hank")
    hank.json("init", "hank@example.com", "--name", "Hank", "--suite", "modern", "--service", service.url)
    hank_link, hank_token, _ = mailbox.challenge("hank@example.com", "a claim to attack")
    hank_key = root_key_of(hank)
    hank_account = "/v1/accounts/" + account_of(service, "hank@example.com")
    confirmations = hank_account + "/confirmations"

    # --- Hostile input on the new endpoints ----------------------------------
    def refused(status, answer, expected_status, code, description):
        ok = status == expected_status and isinstance(answer.get("error"), dict) and \
            answer["error"].get("code") == code
        check(ok, f"hostile: {description}: {expected_status} {code}", f"{status} {answer}")

    before = claims_in(service)
    for target in ("/verify/" + "0" * 64, "/verify/" + "A" * 64, "/verify/short", "/verify/" + hank_token[:-1]):
        status, _, page = fetch(service, "POST", target, body="")
        check(status == 404 and "not known" in page, f"hostile: POST {target[:20]}... is an unknown link", page)
    status, answer = service.request("GET", "/verify/%00" + "a" * 63)
    refused(status, answer, 400, "bad_path", "a NUL in the token")
    status, answer = service.request("GET", "/verify/" + "a" * 5000)
    check(status in (400, 414), "hostile: an over-long token is refused", f"{status}")
    for method in ("PUT", "DELETE", "PATCH"):
        status, answer = service.request(method, "/verify/" + hank_token, body={})
        refused(status, answer, 405, "method_not_allowed", f"{method} on a link")
    status, answer = service.request("POST", confirmations, {"token": hank_token})
    refused(status, answer, 401, "unauthenticated", "an unsigned confirmation")
    status, answer = service.request("POST", confirmations, "{\"token\": 5}", headers={
        "Authorization": sign_request(hank_key, "root", "POST", confirmations, b"{\"token\": 5}")})
    refused(status, answer, 400, "bad_field", "a token that is not a string")
    big = json.dumps({"token": "a" * 300}).encode()
    status, answer = service.request("POST", confirmations, big, headers={
        "Authorization": sign_request(hank_key, "root", "POST", confirmations, big)})
    refused(status, answer, 400, "bad_field", "an over-long token")
    status, answer = service.request("POST", confirmations, b"x" * (5 * 1024 * 1024))
    check(status == 413, "hostile: a 5 MiB confirmation body is refused", f"{status}")
    hank_withdraw = hank_account + "/addresses/not-an-address"
    status, answer = service.request("DELETE", hank_withdraw, headers={
        "Authorization": sign_request(hank_key, "root", "DELETE", hank_withdraw, b"")})
    refused(status, answer, 400, "bad_address", "withdrawing something that is not an address")
    status, answer = service.request("DELETE", hank_account + "/addresses/hank%40example.com")
    refused(status, answer, 401, "unauthenticated", "an unsigned withdrawal")
    answer = raw(service, b"POST " + path_of(hank_link).encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 99999999\r\n\r\n" + b"x" * (5 * 1024 * 1024))
    check(answer.startswith(b"HTTP/1.1 413"), "hostile: a raw POST of 5 MiB (announcing 100 MB) to a link is refused",
          answer[:80])
    answer = raw(service, b"GET " + path_of(hank_link).encode() + b" HTTP/1.0\r\n\r\n")
    check(b"HTTP/1.1 " in answer[:12] and b"Content-Security-Policy" in answer,
          "hostile: a bare HTTP/1.0 GET gets the page and nothing else", answer[:80])
    answer = raw(service, b"POST /verify/" + b"0" * 64 + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: 5\r\n\r\n0\r\n\r\nPOST " + path_of(hank_link).encode() + b" HTTP/1.1\r\n"
                 b"Host: x\r\n\r\n")
    check(b"Address confirmed" not in answer, "hostile: a smuggled second request (CL and TE) confirms nothing",
          answer[:200])
    # Two Content-Length fields: a proxy that takes the last sees one request
    # with a body, the service (MHD takes the first) would see two.
    smuggled = b"POST " + path_of(hank_link).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = raw(service, b"POST /verify/" + b"0" * 64 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                 b"Content-Length: " + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled)
    check(answer.startswith(b"HTTP/1.1 400") and answer.count(b"HTTP/1.1 ") == 1 and
          b"Address confirmed" not in answer,
          "hostile: two Content-Length fields are refused (400, connection closed) and smuggle nothing",
          answer[:200])
    after = claims_in(service)
    check([row for row in after if row[0] == "hank@example.com"] ==
          [row for row in before if row[0] == "hank@example.com"] and
          all(row[2] == "pending" for row in after if row[0] == "hank@example.com"),
          "hostile: none of it confirmed or changed the claim attacked")
    check(service.alive(), "hostile: the service is still running")

# --- Modes: the default, --unverified, and what cannot go together ------------
with tempfile.TemporaryDirectory() as work:
    def serve(*arguments):
        return subprocess.run([MAILSEAL, "serve", "--db", os.path.join(work, "s.db"), *arguments],
                              capture_output=True, timeout=20)

    open_listen = serve("--listen", "0.0.0.0:0")
    check(open_listen.returncode == 2 and b"--smtp" in open_listen.stderr,
          "modes: a service on a public address without --smtp or --unverified does not start",
          open_listen.stderr.decode())
    both = serve("--listen", "127.0.0.1:0", "--smtp", "127.0.0.1:25", "--unverified")
    check(both.returncode == 2, "modes: --smtp and --unverified together are a usage error", both.stderr.decode())
    stray = serve("--listen", "127.0.0.1:0", "--public-url", "https://keys.example.org")
    check(stray.returncode == 2, "modes: --public-url without --smtp is a usage error", stray.stderr.decode())
    with KeyService(MAILSEAL, work, extra=["--unverified"]) as service:
        frank, grace = Home(work, "frank"), Home(work, "grace")
        frank.must("init", "frank@example.com", "--name", "Frank", "--service", service.url)
        grace.must("init", "grace@example.com", "--name", "Grace")
        status, found = lookup(grace, service, "frank@example.com")
        check(status == 0 and found["verified"] is False,
              "modes: --unverified serves at once and says the address is not verified", found)
        evidence = discovery_evidence(grace, "frank@example.com") or {}
        check(status == 0 and found["trust"]["amount"] == 1 and found["trust"]["level"] == "marginal"
              and "not verified" in evidence.get("detail", "") and found["trust"]["work_factor_bits"] == 40,
              "modes: an unverified discovery counts 1 and subverting its service costs 2^40", (found, evidence))
        check(discovery_rows(grace) == [("frank@example.com", service.url, 0)],
              "modes: Grace's store records the discovery as not verified", discovery_rows(grace))
        squatter = Home(work, "squatter")
        squatter.must("init", "frank@example.com", "--name", "Squatter")
        taken = squatter.run("publish", "--service", service.url)
        check(taken.returncode != 0 and b"409" in taken.stderr,
              "modes: --unverified keeps first come, first served (409 for the second)", taken.stderr.decode())

finish(minimum=77)
