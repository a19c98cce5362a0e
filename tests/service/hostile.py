#!/usr/bin/env python3
"""The key service against bad requests and load: malformed JSON, wrong
content types, oversized bodies, unknown accounts and paths, unsigned,
mis-signed and forged requests all get a 4xx JSON error and change nothing
in the database; 50 concurrent clients are all served; HTTPS works with a
CA the client is told to trust."""
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService, sign_request  # noqa: E402

require_mailseal()


def mailseal(home, *arguments, env=None):
    return Home.at(home).run(*arguments, env=env)


def snapshot(service):
    """Every row of every table but the nonces (a valid signature may use one
    up) and the rate limits' buckets (every request takes from them)."""
    return {table: sorted(service.rows(f"SELECT * FROM {table}"), key=repr)
            for table in service.tables() if table not in ("nonces", "rate_buckets")}


def total_rows(rows):
    return sum(len(table) for table in rows.values())


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work) as service:
    alice_home = os.path.join(work, "alice")
    made = mailseal(alice_home, "init", "alice@example.com", "--suite", "modern", "--service", service.url)
    check(made.returncode == 0, "a profile to attack the service around", made.stderr.decode())
    fingerprint = service.account_fingerprint("alice@example.com")
    account = f"/v1/accounts/{fingerprint}"
    root_key = next(os.path.join(alice_home, "keys", n) for n in os.listdir(os.path.join(alice_home, "keys"))
                    if n.startswith("root-"))
    mallory_home = os.path.join(work, "mallory")
    mailseal(mallory_home, "init", "mallory@example.org", "--suite", "modern")
    taken = mailseal(mallory_home, "publish", "--service", service.url)
    check(taken.returncode == 0, "Mallory publishes his own profile", taken.stderr.decode())
    before = snapshot(service)

    def refused(status, answer, expected_status, code, description):
        ok = status == expected_status and isinstance(answer.get("error"), dict) and \
            answer["error"].get("code") == code and answer["error"].get("message")
        check(ok, f"{description}: {expected_status} {code}", f"{status} {answer}")

    signed_body = json.dumps({"pin_id": "X" * 40, "expires_at": int(time.time()) + 600}).encode()
    cases = [
        ("GET", "/v1/nothing", None, {}, "application/json", 404, "not_found", "an unknown path"),
        ("DELETE", account, None, {}, "application/json", 405, "method_not_allowed", "an unknown method"),
        ("GET", "/v1/accounts/UNKNOWN", None, {}, "application/json", 404, "unknown_account", "an unknown account"),
        ("GET", "/v1/addresses/nobody%40example.org", None, {}, "application/json", 404, "unknown_address",
         "an unknown address"),
        ("GET", "/v1/addresses/not-an-address", None, {}, "application/json", 400, "bad_address", "not an address"),
        ("GET", "/v1/addresses/%4", None, {}, "application/json", 400, "bad_path", "a truncated escape"),
        ("GET", "/v1/addresses/a%00b", None, {}, "application/json", 400, "bad_path", "a NUL in the path"),
        ("PUT", account, "{}", {}, "text/plain", 415, "unsupported_media_type", "a body that is not JSON by type"),
        ("PUT", account, "{not json", {}, "application/json", 400, "bad_json", "malformed JSON"),
        ("PUT", account, "[1, 2]", {}, "application/json", 400, "bad_json", "JSON that is not an object"),
        ("PUT", account, "[" * 10000 + "]" * 10000, {}, "application/json", 400, "bad_json", "JSON nested 10,000 deep"),
        ("PUT", account, "{}", {}, "application/json", 400, "missing_field", "a publish without fields"),
        ("PUT", account, {"root": 5}, {}, "application/json", 400, "bad_field", "a root that is a number"),
        ("PUT", account, {"root": "AAAA"}, {}, "application/json", 400, "bad_certificate", "a root that is garbage"),
        ("POST", account + "/invites", signed_body, {}, "application/json", 401, "unauthenticated",
         "an unsigned invitation"),
        ("POST", account + "/invites", signed_body, {"Authorization": "Basic dXNlcjpwYXNz"}, "application/json", 401,
         "bad_authorization", "another authorization scheme"),
        ("POST", account + "/invites", signed_body,
         {"Authorization": 'Mailseal-Signature key="root", time="1", nonce="00", signature="AA=="'},
         "application/json", 401, "bad_authorization", "a malformed signature header"),
        ("GET", account + "/requests", None,
         {"Authorization": sign_request(root_key, "root", "GET", account + "/requests", b"", now=int(time.time()) + 900)},
         "application/json", 401, "expired", "a request from the future"),
        ("POST", account + "/invites", b'{"pin_id": "Y", "expires_at": 1}',
         {"Authorization": sign_request(root_key, "root", "POST", account + "/invites", signed_body)},
         "application/json", 401, "bad_signature", "a signature over another body"),
        ("POST", account + "/invites", signed_body,
         {"Authorization": sign_request(root_key, "device", "POST", account + "/invites", signed_body)},
         "application/json", 401, "wrong_key", "the right key named as another"),
        ("POST", account + "/requests", {"device_name": "x", "signature_key": "AAAA", "agreement_key": "AAAA",
                                         "device_nonce": "00" * 16}, {}, "application/json", 400, "bad_key",
         "a join request with keys that are not keys"),
        ("GET", "/v1/requests/0123", None, {}, "application/json", 404, "unknown_request", "an unknown request"),
        ("GET", "/v1/escrow/nothing", None, {}, "application/json", 404, "no_escrow", "an unknown escrow"),
    ]
    for method, target, body, headers, content_type, status_expected, code, description in cases:
        status, answer = service.request(method, target, body=body, headers=headers, content_type=content_type)
        refused(status, answer, status_expected, code, description)

    # A publish signed by another root for Alice's account.
    mallory_key = next(os.path.join(mallory_home, "keys", n) for n in os.listdir(os.path.join(mallory_home, "keys"))
                       if n.startswith("root-"))
    status, alice_profile = service.request("GET", account)
    forged = json.dumps({"root": alice_profile["root"], "certificates": [], "revocations": [], "devices": []}).encode()
    status, answer = service.request("PUT", account, body=forged,
                                     headers={"Authorization": sign_request(mallory_key, "root", "PUT", account,
                                                                            forged)})
    refused(status, answer, 401, "bad_signature", "a publish of Alice's account signed by Mallory's root")
    # Mallory claims Alice's address with his own profile.
    impostor = os.path.join(work, "impostor")
    mailseal(impostor, "init", "alice@example.com", "--suite", "modern")
    claimed = mailseal(impostor, "publish", "--service", service.url)
    check(claimed.returncode == 1 and b"published by another profile" in claimed.stderr,
          "another profile cannot claim Alice's address", claimed.stderr.decode())

    # Oversized bodies: refused before they are read whole.
    status, answer = service.request("PUT", account, body=b"{" + b" " * (5 * 1024 * 1024) + b"}")
    refused(status, answer, 413, "too_large", "a 5 MiB body")

    after = snapshot(service)
    check(after == before, "none of the refused requests changed anything stored",
          [table for table in before if before[table] != after.get(table)])

    # 50 concurrent clients: lookups, health checks and signed join requests.
    results = []
    lock = threading.Lock()

    def outcome(target, expected):
        """'ok', or what went wrong (an answer's status or the exception), for the check's detail."""
        try:
            status, answer = service.request("GET", target)
        except Exception as error:  # noqa: BLE001 - reported, not hidden: the check fails
            return f"{type(error).__name__}: {error}"
        return "ok" if status == 200 and expected(answer) else f"{status} {str(answer)[:200]}"

    def client(number):
        for _ in range(4):
            result = outcome("/v1/addresses/alice%40example.com", lambda answer: answer.get("fingerprint") == fingerprint)
            with lock:
                results.append(result)
        result = outcome("/v1/health", lambda answer: True)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    joins = [subprocess.Popen([MAILSEAL, "--home", os.path.join(work, f"join{n}"), "device", "join",
                               "alice@example.com", "--service", service.url, "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(10)]
    for thread in threads:
        thread.join()
    join_codes = [process.wait() for process in joins]
    failed = collections.Counter(result for result in results if result != "ok")
    check(len(results) == 250 and not failed, f"50 concurrent clients all served ({len(results)} requests, "
                                              f"{time.monotonic() - started:.1f} s)", dict(failed))
    check(all(code == 0 for code in join_codes), "10 devices joining at the same time all get their requests in",
          join_codes)
    pending = json.loads(mailseal(alice_home, "device", "pending", "--json").stdout)["requests"]
    check(len(pending) == 10, "the admin device sees the ten requests", len(pending))
    check(service.alive(), "the service is still running")

# HTTPS with a CA of our own.
with tempfile.TemporaryDirectory() as work:
    key, certificate = os.path.join(work, "tls.key"), os.path.join(work, "tls.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    with KeyService(MAILSEAL, work, extra=["--tls-cert", certificate, "--tls-key", key]) as service:
        check(service.url.startswith("https://"), "the service serves HTTPS", service.url)
        home = os.path.join(work, "alice")
        untrusted = mailseal(home, "init", "alice@example.com", "--suite", "modern", "--service", service.url)
        check(untrusted.returncode == 0 and b"not published" in untrusted.stderr,
              "a client that does not trust the certificate does not publish (and says so)",
              untrusted.stderr.decode())
        environment = dict(os.environ, MAILSEAL_SERVICE_CA=certificate)
        published = mailseal(home, "publish", "--service", service.url, env=environment)
        check(published.returncode == 0, "with MAILSEAL_SERVICE_CA it publishes over HTTPS",
              published.stderr.decode())
        found = mailseal(os.path.join(work, "bob"), "init", "bob@example.org", "--suite", "modern")
        looked = mailseal(os.path.join(work, "bob"), "lookup", "alice@example.com", "--service", service.url,
                          env=environment)
        check(looked.returncode == 0, "and others look it up over HTTPS", looked.stderr.decode())
    check(service.exit_status == 0, "the service stops cleanly on SIGTERM", service.exit_status)

finish(minimum=38)
