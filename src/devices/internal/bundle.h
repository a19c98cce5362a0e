#pragma once
// The content of a key bundle (what an admin device seals to a new or
// remaining device) and of the escrow (what the key service keeps sealed to
// the profile's root secret): the profile, the device's own certificates,
// and mail private keys, as JSON. Both travel only sealed.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/key_access.h"
#include "mailseal/common/secret.h"
#include "mailseal/store/local_store.h"

namespace mailseal::devices::internal {

struct BundleKey {
  store::MailKeyRecord record;  // key_file and id unused
  SecretBytes pem;              // unencrypted PKCS#8
};

// A records key (trust records, records.h) as a bundle carries it.
struct BundleRecordsKey {
  std::string key_id;  // hex
  SecretBytes key;     // unencrypted PKCS#8 (PEM) of the P-256 key it derives from
  store::KeyStatus status = store::KeyStatus::Current;
};

struct KeyBundle {
  // The profile.
  Identity fingerprint;
  std::string name;
  store::Suite suite = store::Suite::Compat;
  std::vector<EmailAddress> addresses;
  Bytes root;
  // The device it is for (a bundle) or the devices known (escrow).
  std::vector<store::DeviceRecord> devices;
  std::vector<BundleKey> keys;
  std::optional<std::string> pin_proof;  // PIN joins: the admin knew the PIN
  std::optional<SecretBytes> root_key;   // escrow only: the root's PKCS#8
  // Trust records: the profile's records keys (current and archived), and
  // every device of the profile with its role and status, as the admin
  // device knows them (whose records to hear). Absent from older bundles.
  std::vector<BundleRecordsKey> records_keys;
  std::vector<store::DeviceRecord> roster;
  // Escrow only (docs/service.md, "Two admin devices"): the serials the
  // root revoked, and the publications of each admin device that this one
  // follows (device id to its count), so that another admin device reading
  // it knows an escrow older than one it has seen. Absent from older ones.
  std::vector<std::string> revoked;
  std::map<std::string, std::int64_t> roster_clock;
  TimePoint issued_at{};
};

SecretBytes encode_bundle(const KeyBundle& bundle);

// The store records a device makes from a bundle or escrow it opened: the
// profile (root_key_file left empty), and each mail key with its private key
// file (protected as `key_access` says, profile::key_file).
store::ProfileRecord profile_record_of(const KeyBundle& bundle, bool keys_encrypted, TimePoint created_at);
std::pair<store::MailKeyRecord, store::KeyFile> stored_key(const BundleKey& key, const KeyAccess& key_access);
// Every mail key of a bundle or escrow as store records; their key files are
// appended to `files`.
std::vector<store::MailKeyRecord> stored_keys(const KeyBundle& bundle, const KeyAccess& key_access,
                                              std::vector<store::KeyFile>& files);
// Error(Malformed) for anything that is not a bundle of this version.
KeyBundle decode_bundle(ByteView json);

}  // namespace mailseal::devices::internal
