#!/usr/bin/env python3
"""What an admin device still takes from an escrow it refuses (docs/service.md,
"Two admin devices"; review of issue 14, third round, F3).

Three admin devices: the laptop (first), the desk and the spare (restored from
recovery shares), and a phone (full). The spare is stolen and never removed on
the desk. The thief removes the laptop; the desk syncs and, on the thief's
word, lists the laptop removed too; then the desk removes the phone, which the
person wants gone. The laptop refuses the desk's escrow (it removes the
laptop) but still takes its removal of the phone and rotates its keys away
from it; the person removes the spare on the laptop, whose publication lists
the phone removed and whose new keys never reach the phone. What stays
refused: the laptop's own removal, and the thief's revocation of the laptop's
device certificates."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402
from profile_tool import (admins_and_phone, crl_verdict, current_keys, held_keys, published_root_and_crl,  # noqa: E402
                          roles_and_statuses, store_rows)
from service_tool import KeyService  # noqa: E402

require_mailseal()


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted) as service:
    url = service.url
    laptop, desk, phone, spare = admins_and_phone(work, url, spares=("spare",))
    fingerprint = service.account_fingerprint("alice@example.com")
    laptop_id, desk_id, spare_id, phone_id = (d.device_id() for d in (laptop, desk, spare, phone))

    # The thief removes the laptop and sends the phone new keys; the desk
    # takes the removal (it cannot tell the thief's escrow from the
    # person's), then removes the phone and revokes those keys.
    spare.must("device", "remove", laptop_id)
    phone.must("sync")  # takes the thief's new keys
    desk.must("sync")
    desk.must("device", "remove", phone_id)
    check(roles_and_statuses(desk).get(phone_id) == ("full", "removed") and roles_and_statuses(desk).get(laptop_id)
          == ("admin", "removed"), "the desk lists the phone removed, and the laptop removed on the thief's word",
          roles_and_statuses(desk))

    keys_before = current_keys(laptop)
    synced = laptop.run("sync")
    check(synced.returncode != 0 and b"an escrow sealed by an admin device removes this device" in synced.stderr
          and phone_id.encode() in synced.stderr,
          "the laptop refuses the desk's escrow, which removes it, and names the phone it took the removal of",
          synced.stderr.decode())
    listed = roles_and_statuses(laptop)
    check(listed.get(phone_id) == ("full", "removed"), "the laptop takes the desk's removal of the phone", listed)
    check(listed.get(laptop_id) == ("admin", "active") and listed.get(desk_id) == ("admin", "active")
          and listed.get(spare_id) == ("admin", "active"),
          "and not its own removal: the laptop and both admin devices stay active there", listed)
    keys_now = current_keys(laptop)
    check(not (keys_now[0] & keys_before[0]) and not (keys_now[1] & keys_before[1]) and keys_now[0] and keys_now[1],
          "the laptop rotates its mail and records keys away from the phone", (keys_before, keys_now))

    # What the refusal says to do: remove the stolen spare on the laptop.
    removed = laptop.run("device", "remove", spare_id)
    check(removed.returncode == 0, "the laptop removes the stolen spare", removed.stderr.decode())
    document = json.loads(service.rows("SELECT document FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0])
    published = {entry["device_id"]: entry["status"] for entry in document["devices"]}
    check(published.get(phone_id) == "removed" and published.get(spare_id) == "removed"
          and published.get(laptop_id) == "active",
          "the laptop's publication lists the phone removed (not active again), the spare removed, itself active",
          published)

    phone.run("sync")  # takes whatever the laptop sent it, or learns it was removed
    phone_mail, phone_records = held_keys(phone)
    on_laptop = current_keys(laptop)
    check(not (on_laptop[0] & phone_mail), "no current mail key of the laptop is one the removed phone holds",
          (on_laptop[0], phone_mail))
    check(not (on_laptop[1] & phone_records), "the laptop's current records key is not one the removed phone holds",
          (on_laptop[1], phone_records))

    # Revocations are a union: the laptop's publication replaces the CRL the
    # service serves, so it must keep the desk's revocation of the phone's
    # device certificates, and must not take the thief's of the laptop's own.
    root, crl = published_root_and_crl(service, fingerprint, laptop, work)

    def verdicts(device, sql, parameters=()):
        """What openssl verify -crl_check says of each certificate a query finds in a device's store."""
        return [crl_verdict(work, root, crl, der) for row in store_rows(device, sql, parameters) for der in row]

    said = verdicts(laptop, "SELECT signature_certificate, agreement_certificate FROM devices WHERE device_id = ?",
                    (phone_id,))
    check(said == ["revoked", "revoked"],
          "the phone's device certificates fail openssl verify -crl_check against the CRL the laptop published", said)
    said = verdicts(phone, "SELECT certificate FROM mail_keys WHERE origin = 'profile'")
    check(len(said) >= 4 and all(verdict == "revoked" for verdict in said),
          "every mail certificate the phone holds (the thief's rotation's too, which only the desk revoked) fails "
          "openssl verify -crl_check against the CRL the laptop published", said)
    said = verdicts(laptop, "SELECT signature_certificate, agreement_certificate FROM devices WHERE is_self = 1")
    check(said == ["good", "good"],
          "the laptop's own device certificates, which the thief revoked, are not revoked in the laptop's CRL", said)
    said = verdicts(laptop, "SELECT certificate FROM mail_keys WHERE status = 'current' AND origin = 'profile'")
    check(said and all(verdict == "good" for verdict in said),
          "the laptop's current mail certificates are not revoked in its CRL", said)

finish(minimum=13)
