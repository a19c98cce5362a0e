#!/usr/bin/python3
"""`mailseal setup gateway --thunderbird`: the gateway's credential saved in
Thunderbird's password manager (logins.json, encrypted with the key in the
profile's key4.db by NSS's secret decoder ring), read back by NSS itself
(tests/tools/nss_sdr.py: ctypes on libnss3, Thunderbird's own NSS where it
is installed, whose SDR reads the AES-256-CBC Thunderbird writes; the
system's NSS for triple DES), not by mailseal.

  fresh       a profile with prefs.js only: the database is made, an AES key
              as Thunderbird would, one entry under "smtp://127.0.0.1" (the
              origin and realm SmtpServer.sys.mjs looks up: no port, no user)
  thunderbird a profile whose saved passwords Thunderbird's NSS wrote (AES
              key): they are kept as they were, another user's entry for the
              same server too; a second set-up replaces its own entry (same
              id and guid, the new secret) rather than adding one
  old         a database with a triple-DES SDR key (older NSS): the entry is
              encrypted with it, and the system's NSS decrypts it
  primary     a database with a primary password: refused without
              --database-password-file and with a wrong one, changing nothing;
              with the right one the entry decrypts with that password
  malformed   logins.json that Thunderbird could not load: refused with an
              error naming the file, nothing changed (not even the credential)
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402
from nss_sdr import nss_run, thunderbird_nss  # noqa: E402

require_mailseal()
if shutil.which("certutil") is None:
    skip("certutil is not installed (libnss3-tools)")
THUNDERBIRD_NSS = thunderbird_nss()
AES_OID = "2.16.840.1.101.3.4.1.42"
DES3_OID = "1.2.840.113549.3.7"
DEFAULT_KEY_ID = bytes.fromhex("F8000000000000000000000000000001")

PREFS = ('user_pref("mail.identity.id1.useremail", "alice@example.com");\n'
         'user_pref("mail.identity.id1.smtpServer", "smtp1");\n'
         'user_pref("mail.smtpservers", "smtp1");\n'
         'user_pref("mail.smtpserver.smtp1.hostname", "smtp.provider.example");\n'
         'user_pref("mail.smtpserver.smtp1.port", 587);\n')


def der_element(data, tag):
    """(content, rest) of the DER element of `tag` at the front of data."""
    assert data[0] == tag, f"tag {data[0]:#x}, not {tag:#x}"
    length, header = data[1], 2
    if length & 0x80:
        digits = length & 0x7F
        length, header = int.from_bytes(data[2:2 + digits], "big"), 2 + digits
    return data[header:header + length], data[header + length:]


def envelope(text):
    """(key id, algorithm OID in dotted form, IV length) of an SDR envelope."""
    import base64
    body, _ = der_element(base64.b64decode(text), 0x30)
    key_id, body = der_element(body, 0x04)
    algorithm, body = der_element(body, 0x30)
    oid, algorithm = der_element(algorithm, 0x06)
    iv, _ = der_element(algorithm, 0x04)
    arcs = [oid[0] // 40, oid[0] % 40]
    value = 0
    for byte in oid[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return key_id, ".".join(map(str, arcs)), len(iv)


def tree(directory):
    """Every file of a folder and a hash of its bytes."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.relpath(os.path.join(root, name), directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


def decrypt(profile, nss=None, password_file=None):
    result = nss_run("decrypt", profile, nss=nss, password_file=password_file)
    if result.returncode != 0:
        raise RuntimeError(f"nss_sdr decrypt failed: {result.stderr}")
    return json.loads(result.stdout)


def add_login(profile, origin, user, secret, cipher, nss=None, password_file=None):
    result = nss_run("add", profile, origin, user, secret, cipher, nss=nss, password_file=password_file)
    if result.returncode != 0:
        raise RuntimeError(f"nss_sdr add failed: {result.stderr}")


with tempfile.TemporaryDirectory(prefix="mailseal-logins-") as work:
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "MAILSEAL_PASSPHRASE")}
    runtime = os.path.join(work, "runtime")
    os.makedirs(runtime, mode=0o700)
    env.update(HOME=os.path.join(work, "user home"), XDG_RUNTIME_DIR=runtime)
    alice = Home(work, "alice")
    alice.must("init", "alice@example.com", "--name", "Alice")

    def profile(name):
        directory = os.path.join(work, name)
        os.makedirs(directory)
        with open(os.path.join(directory, "prefs.js"), "w") as out:
            out.write(PREFS)
        return directory

    # Dora's home sees only refused set-ups until the last one: none may make a credential.
    dora = Home(work, "dora")
    dora.must("init", "alice@example.com", "--name", "Alice on another store")

    def credentials(home):
        return home.json("credential", "list")["credentials"]

    def setup_gateway(directory, *options, text=False, home=alice, listen="127.0.0.1:10587"):
        command = [MAILSEAL, "--home", home.home] + ([] if text else ["--json"]) + [
            "setup", "gateway", "--upstream", "127.0.0.1:2525", "--listen", listen,
            "--thunderbird", directory, *options]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        answer = json.loads(result.stdout) if result.returncode == 0 and not text else {}
        return result, answer

    def ours(logins):
        return [e for e in logins if e["hostname"] == "smtp://127.0.0.1" and e.get("username") == "thunderbird"]

    # fresh: prefs.js only.
    fresh = profile("fresh")
    result, answer = setup_gateway(fresh)
    check(result.returncode == 0, "fresh profile: setup gateway succeeds", result.stderr)
    secret = answer.get("thunderbird", {}).get("secret")
    check(answer.get("thunderbird", {}).get("login") == {"origin": "smtp://127.0.0.1", "replaced": False},
          "--json names the login's origin, smtp://127.0.0.1 (no port: what Thunderbird looks up)", answer)
    logins_file = os.path.join(fresh, "logins.json")
    check(os.path.exists(logins_file) and os.stat(logins_file).st_mode & 0o777 == 0o600,
          "logins.json is written, 0600")
    document = json.load(open(logins_file)) if os.path.exists(logins_file) else {}
    entries = document.get("logins", [])
    entry = entries[0] if len(entries) == 1 else {}
    check(len(entries) == 1 and entry.get("hostname") == "smtp://127.0.0.1"
          and entry.get("httpRealm") == "smtp://127.0.0.1" and entry.get("formSubmitURL", "absent") is None
          and entry.get("usernameField") == "" and entry.get("passwordField") == "" and entry.get("encType") == 1
          and re.fullmatch(r"\{[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}",
                           entry.get("guid", "")) and entry.get("id") == 1 and document.get("nextId") == 2
          and document.get("version") == 3 and entry.get("timesUsed") == 1
          and entry.get("timeCreated") == entry.get("timePasswordChanged") > 1.6e12,
          "one entry as Thunderbird's password manager writes it (hostname, httpRealm, formSubmitURL null, "
          "encType 1, a {uuid} guid, times in milliseconds, version 3)", document)
    key_id, oid, iv_length = envelope(entry["encryptedPassword"]) if entry else (b"", "", 0)
    check(key_id == DEFAULT_KEY_ID and oid == AES_OID and iv_length == 16,
          "a new database gets the AES-256-CBC key Thunderbird 153 would make, under NSS's default SDR key id",
          (key_id.hex(), oid, iv_length))
    if THUNDERBIRD_NSS:
        decrypted = decrypt(fresh, nss=THUNDERBIRD_NSS)
        check(secret and [(e["username"], e["password"]) for e in decrypted] == [("thunderbird", secret)],
              "Thunderbird's own NSS (PK11SDR_Decrypt) decrypts user 'thunderbird' and the gateway's secret",
              decrypted)
    else:
        print("# Thunderbird's NSS is not installed: the AES entries are checked by their envelope only")

    # thunderbird: saved passwords that Thunderbird's NSS wrote.
    tb = profile("thunderbird")
    made_by_thunderbird = THUNDERBIRD_NSS is not None
    if made_by_thunderbird:
        add_login(tb, "imap://mail.example.com", "alice", "imap password", "aes", nss=THUNDERBIRD_NSS)
        add_login(tb, "smtp://127.0.0.1", "bob", "bob's secret", "aes", nss=THUNDERBIRD_NSS)
        with open(os.path.join(tb, "logins.json")) as f:
            before = json.load(f)
        before["logins"][0]["somethingNewer"] = {"kept": True}  # a field of a later Thunderbird
        before["potentiallyVulnerablePasswords"] = [{"encryptedPassword": "kept"}]
        with open(os.path.join(tb, "logins.json"), "w") as f:
            json.dump(before, f)
        result, answer = setup_gateway(tb)
        check(result.returncode == 0, "a profile with Thunderbird's saved passwords (AES key): set-up succeeds",
              result.stderr)
        after = json.load(open(os.path.join(tb, "logins.json")))
        check(after["logins"][:2] == before["logins"] and after["potentiallyVulnerablePasswords"]
              == before["potentiallyVulnerablePasswords"] and after["nextId"] == 4 and after["logins"][2]["id"] == 3,
              "the saved passwords are kept as they were (unknown fields too), the new entry takes the next id",
              after)
        decrypted = decrypt(tb, nss=THUNDERBIRD_NSS)
        first_secret = answer["thunderbird"]["secret"]
        check([(e["hostname"], e["username"], e["password"]) for e in decrypted]
              == [("imap://mail.example.com", "alice", "imap password"), ("smtp://127.0.0.1", "bob", "bob's secret"),
                  ("smtp://127.0.0.1", "thunderbird", first_secret)],
              "Thunderbird's NSS decrypts all three: the entry is made with the key Thunderbird's NSS made", decrypted)
        guid = after["logins"][2]["guid"]
        result, answer = setup_gateway(tb, text=True)
        again = re.search(r"the password is: (\S+)", result.stdout)
        decrypted = decrypt(tb, nss=THUNDERBIRD_NSS)
        mine = ours(decrypted)
        check(result.returncode == 0 and again and len(decrypted) == 3 and len(mine) == 1
              and mine[0]["password"] == again.group(1) != first_secret and mine[0]["guid"] == guid
              and mine[0]["id"] == 3 and "replaced in logins.json" in result.stdout,
              "a second set-up replaces its entry (same id and guid, the new secret), no duplicate",
              result.stdout + result.stderr + json.dumps(decrypted))
        check("sends without asking" in result.stdout, "the text output says Thunderbird sends without asking",
              result.stdout)
    else:
        print("# Thunderbird's NSS is not installed: the AES-key profile is not tested")

    # old: a database whose SDR key is triple DES (what NSS made before AES).
    old = profile("old")
    add_login(old, "imap://mail.example.com", "alice", "imap password", "des3")
    result, answer = setup_gateway(old)
    decrypted = decrypt(old) if result.returncode == 0 else []
    entry = ours(decrypted)
    check(result.returncode == 0 and entry and entry[0]["password"] == answer["thunderbird"]["secret"]
          and envelope(entry[0]["encryptedPassword"])[1] == DES3_OID and decrypted[0]["password"] == "imap password",
          "a triple-DES SDR key: the entry is encrypted with it and the system's NSS decrypts it", decrypted)

    # ipv6: Thunderbird keeps the address bare in prefs.js and looks the
    # password up under smtp://[::1].
    ipv6 = profile("ipv6")
    result, answer = setup_gateway(ipv6, listen="[::1]:10587")
    decrypted = decrypt(ipv6, nss=THUNDERBIRD_NSS) if result.returncode == 0 and THUNDERBIRD_NSS else []
    check(result.returncode == 0 and 'smtpserver.smtp2.hostname", "::1");' in open(os.path.join(ipv6, "prefs.js")).read()
          and json.load(open(os.path.join(ipv6, "logins.json")))["logins"][0]["hostname"] == "smtp://[::1]"
          and (not THUNDERBIRD_NSS or decrypted[0]["password"] == answer["thunderbird"]["secret"]),
          "an IPv6 gateway: hostname ::1 in prefs.js, the password under smtp://[::1]", result.stderr)

    # running: Thunderbird holds the lock on .parentlock.
    running = profile("running")
    before = tree(running)
    with open(os.path.join(running, ".parentlock"), "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        result, _ = setup_gateway(running, home=dora)
        fcntl.lockf(lock, fcntl.LOCK_UN)
    os.unlink(os.path.join(running, ".parentlock"))
    check(result.returncode != 0 and "Thunderbird is running" in result.stderr and tree(running) == before,
          "Thunderbird running: refused, no logins.json, no database, nothing changed", result.stderr)

    # primary: a key database with a primary password.
    primary = profile("primary")
    right, wrong = os.path.join(work, "right"), os.path.join(work, "wrong")
    with open(right, "w") as f:
        f.write("correct horse\n")
    with open(wrong, "w") as f:
        f.write("battery staple\n")
    subprocess.run(["certutil", "-N", "-d", "sql:" + primary, "-f", right], check=True, capture_output=True)
    add_login(primary, "imap://mail.example.com", "alice", "imap password", "des3", password_file=right)
    before = tree(primary)
    result, _ = setup_gateway(primary, home=dora)
    check(result.returncode != 0 and "primary password" in result.stderr and "--database-password-file"
          in result.stderr and tree(primary) == before,
          "a primary password and no --database-password-file: refused, saying which option, nothing changed",
          result.stderr)
    result, _ = setup_gateway(primary, "--database-password-file", wrong, home=dora)
    check(result.returncode != 0 and "is wrong" in result.stderr and tree(primary) == before,
          "a wrong primary password: refused, nothing changed", result.stderr)
    check(credentials(dora) == [], "the refused set-ups made no credential", credentials(dora))
    result, answer = setup_gateway(primary, "--database-password-file", right, home=dora)
    decrypted = decrypt(primary, password_file=right) if result.returncode == 0 else []
    check(result.returncode == 0 and [(e["username"], e["password"]) for e in decrypted]
          == [("alice", "imap password"), ("thunderbird", answer["thunderbird"]["secret"])],
          "the right primary password: the entry is stored and decrypts with it", result.stderr + str(decrypted))

    lone = subprocess.run([MAILSEAL, "--home", dora.home, "setup", "gateway", "--upstream", "127.0.0.1:2525",
                           "--database-password-file", right], capture_output=True, text=True, env=env)
    check(lone.returncode == 2 and "--database-password-file requires --thunderbird" in lone.stderr,
          "--database-password-file without --thunderbird is a usage error", lone.stderr)

    # malformed: logins.json Thunderbird could not load.
    for name, text, says in (("not JSON", '{"nextId": 2, "logins": [', "is not JSON"),
                             ("logins not an array", '{"nextId": 2, "logins": {"id": 1}}', "not an array"),
                             ("an entry not an object", '{"logins": [1]}', "not an array of objects"),
                             ("a negative nextId", '{"nextId": -4, "logins": []}', "nextId")):
        bad = profile("bad " + name)
        add_login(bad, "imap://mail.example.com", "alice", "imap password", "des3")
        with open(os.path.join(bad, "logins.json"), "w") as f:
            f.write(text)
        before = tree(bad)
        result, _ = setup_gateway(bad, home=dora)
        check(result.returncode != 0 and "logins.json" in result.stderr and says in result.stderr
              and "hint:" in result.stderr and tree(bad) == before,
              f"logins.json with {name}: refused with an error naming the file, nothing changed", result.stderr)
    made = credentials(dora)
    check(len(made) == 1 and made[0]["name"] == "thunderbird",
          "after the refusals, Dora still has only the credential of her one successful set-up", made)

# Without Thunderbird (the default install, CI) its NSS's six checks are skipped.
finish(minimum=23 if THUNDERBIRD_NSS else 18)
