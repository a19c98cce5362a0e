#!/usr/bin/env python3
"""Every device reads the mail, end to end: a real key service on 127.0.0.1,
one home per device. Alice connects six devices to her first one (some by
witness, some by PIN), Bob looks her up and writes: all seven decrypt. Alice
removes device 7: Bob's next message reaches devices 1-6 only. Two of three
recovery shares make an eighth, working admin device. Wrong, reused and
expired PINs and replayed requests are refused, and the service's database
holds no private key."""
import base64
import email.utils
import json
import os
import re
import secrets
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal  # noqa: E402
from service_tool import KeyService, sign_request  # noqa: E402

require_mailseal()


class Device(Home):
    def decrypts(self, message, text):
        result = self.run("decrypt", "--no-learn", message)
        return result.returncode == 0 and text.encode() in result.stdout


def message(sender, to, subject, body):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{secrets.token_hex(8)}@test>\r\n\r\n{body}\r\n").encode()


with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, settable_clock=True) as service:
    url = service.url
    alice = [Device(work, f"device{i}") for i in range(1, 9)]
    first = alice[0]
    created = first.json("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name",
                         "device1", "--service", url)
    check(created["published"], "device 1 makes the profile and publishes it")

    # Devices 2, 4, 6 join by witness; 3, 5, 7 by PIN. Device 6 only reads.
    for number in range(2, 8):
        device = alice[number - 1]
        if number % 2 == 0:
            ticket = device.json("device", "join", "alice@example.com", "--service", url, "--name", device.name)
            pending = first.json("device", "pending")["requests"]
            shown = [r for r in pending if r["witness"] == ticket["witness"]]
            check(len(shown) == 1 and not shown[0]["pin"],
                  f"device {number}: the admin device shows the same witness as the new device", pending)
            role = "read" if number == 6 else "full"
            first.must("device", "accept", ticket["witness"], "--role", role)
        else:
            invite = first.json("device", "invite", "--expires", "10m")
            check(re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){4}", invite["pin"]) is not None
                  and invite["uri"].startswith("mailseal:join?"), f"device {number}: a 100-bit PIN and a URI", invite)
            device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0", "--name",
                        device.name)
            waiting = device.json("sync")
            check(waiting["waiting"], f"device {number}: waits until the admin device syncs", waiting)
            accepted = first.json("sync")["accepted"]
            check(len(accepted) == 1, f"device {number}: accepted by its PIN on the admin device's sync", accepted)
        joined = device.json("sync")
        check(joined["joined"] and joined["keys_added"] >= 1, f"device {number} receives its keys", joined)

    devices = first.json("device", "list")["devices"]
    check(len(devices) == 7 and all(d["status"] == "active" for d in devices), "device 1 lists seven active devices",
          devices)
    roles = {d["name"]: d["role"] for d in devices}
    check(roles["device6"] == "read" and roles["device2"] == "full", "roles as accepted", roles)
    reader_signs = alice[5].run("sign", stdin=message("alice@example.com", "bob@example.org", "x", "x"))
    check(reader_signs.returncode != 0, "a read device holds no signing key", reader_signs.stderr.decode())
    full_signs = alice[1].run("sign", stdin=message("alice@example.com", "bob@example.org", "x", "x"))
    check(full_signs.returncode == 0, "a full device signs")

    bob = Device(work, "bob")
    bob.must("init", "bob@example.org", "--suite", "modern", "--service", url)
    found = bob.json("lookup", "alice@example.com")
    check(found["trust"]["level"] == "marginal" and found["trust"]["amount"] == 1,
          "Bob finds Alice on the service: discovery, amount 1, not trust", found)
    first_message = os.path.join(work, "first.eml")
    bob.must("encrypt", "-o", first_message,
             stdin=message("bob@example.org", "alice@example.com", "one", "the first secret"))
    for number, device in enumerate(alice[:7], start=1):
        check(device.decrypts(first_message, "the first secret"), f"device {number} decrypts Bob's first message")

    # Device 7 is lost.
    lost = alice[6]
    lost_id = lost.device_id()
    removal = first.json("device", "remove", lost_id)
    check(removal["devices_updated"] == 5 and removal["rotated"] == ["alice@example.com"],
          "removing device 7 rotates the keys and updates the five other devices", removal)
    for number, device in enumerate(alice[1:6], start=2):
        synced = device.json("sync")
        check(synced["keys_added"] >= 1, f"device {number} receives the new keys", synced)
    gone = lost.run("sync", "--json")
    check(gone.returncode == 1 and json.loads(gone.stdout)["removed"], "device 7 learns it was removed",
          gone.stdout.decode())
    bob.must("lookup", "alice@example.com")
    second_message = os.path.join(work, "second.eml")
    bob.must("encrypt", "-o", second_message,
             stdin=message("bob@example.org", "alice@example.com", "two", "the second secret"))
    for number, device in enumerate(alice[:6], start=1):
        check(device.decrypts(first_message, "the first secret") and device.decrypts(second_message,
                                                                                      "the second secret"),
              f"device {number} decrypts both messages")
    refused = lost.run("decrypt", "--no-learn", second_message)
    check(refused.returncode == 1 and b"second secret" not in refused.stdout,
          "device 7 cannot decrypt the second message", refused.stderr.decode())
    check(lost.decrypts(first_message, "the first secret"), "device 7 still reads what was sent before")

    # Recovery.
    shares = first.json("recovery", "create", "--shares", "3", "--quorum", "2")["shares"]
    check(len(shares) == 3 and len(set(shares)) == 3, "three recovery shares", shares)
    eighth = alice[7]
    too_few = eighth.run("recovery", "restore", shares[1], "--service", url)
    check(too_few.returncode == 2 and b"2 shares are needed" in too_few.stderr, "one share is not enough",
          too_few.stderr.decode())
    restored = eighth.json("recovery", "restore", shares[0], shares[2], "--service", url, "--name", "device8")
    check(restored["mail_keys"] >= 4, "two shares restore the profile on an eighth home", restored)
    check(eighth.decrypts(first_message, "the first secret") and eighth.decrypts(second_message, "the second secret"),
          "the restored device reads old and new mail")
    restored_devices = eighth.json("device", "list")["devices"]
    me = [d for d in restored_devices if d["this_device"]]
    check(len(restored_devices) == 8 and me and me[0]["role"] == "admin",
          "the restored device is an admin device and knows the others", restored_devices)
    check(eighth.run("device", "invite").returncode == 0, "the restored admin device can invite")
    status = eighth.json("status")
    check(status["fingerprint"] == first.json("status")["fingerprint"], "it is the same profile")

    # Bad PINs.
    invite = first.json("device", "invite")
    newcomer = Device(work, "newcomer")
    wrong = newcomer.run("device", "join", "alice@example.com", "--service", url, "--pin",
                         "AAAA-BBBB-CCCC-DDDD-EEEE")
    check(wrong.returncode == 1 and b"PIN is wrong" in wrong.stderr and not os.path.exists(newcomer.home),
          "a wrong PIN is refused and nothing is left behind", wrong.stderr.decode())
    newcomer.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0")
    again = Device(work, "again")
    reused = again.run("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0")
    check(reused.returncode == 1 and b"used already" in reused.stderr, "a PIN works once", reused.stderr.decode())
    # The service's clock moves past the PIN's minute instead of the test
    # waiting for it; 61 s is well within the five minutes of skew the service
    # allows the request (signed by the real clock), so only the PIN expires.
    short = first.json("device", "invite", "--expires", "1m")
    service.move_clock(61)
    late = Device(work, "late")
    expired = late.run("device", "join", "alice@example.com", "--service", url, "--pin", short["pin"], "--wait", "0")
    service.move_clock(0)
    check(expired.returncode == 1 and b"the PIN has expired" in expired.stderr, "an expired PIN is refused",
          expired.stderr.decode())
    malformed = Device(work, "malformed").run("device", "join", "alice@example.com", "--service", url, "--pin", "1234")
    check(malformed.returncode == 2, "a PIN that is not one is a usage error", malformed.stderr.decode())

    # Replayed, expired and altered requests, signed here independently of mailseal.
    device2 = alice[1]
    key_file = next(os.path.join(device2.home, "keys", name) for name in os.listdir(os.path.join(device2.home, "keys"))
                    if name.startswith("device-signature-"))
    fingerprint = device2.json("status")["fingerprint"]
    full_fingerprint = service.account_fingerprint("alice@example.com")
    target = f"/v1/accounts/{full_fingerprint}/devices/{device2.device_id()}/bundle"
    header = sign_request(key_file, device2.device_id(), "GET", target, b"")
    check(service.request("GET", target, headers={"Authorization": header})[0] == 200,
          "a request signed with device 2's key by another implementation is accepted")
    status_code, answer = service.request("GET", target, headers={"Authorization": header})
    check(status_code == 401 and answer["error"]["code"] == "replayed", "the same request again is a replay", answer)
    old = sign_request(key_file, device2.device_id(), "GET", target, b"", now=int(time.time()) - 3600)
    status_code, answer = service.request("GET", target, headers={"Authorization": old})
    check(status_code == 401 and answer["error"]["code"] == "expired", "an hour-old request is refused", answer)
    other = sign_request(key_file, device2.device_id(), "GET", target + "x", b"")
    status_code, answer = service.request("GET", target, headers={"Authorization": other})
    check(status_code == 401 and answer["error"]["code"] == "bad_signature", "a signature for another target fails",
          answer)
    lost_target = f"/v1/accounts/{full_fingerprint}/devices/{lost_id}/bundle"
    lost_key = next(os.path.join(lost.home, "keys", name) for name in os.listdir(os.path.join(lost.home, "keys"))
                    if name.startswith("device-signature-"))
    status_code, answer = service.request("GET", lost_target,
                                          headers={"Authorization": sign_request(lost_key, lost_id, "GET",
                                                                                 lost_target, b"")})
    check(status_code == 403 and answer["error"]["code"] == "device_removed", "the removed device gets nothing",
          answer)

    # No private key, in any encoding, in the service's files.
    stored = service.stored_bytes()
    private = []
    for device in alice + [bob, newcomer]:
        keys = os.path.join(device.home, "keys")
        for name in os.listdir(keys) if os.path.isdir(keys) else []:
            pem = open(os.path.join(keys, name)).read()
            body = "".join(pem.strip().splitlines()[1:-1])
            private.append((name, base64.b64decode(body), body))
    leaks = [name for name, der, text in private if der in stored or text[:64].encode() in stored]
    check(len(private) > 30 and not leaks and b"PRIVATE KEY" not in stored,
          f"the service's database holds none of the {len(private)} private keys", leaks)

finish(minimum=63)
