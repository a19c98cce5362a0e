#!/usr/bin/env python3
"""A wait without end (docs/service.md, "A wait without end"). A record
sealed under a records key this device does not hold waits for a key
bundle; when the key service replaces the key id of a device's *last*
record, no later record proves it (docs/service.md, "A key id this device
does not hold"), and before the fix the record waited on every sync with a
note and no warning: the service had silently frozen the device's trust
records. The device now keeps since when each record waits and warns, on
every sync while it lasts, once a record has waited longer than a key
bundle takes to arrive (7 days).

Three devices of one profile; the key service runs under libfaketime and
every mailseal process of the test runs with the same offset, so that days
pass without waiting. First a genuine wait: device 1 removes device 3 (the
records key rotates), the service serves device 2 its key bundle from before
the removal for a while, and device 2's record of Carol's pin waits; given
the new bundle before the bound, device 2 merges it without a warning and
forgets the wait. Then the hostile service rewrites the key id of device
1's last record: device 2 waits without a warning until the bound, then
warns (text and --json), names the wait in `status`, and once the service
serves the record's bytes again merges it and forgets the wait."""
import json
import os
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, check, faketime_environment, finish, require_mailseal  # noqa: E402
from profile_tool import correspondents, devices_of_one_profile, trust_level  # noqa: E402
from records_tool import KEY_ID_BYTES, DeviceLog, merged_position  # noqa: E402
from service_tool import KeyService  # noqa: E402

require_mailseal()

DAY = 24 * 3600
BOUND_DAYS = 7


def waits_of(device):
    """The waits `device` keeps: {(writer, seq): since}."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return {(writer, seq): since for writer, seq, since in db.execute(
            "SELECT device_id, seq, since FROM record_waits")}


class Clock:
    """The test's clock: the key service's and every mailseal command's, moved together."""

    def __init__(self, service):
        self.service = service
        self.offset = 0

    def move_to(self, seconds):
        self.offset = seconds
        self.service.move_clock(seconds)

    def run(self, device, *arguments):
        return device.run(*arguments, env=faketime_environment(offset=f"+{self.offset}") if self.offset else None)

    def must(self, device, *arguments):
        result = self.run(device, *arguments)
        check(result.returncode == 0, f"{device.name}: mailseal {' '.join(arguments)}", result.stderr.decode())
        return result

    def sync_json(self, device):
        result = self.run(device, "--json", "sync")
        return result, json.loads(result.stdout or b"{}").get("records", {})

    def now(self):
        return int(time.time()) + self.offset


lifted = ["--limit", "signed=0/1s", "--limit", "account=0/1s"]
with tempfile.TemporaryDirectory() as work, KeyService(MAILSEAL, work, extra=lifted, settable_clock=True) as service:
    clock = Clock(service)
    one, two, three = devices_of_one_profile(work, service.url, ("full", "full"))
    people = correspondents(work, service.url, ("bob", "carol", "dave"), (one, two, three))
    one.must("contact", "pin", "bob@example.org", people["bob"])
    for device in (one, two, three, one, two):
        device.must("sync")
    one_id, two_id = one.device_id(), two.device_id()
    check(trust_level(two, "bob@example.org") == "full" and not waits_of(two), "device 2 merged Bob's pin, no wait")

    def bundle_of_two():
        return service.rows("SELECT bundle FROM bundles WHERE device_id = ?", (two_id,))[0][0]

    def serve_bundle(bundle):
        service.write("UPDATE bundles SET bundle = ? WHERE device_id = ?", (bundle, two_id))

    # A genuine wait: the records key rotates, device 2's new bundle is late.
    before_removal = bundle_of_two()
    one.must("device", "remove", three.device_id())
    one.must("contact", "pin", "carol@example.org", people["carol"])
    one.must("sync")
    carol_record = DeviceLog(one.home).own_records()[-1][0]
    after_removal = bundle_of_two()
    check(after_removal != before_removal, "device 1 sent device 2 a new bundle at the removal")
    serve_bundle(before_removal)
    started = clock.now()
    waited, report = clock.sync_json(two)
    check(waited.returncode == 0 and report.get("deferred", 0) >= 1 and report.get("long_waits") == []
          and merged_position(two, one_id) == carol_record - 1,
          "device 2's record of Carol's pin waits for a key bundle, without a long wait", report)
    first_wait = waits_of(two)
    check(list(first_wait) == [(one_id, carol_record)] and abs(first_wait[(one_id, carol_record)] - started) < 60,
          "device 2 keeps since when device 1's record waits", first_wait)

    clock.move_to(3 * DAY)
    later = clock.run(two, "sync")
    check(later.returncode == 0 and "warning" not in later.stderr.decode()
          and "wait for a key bundle" in later.stderr.decode(),
          "three days on, it still waits with a note and no warning", later.stderr.decode())
    check(waits_of(two) == first_wait, "the first wait's time survives across syncs", waits_of(two))

    serve_bundle(after_removal)
    clock.move_to(6 * DAY)
    given = clock.run(two, "sync")
    check(given.returncode == 0 and "warning" not in given.stderr.decode()
          and trust_level(two, "carol@example.org") == "full" and merged_position(two, one_id) == carol_record,
          "given the bundle before the bound, device 2 merges Carol's pin without a warning", given.stderr.decode())
    check(waits_of(two) == {}, "and forgets the wait once the record merged", waits_of(two))

    # The hostile service rewrites the key id of device 1's last record.
    clock.must(one, "contact", "pin", "dave@example.org", people["dave"])
    clock.must(one, "sync")
    last = DeviceLog(one.home).own_records()[-1][0]
    original = bytes(service.rows("SELECT sealed FROM trust_records WHERE device_id = ? AND seq = ?",
                                  (one_id, last))[0][0])

    def serve_record(sealed):
        service.write("UPDATE trust_records SET sealed = ? WHERE device_id = ? AND seq = ?", (sealed, one_id, last))

    serve_record(os.urandom(KEY_ID_BYTES) + original[KEY_ID_BYTES:])
    frozen_at = clock.now()
    frozen, report = clock.sync_json(two)
    check(frozen.returncode == 0 and report.get("deferred") == 1 and report.get("long_waits") == []
          and not report.get("overreaching"),
          "device 2 takes the rewritten last record as waiting for a key bundle, without a warning", report)
    kept = waits_of(two)
    check(list(kept) == [(one_id, last)] and abs(kept[(one_id, last)] - frozen_at) < 60,
          "device 2 keeps since when it waits", kept)

    clock.move_to(6 * DAY + (BOUND_DAYS - 1) * DAY)
    still = clock.run(two, "sync")
    check(still.returncode == 0 and "warning" not in still.stderr.decode() and waits_of(two) == kept,
          "six days on, within the bound: still no warning, the same first time", still.stderr.decode())

    clock.move_to(6 * DAY + (BOUND_DAYS + 1) * DAY)
    warned = clock.run(two, "sync")
    text = warned.stderr.decode()
    check(warned.returncode == 0 and f"trust record(s) of device {one_id}, from number {last}, have waited here "
          f"{BOUND_DAYS + 1} days" in text and "key service rewrote the key id" in text
          and "'mailseal sync' on an admin device" in text,
          "past the bound, device 2's sync warns naming device 1, the record, how long and what to do", text)
    check("mailseal device remove" not in text, "the warning tells nobody to remove a device (nothing proves who)",
          text)
    _, report = clock.sync_json(two)
    waits = report.get("long_waits", [])
    check(len(waits) == 1 and waits[0]["writer"] == one_id and waits[0]["seq"] == last and waits[0]["waiting"] == 1
          and waits[0]["waited_seconds"] >= (BOUND_DAYS + 1) * DAY - 120 and report.get("deferred") == 1,
          "sync --json carries the long wait on the next sync too", report)
    again = clock.run(two, "sync")
    check(f"from number {last}, have waited here" in again.stderr.decode(), "every sync warns while it lasts",
          again.stderr.decode())

    status = clock.run(two, "--json", "status")
    trust_sync = json.loads(status.stdout or b"{}").get("trust_sync", {})
    check(status.returncode == 0 and trust_sync.get("waiting_logs") == 1
          and trust_sync.get("oldest_wait", "").startswith(time.strftime("%Y-%m-%d", time.gmtime(frozen_at))),
          "`status --json` shows the waiting log and the oldest wait", trust_sync)
    shown = clock.run(two, "status").stdout.decode()
    check("the oldest since " + time.strftime("%Y-%m-%d", time.gmtime(frozen_at)) in shown,
          "`status` shows the oldest wait", shown)

    serve_record(original)
    ended = clock.run(two, "sync")
    check(ended.returncode == 0 and "warning" not in ended.stderr.decode()
          and trust_level(two, "dave@example.org") == "full" and merged_position(two, one_id) == last,
          "served the record's bytes again, device 2 merges Dave's pin without a warning", ended.stderr.decode())
    check(waits_of(two) == {}, "and forgets the wait", waits_of(two))
finish(minimum=18)
