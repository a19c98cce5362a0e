"""One person's profile on several devices, and correspondents who publish
theirs, against a key service: what the tests of tests/devices set up."""
import base64
import hashlib
import json
import os
import sqlite3
import subprocess

from mailseal_test import Home


def join_device(admin, work, url, name, role="full"):
    """A new device `name` joined to `admin`'s profile by PIN, the admin synced and the device synced (the
    join completed): its Home."""
    device = Home(work, name)
    invite = admin.json("device", "invite", "--role", role)
    device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                "--name", device.name)
    admin.must("sync")
    device.must("sync")
    return device


def devices_of_one_profile(work, url, roles=("full",)):
    """Device 1 (the admin, `init` with alice@example.com) and one device per role in `roles`, each
    joined by PIN and synced: the Homes, device 1 first."""
    one = Home(work, "device1")
    one.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "device1",
             "--service", url)
    devices = [one]
    for number, role in enumerate(roles, start=2):
        devices.append(join_device(one, work, url, f"device{number}", role))
    return devices


def correspondents(work, url, names, devices=()):
    """Each name's own profile (NAME@example.org), published; every device looks each one up. Their fingerprints."""
    people = {}
    for name in names:
        person = Home(work, name)
        person.must("init", f"{name}@example.org", "--suite", "modern", "--service", url)
        people[name] = person.json("status")["fingerprint"]
        for device in devices:
            device.must("lookup", f"{name}@example.org")
    return people



def three_synced_devices(work, url, names):
    """Three devices of one profile (two of them admin-made full devices), the correspondents `names` known to all
    three, every device synced twice so that each has merged the others' records."""
    one, two, three = devices_of_one_profile(work, url, ("full", "full"))
    people = correspondents(work, url, names, (one, two, three))
    for device in (one, two, three, one, two, three):
        device.must("sync")
    return one, two, three, people


def three_devices_bob_pinned_on_two(work, url, syncs=(1, 0, 2)):
    """Devices 1 to 3 of one profile (devices_of_one_profile, two full devices) and correspondents Bob and Carol;
    device 2 pins Bob, then the devices sync in the order `syncs` gives (indexes of the three): the Homes and
    the correspondents' fingerprints."""
    devices = devices_of_one_profile(work, url, ("full", "full"))
    people = correspondents(work, url, ("bob", "carol"), devices)
    devices[1].must("contact", "pin", "bob@example.org", people["bob"])
    for index in syncs:
        devices[index].must("sync")
    return (*devices, people)

def admins_and_phone(work, url, home=Home, spares=()):
    """The laptop (admin, `init` with alice@example.com), the desk (admin, restored from two recovery shares) and
    the phone (full, joined by PIN), all synced: the Homes (made with `home`). Each name in `spares` is one more
    admin device restored from the same shares before the phone joined, returned after the phone."""
    laptop, desk, phone = (home(work, name) for name in ("laptop", "desk", "phone"))
    laptop.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "laptop",
                "--service", url)
    shares = laptop.json("recovery", "create", "--shares", "2", "--quorum", "2")["shares"]
    restored = [desk] + [home(work, name) for name in spares]
    for admin in restored:
        admin.must("recovery", "restore", shares[0], shares[1], "--service", url, "--name", admin.name)
        laptop.must("sync")
    invite = laptop.json("device", "invite", "--role", "full")
    phone.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
               "--name", "phone")
    for device in (laptop, phone, *restored, laptop, phone):
        device.must("sync")
    return (laptop, desk, phone, *restored[1:])


def store_rows(device, sql, parameters=()):
    """The rows a query finds in a device's store."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        return db.execute(sql, parameters).fetchall()


def current_keys(device):
    """The current mail keys of the profile and the current records key ids of a device's store."""
    mail = {row[0] for row in store_rows(device, "SELECT key_fingerprint FROM mail_keys WHERE status = 'current' "
                                                 "AND origin = 'profile'")}
    records = {row[0] for row in store_rows(device, "SELECT key_id FROM records_keys WHERE status = 'current'")}
    return mail, records


def held_keys(device):
    """Every mail key and records key a device's store holds, whatever its status."""
    mail = {row[0] for row in store_rows(device, "SELECT key_fingerprint FROM mail_keys")}
    records = {row[0] for row in store_rows(device, "SELECT key_id FROM records_keys")}
    return mail, records


def pem_of(der, kind="x509"):
    return subprocess.run(["openssl", kind, "-inform", "DER"], input=der, capture_output=True,
                          check=True).stdout.decode()


def published_root_and_crl(service, fingerprint, admin, work):
    """The profile's root (from an admin device's store) and the CRL the service publishes for it, as PEM files a
    correspondent's OpenSSL takes: their paths."""
    document = json.loads(service.rows("SELECT document FROM accounts WHERE fingerprint = ?", (fingerprint,))[0][0])
    root = os.path.join(work, "root.pem")
    with sqlite3.connect(os.path.join(admin.home, "mailseal.db")) as db, open(root, "w") as out:
        out.write(pem_of(db.execute("SELECT root_certificate FROM profile").fetchone()[0]))
    crl = os.path.join(work, "crl.pem")
    with open(crl, "w") as out:
        for item in document.get("revocations", []):
            out.write(pem_of(base64.b64decode(item), "crl"))
    return root, crl


def crl_verdict(work, root, crl, certificate_der):
    """What `openssl verify -crl_check` says of a certificate against the root and the published CRL: "revoked",
    "good", or its output."""
    path = os.path.join(work, hashlib.sha256(certificate_der).hexdigest() + ".pem")
    with open(path, "w") as out:
        out.write(pem_of(certificate_der))
    plain = subprocess.run(["openssl", "verify", "-CAfile", root, "-purpose", "any", path], capture_output=True)
    checked = subprocess.run(["openssl", "verify", "-CAfile", root, "-CRLfile", crl, "-crl_check", "-purpose", "any",
                              path], capture_output=True)
    if plain.returncode != 0:
        raise RuntimeError(f"{path} does not verify against the root at all: {plain.stderr.decode()}")
    said = (checked.stdout + checked.stderr).decode()
    if checked.returncode == 0:
        return "good"
    return "revoked" if "certificate revoked" in said else said


def serial_of(certificate_der):
    """The certificate's serial as hex, as openssl and the store write it."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=certificate_der,
                         capture_output=True, check=True).stdout.decode().strip()
    return out.split("=", 1)[1]


def roles_and_statuses(device):
    """What `device list` on `device` says of each device: {device id: (role, status)}."""
    return {d["device_id"]: (d["role"], d["status"]) for d in device.json("device", "list")["devices"]}


def trust_level(device, address):
    """The trust level `device` (a Home) gives `address` ('mailseal trust ADDRESS')."""
    return device.json("trust", address)["level"]


def openssl(*arguments):
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


def openssl_ca_and_mail_certificate(work, address, name="ca"):
    """A CA and a mail certificate it issued for `address`, both made by openssl: the two PEM files (`name`.pem,
    and the certificate in `name`-mail.pem)."""
    ca_key, ca = os.path.join(work, name + ".key"), os.path.join(work, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
            "-out", ca, "-subj", f"/CN=Test CA {name}", "-days", "30", "-addext",
            "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    key, request, mail = (os.path.join(work, f"{name}-mail.{suffix}") for suffix in ("key", "csr", "pem"))
    extensions = os.path.join(work, f"{name}-mail.cnf")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
            request, "-subj", f"/CN={address}")
    with open(extensions, "w") as handle:
        handle.write(f"[e]\nsubjectAltName=email:{address}\nkeyUsage=critical,digitalSignature,keyAgreement\n"
                     "extendedKeyUsage=emailProtection\n")
    openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial", "7", "-days", "20",
            "-extfile", extensions, "-extensions", "e", "-out", mail)
    return ca, mail
