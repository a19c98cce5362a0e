#!/usr/bin/python3
"""NSS's secret decoder ring (SDR) through NSS itself (ctypes on libnss3.so),
independently of mailseal: what Thunderbird does with logins.json.

  nss_sdr.py [--nss LIBDIR] [--password-file FILE] decrypt PROFILE
      prints logins.json's entries as JSON, each with "username" and
      "password" decrypted by NSS's PK11SDR_Decrypt (null where NSS cannot)
  nss_sdr.py [--nss LIBDIR] [--password-file FILE] add PROFILE ORIGIN USER PASSWORD {aes|des3}
      adds an entry to logins.json as Thunderbird's password manager does,
      encrypted by PK11SDR_EncryptWithMechanism (AES-256-CBC, what
      Thunderbird 153 writes) or PK11SDR_Encrypt (triple DES, older NSS)

--nss LIBDIR loads libnss3.so from LIBDIR (Thunderbird's own NSS in
/usr/lib/thunderbird, whose SDR reads AES); the default is the system's.
NSS is initialised once a process, so each use is a process of its own
(use nss_run() from a test). Exit 3 when the NSS has no AES SDR."""
import base64
import ctypes
import json
import os
import subprocess
import sys
import uuid

NSS_INIT_NOMODDB = 0x4
NSS_INIT_NOROOTINIT = 0x10
CKM_AES_CBC = 0x1082
THUNDERBIRD_NSS = "/usr/lib/thunderbird"


class SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint), ("data", ctypes.c_void_p), ("len", ctypes.c_uint)]


def item(data):
    buffer = ctypes.create_string_buffer(data, len(data))
    return SECItem(0, ctypes.cast(buffer, ctypes.c_void_p), len(data)), buffer


def nss_run(*arguments, nss=None, password_file=None):
    """Runs this tool in a process of its own; its CompletedProcess. With
    nss, that libnss3 and the libraries next to it are loaded."""
    command = [sys.executable, os.path.abspath(__file__)]
    env = dict(os.environ)
    if nss:
        command += ["--nss", nss]
        env["LD_LIBRARY_PATH"] = nss
    if password_file:
        command += ["--password-file", password_file]
    return subprocess.run(command + list(arguments), capture_output=True, text=True, env=env)


def thunderbird_nss():
    """Thunderbird's own NSS folder if it is installed, else None."""
    return THUNDERBIRD_NSS if os.path.exists(os.path.join(THUNDERBIRD_NSS, "libnss3.so")) else None


def open_database(nss, profile, password):
    PASSWORD_FUNC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)

    def give(slot, retry, argument):
        if retry or password is None:
            return None
        out = nss.PORT_Alloc(len(password) + 1)
        ctypes.memmove(out, password + b"\0", len(password) + 1)
        return out

    nss.PORT_Alloc.restype = ctypes.c_void_p
    callback = PASSWORD_FUNC(give)
    nss.PK11_SetPasswordFunc(callback)
    nss.NSS_Initialize.argtypes = [ctypes.c_char_p] * 4 + [ctypes.c_uint]
    if nss.NSS_Initialize(("sql:" + profile).encode(), b"", b"", b"", NSS_INIT_NOMODDB | NSS_INIT_NOROOTINIT) != 0:
        sys.exit(f"NSS_Initialize failed: {nss.PORT_GetError()}")
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    slot = ctypes.c_void_p(nss.PK11_GetInternalKeySlot())
    if nss.PK11_NeedUserInit(slot):
        nss.PK11_InitPin(slot, b"", password or b"")
    if nss.PK11_Authenticate(slot, 1, None) != 0:
        sys.exit(f"PK11_Authenticate failed: {nss.PORT_GetError()}")
    return slot, callback


def main():
    arguments = sys.argv[1:]
    library, password = "libnss3.so", None
    while arguments and arguments[0].startswith("--"):
        if arguments[0] == "--nss":
            library = os.path.join(arguments[1], "libnss3.so")
        else:
            with open(arguments[1], "rb") as f:
                password = f.read().rstrip(b"\n")
        arguments = arguments[2:]
    nss = ctypes.CDLL(library)
    command, profile = arguments[0], arguments[1]
    slot, _callback = open_database(nss, profile, password)
    logins_file = os.path.join(profile, "logins.json")

    def decrypt(text):
        try:
            data = base64.b64decode(text)
        except (ValueError, TypeError):
            return None
        source, _keep = item(data)
        out = SECItem()
        if nss.PK11SDR_Decrypt(ctypes.byref(source), ctypes.byref(out), None) != 0:
            return None
        return ctypes.string_at(out.data, out.len).decode()

    if command == "decrypt":
        with open(logins_file) as f:
            logins = json.load(f)["logins"]
        for entry in logins:
            entry["username"] = decrypt(entry.get("encryptedUsername", ""))
            entry["password"] = decrypt(entry.get("encryptedPassword", ""))
        print(json.dumps(logins))
        return
    origin, user, secret, cipher = arguments[2:6]

    def encrypt(text):
        source, _keep = item(text.encode())
        out = SECItem()
        key_id = SECItem()
        if cipher == "aes":
            if not hasattr(nss, "PK11SDR_EncryptWithMechanism"):
                sys.exit(3)
            status = nss.PK11SDR_EncryptWithMechanism(slot, ctypes.byref(key_id), ctypes.c_ulong(CKM_AES_CBC),
                                                      ctypes.byref(source), ctypes.byref(out), None)
        else:
            status = nss.PK11SDR_Encrypt(ctypes.byref(key_id), ctypes.byref(source), ctypes.byref(out), None)
        if status != 0:
            sys.exit(f"SDR encryption failed: {nss.PORT_GetError()}")
        return base64.b64encode(ctypes.string_at(out.data, out.len)).decode()

    document = {"nextId": 1, "logins": [], "potentiallyVulnerablePasswords": [], "version": 3}
    if os.path.exists(logins_file):
        with open(logins_file) as f:
            document = json.load(f)
    document["logins"].append({
        "id": document["nextId"], "hostname": origin, "httpRealm": origin, "formSubmitURL": None,
        "usernameField": "", "passwordField": "", "encryptedUsername": encrypt(user),
        "encryptedPassword": encrypt(secret), "guid": "{" + str(uuid.uuid4()) + "}", "encType": 1,
        "timeCreated": 1700000000000, "timeLastUsed": 1700000000000, "timePasswordChanged": 1700000000000,
        "timesUsed": 1, "syncCounter": 1, "everSynced": False})
    document["nextId"] += 1
    with open(logins_file, "w") as f:
        json.dump(document, f)


if __name__ == "__main__":
    main()
