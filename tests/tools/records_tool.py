"""Trust records (docs/service.md, "Trust records") opened and made without
mailseal, as a thief holding a device's store would: the records key's
scalar read by `openssl pkey`, HKDF-SHA-256 written here with hmac,
AES-256-GCM from OpenSSL's libcrypto through ctypes, the record signed by
`openssl dgst -sha256 -sign` with the device's own signature key file (and,
for a record of version 2, its head statement: docs/service.md, "Frontier
proofs").

    log = DeviceLog(home_path)
    record = log.open(seq)                  # the record (a dict) as the device wrote it
    sealed = log.seal(record)               # signed by the device and sealed under the current key
    log.append(sealed, record)              # into the device's store, for its next `sync` to send
"""
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import sqlite3
import subprocess

RECORD_TYPE = "mailseal-trust-record"
HEAD_TYPE = "mailseal-trust-head"
KEY_ID_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
EVP_CTRL_GCM_GET_TAG = 0x10
EVP_CTRL_GCM_SET_TAG = 0x11

_crypto = ctypes.CDLL(ctypes.util.find_library("crypto"))
_crypto.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
_crypto.EVP_aes_256_gcm.restype = ctypes.c_void_p
for _name in ("EVP_EncryptInit_ex", "EVP_DecryptInit_ex"):
    getattr(_crypto, _name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p,
                                        ctypes.c_char_p]
for _name in ("EVP_EncryptUpdate", "EVP_DecryptUpdate"):
    getattr(_crypto, _name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                        ctypes.c_char_p, ctypes.c_int]
for _name in ("EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex"):
    getattr(_crypto, _name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
_crypto.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_crypto.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]


def _gcm(encrypt, key, nonce, data, associated, tag=None):
    """(output, tag) of AES-256-GCM; raises ValueError when a tag does not verify."""
    context = _crypto.EVP_CIPHER_CTX_new()
    prefix = "EVP_Encrypt" if encrypt else "EVP_Decrypt"
    try:
        if getattr(_crypto, prefix + "Init_ex")(context, _crypto.EVP_aes_256_gcm(), None, key, nonce) != 1:
            raise ValueError("AES-GCM did not start")
        length = ctypes.c_int(0)
        getattr(_crypto, prefix + "Update")(context, None, ctypes.byref(length), associated, len(associated))
        out = ctypes.create_string_buffer(len(data) + 16)
        getattr(_crypto, prefix + "Update")(context, out, ctypes.byref(length), data, len(data))
        written = length.value
        if not encrypt:
            _crypto.EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, ctypes.c_char_p(tag))
        if getattr(_crypto, prefix + "Final_ex")(context, ctypes.byref(out, written), ctypes.byref(length)) != 1:
            raise ValueError("the AES-GCM tag does not verify")
        written += length.value
        tag_out = ctypes.create_string_buffer(TAG_BYTES)
        if encrypt:
            _crypto.EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, tag_out)
        return out.raw[:written], tag_out.raw
    finally:
        _crypto.EVP_CIPHER_CTX_free(context)


def hkdf_sha256(secret, info, length=32):
    """RFC 5869 with no salt (HashLen zero bytes)."""
    prk = hmac.new(b"\0" * 32, secret, hashlib.sha256).digest()
    out, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
    return out[:length]


def associated_data(profile, device, seq, key_id):
    return f"{RECORD_TYPE}\n{profile}\n{device}\n{seq}\n{key_id.hex()}".encode()


def head_statement(profile, device, seq, record_json):
    """What a device signs about each record of version 2 (docs/service.md, "Frontier proofs")."""
    return f"{HEAD_TYPE}\n{profile}\n{device}\n{seq}\n{hashlib.sha256(record_json).hexdigest()}".encode()


def canonical(document):
    """JSON as nlohmann writes it: keys sorted, no spaces (the signature covers the bytes whatever they are)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class DeviceLog:
    """One device's own trust-record log, from its store (keys not encrypted with a passphrase)."""

    def __init__(self, home):
        self.home = home
        with self._db() as db:
            self.profile = db.execute("SELECT fingerprint FROM profile").fetchone()[0]
            self.device, self.signature_key_file = db.execute(
                "SELECT device_id, signature_key_file FROM devices WHERE is_self = 1").fetchone()
            self.keys = {}
            for key_id, key_file, status in db.execute("SELECT key_id, key_file, status FROM records_keys"):
                self.keys[key_id] = self._records_key(key_file)
                if status == "current":
                    self.current = key_id

    def _db(self):
        return sqlite3.connect(os.path.join(self.home, "mailseal.db"))

    def _key_path(self, name):
        return os.path.join(self.home, "keys", name)

    def _records_key(self, key_file):
        text = subprocess.run(["openssl", "pkey", "-in", self._key_path(key_file), "-noout", "-text"],
                              capture_output=True, check=True, text=True).stdout
        hex_digits, reading = "", False
        for line in text.splitlines():
            if line.startswith("priv:"):
                reading = True
            elif reading and line.startswith(" "):
                hex_digits += line.strip().replace(":", "")
            elif reading:
                break
        scalar = bytes.fromhex(hex_digits)[-32:].rjust(32, b"\0")
        return hkdf_sha256(scalar, b"mailseal trust records")

    def own_records(self):
        with self._db() as db:
            return [(int(seq), bytes(sealed)) for seq, sealed in
                    db.execute("SELECT seq, sealed FROM own_records ORDER BY seq")]

    def open_sealed(self, sealed, seq):
        """The record (a dict) and the wrapper it was sealed in."""
        key_id = sealed[:KEY_ID_BYTES]
        body = sealed[KEY_ID_BYTES:]
        nonce, ciphertext, tag = body[:NONCE_BYTES], body[NONCE_BYTES:-TAG_BYTES], body[-TAG_BYTES:]
        plain, _ = _gcm(False, self.keys[key_id.hex()], nonce, ciphertext,
                        associated_data(self.profile, self.device, seq, key_id), tag)
        wrapper = json.loads(plain)
        return json.loads(base64.b64decode(wrapper["record"])), wrapper

    def open(self, seq):
        sealed = dict(self.own_records())[seq]
        return self.open_sealed(sealed, seq)[0]

    def sign(self, data):
        """`data` signed with the device's own signature key (ECDSA with SHA-256, DER)."""
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", self._key_path(self.signature_key_file)],
                              input=data, capture_output=True, check=True).stdout

    def seal(self, record):
        """The record signed with the device's own signature key (and, from version 2 on, its head
        statement) and sealed under the current records key."""
        record_json = canonical(record)
        last_seq, last = self.own_records()[-1]
        _, wrapper = self.open_sealed(last, last_seq)
        wrapper = {"record": base64.b64encode(record_json).decode(),
                   "signature": base64.b64encode(self.sign(record_json)).decode(),
                   "certificate": wrapper["certificate"]}
        if record.get("version", 1) >= 2:
            head = self.sign(head_statement(self.profile, self.device, record["seq"], record_json))
            wrapper["head"] = base64.b64encode(head).decode()
        key_id = bytes.fromhex(self.current)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext, tag = _gcm(True, self.keys[self.current], nonce, canonical(wrapper),
                               associated_data(self.profile, self.device, record["seq"], key_id))
        return key_id + nonce + ciphertext + tag

    def next_record(self, **fields):
        """The record after the device's last one (number, previous hash), with `fields` replaced."""
        seq, sealed = self.own_records()[-1]
        record = dict(self.open(seq))
        record.update(seq=seq + 1, previous=hashlib.sha256(sealed).hexdigest(), changes=[])
        record.update(fields)
        return record

    def append(self, sealed, record):
        """Into the device's own log, not yet sent, as its next position: its next `sync` sends it."""
        with self._db() as db:
            db.execute("INSERT INTO own_records (seq, sealed, uploaded) VALUES (?, ?, 0)", (record["seq"], sealed))
            db.execute("UPDATE record_positions SET seq = ?, hash = ?, lamport = ? WHERE device_id = ?",
                       (record["seq"], hashlib.sha256(sealed).digest(), record["lamport"], self.device))
            db.execute("INSERT OR REPLACE INTO record_times (device_id, seq, lamport) VALUES (?, ?, ?)",
                       (self.device, record["seq"], record["lamport"]))

    def drop_last(self):
        """Forgets the device's last record (the caller deletes the service's copy): its log ends one earlier."""
        records = self.own_records()
        (seq, _), (_, previous) = records[-1], records[-2]
        lamport = self.open(seq - 1)["lamport"]
        with self._db() as db:
            db.execute("DELETE FROM own_records WHERE seq = ?", (seq,))
            db.execute("DELETE FROM record_times WHERE device_id = ? AND seq = ?", (self.device, seq))
            db.execute("UPDATE record_positions SET seq = ?, hash = ?, lamport = ? WHERE device_id = ?",
                       (seq - 1, hashlib.sha256(previous).digest(), lamport, self.device))


def merged_position(device, of):
    """The number of the last record of device `of` that `device` (a Home) merged: 0 when none."""
    with sqlite3.connect(os.path.join(device.home, "mailseal.db")) as db:
        row = db.execute("SELECT seq FROM record_positions WHERE device_id = ?", (of,)).fetchone()
    return row[0] if row else 0


def held_back(report, writer):
    """The entries of a `sync --json` records report that hold back `writer`'s log."""
    return [entry for entry in report.get("overreaching", []) if entry["writer"] == writer]
