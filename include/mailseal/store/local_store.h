#pragma once
// The local store of one device (DESIGN.md section 9): a SQLite database with
// a versioned schema and private keys as PKCS#8 files, created 0600, in a home
// directory. It persists records; it does not decide anything.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/secret.h"
#include "mailseal/store/sqlite.h"

namespace mailseal::store {

// Where the store lives: --home DIR, else $MAILSEAL_HOME, else
// ${XDG_DATA_HOME:-~/.local/share}/mailseal.
std::filesystem::path resolve_home(const std::optional<std::filesystem::path>& flag);

// The schema this build reads and writes.
inline constexpr std::int64_t kSchemaVersion = 13;

enum class Suite { Compat, Modern };
enum class DeviceRole { Admin, Full, Read };
enum class DeviceStatus { Active, Removed };
enum class KeyPurpose { Signing, Encryption, Both };
enum class KeyStatus { Current, Archived };
enum class KeyOrigin { Profile, Imported };

std::string_view to_string(Suite suite) noexcept;
std::string_view to_string(DeviceRole role) noexcept;
std::string_view to_string(DeviceStatus status) noexcept;
std::string_view to_string(KeyPurpose purpose) noexcept;
std::string_view to_string(KeyStatus status) noexcept;
std::string_view to_string(KeyOrigin origin) noexcept;
Suite parse_suite(std::string_view text);
// Error(Malformed) for a name that is not one of the values.
DeviceRole parse_device_role(std::string_view text);
DeviceStatus parse_device_status(std::string_view text);
KeyPurpose parse_key_purpose(std::string_view text);
KeyStatus parse_key_status(std::string_view text);
KeyOrigin parse_key_origin(std::string_view text);

struct ProfileRecord {
  Identity fingerprint;  // UDF of the root's SubjectPublicKeyInfo, full precision
  std::string name;
  Suite suite = Suite::Compat;
  std::vector<EmailAddress> addresses;
  Bytes root_certificate;      // DER
  std::string root_key_file;   // empty on devices that do not hold the root
  std::string root_seed_file;  // the seed the root key derives from; empty if none
  bool keys_encrypted = false;
  TimePoint created_at{};
};

// The last record of a removed device's trust-record log that the admin
// device removing it accepted (docs/security.md, "The cut"): every device
// merges that log up to it, ending at `hash`, and refuses what follows.
// seq 0 (hash empty): none of its records.
struct RemovalCut {
  std::int64_t seq = 0;
  Bytes hash;  // SHA-256 of the sealed record `seq`, as the next record's `previous` names it
  bool operator==(const RemovalCut&) const = default;
};

struct DeviceRecord {
  DeviceId device_id;
  std::string name;
  DeviceRole role = DeviceRole::Admin;
  DeviceStatus status = DeviceStatus::Active;
  bool is_this_device = false;
  Bytes signature_certificate;     // DER
  Bytes agreement_certificate;     // DER
  std::string signature_key_file;  // empty for other devices
  std::string agreement_key_file;
  TimePoint created_at{};
  // Removed devices (schema 11): the cut the removal named; nullopt for one
  // removed by an older mailseal (its records not merged before are refused).
  std::optional<RemovalCut> removal_cut{};
};

struct MailKeyRecord {
  std::int64_t id = 0;
  EmailAddress address;
  KeyPurpose purpose = KeyPurpose::Signing;
  KeyStatus status = KeyStatus::Current;
  KeyOrigin origin = KeyOrigin::Profile;
  Bytes certificate{};         // DER
  std::vector<Bytes> chain{};  // DER, issuer first
  std::string key_file{};
  std::string key_fingerprint{};
  TimePoint created_at{};
};

// A correspondent's certificate for one of the addresses it names
// (schema 2). `source` says how it arrived: "import" or "message".
struct ContactCertificateRecord {
  std::int64_t id = 0;
  EmailAddress address;
  Bytes certificate;            // DER
  std::string fingerprint;      // UDF of the certificate, full precision
  std::string key_fingerprint;  // UDF of its public key
  std::string capabilities;     // smime::Capabilities::to_string(), "" when unknown
  std::string source;
  TimePoint first_seen{};
  TimePoint last_seen{};
};

// An invitation to join by PIN (schema 4), kept by the admin device that
// made it: the key the PIN's MAC is checked with, not the PIN.
struct InviteRecord {
  std::string pin_id;
  SecretBytes mac_key;
  DeviceRole role = DeviceRole::Full;
  TimePoint expires_at{};
  std::optional<TimePoint> used_at;
  TimePoint created_at{};
};

// A credential mail clients authenticate to the gateway with (schema 5):
// the SHA-256 of its secret, never the secret.
struct GatewayCredentialRecord {
  std::string name;
  Bytes secret_hash;
  std::vector<EmailAddress> addresses;  // the From addresses it may use; empty: all of the profile's
  TimePoint created_at{};
};

// A mail client mailseal set up (schema 6), so that `sync` can keep it
// current: its kind ("thunderbird", "mutt"), where it is (a Thunderbird
// profile directory, mutt's key directory), and a digest of what was put
// there (the keys and the correspondents' trust), to tell when it is stale.
struct ClientSetupRecord {
  std::string kind;
  std::string location;
  std::string state;
  TimePoint set_up_at{};
};

// A private key file staged by the caller: name under keys/ and PEM text.
struct KeyFile {
  std::string name;
  SecretBytes pem;
};

class LocalStore {
 public:
  // Creates a new store holding the profile, its first device and its mail
  // keys, atomically: key files are written first, then the database is
  // built under a temporary name and linked into place. If anything fails, or
  // a profile exists already, nothing is left behind and nothing existing is
  // changed (Error(AlreadyExists) for the latter).
  static LocalStore create(const std::filesystem::path& home, const ProfileRecord& profile, const DeviceRecord& device,
                           const std::vector<MailKeyRecord>& mail_keys, const std::vector<KeyFile>& key_files);

  // Opens an existing store; Error(NotFound) with a hint when there is none.
  static LocalStore open(const std::filesystem::path& home);

  static bool exists(const std::filesystem::path& home);

  const std::filesystem::path& home() const noexcept { return home_; }

  ProfileRecord profile();
  std::vector<DeviceRecord> devices();
  // Mail keys, optionally only those of one address, oldest first.
  std::vector<MailKeyRecord> mail_keys(const std::optional<EmailAddress>& address = std::nullopt);

  // Adds mail keys and their files all or nothing: the files are written,
  // then the rows in one transaction; if anything fails, the files are
  // removed again. Each record's key_file is taken from its KeyFile; its
  // created_at is the caller's (the store reads no clock).
  void add_mail_keys(const std::vector<std::pair<MailKeyRecord, KeyFile>>& keys);
  // A new certificate for a key already stored (record.key_file must exist).
  void add_mail_certificate(const MailKeyRecord& record);

  // The PEM text of a key file.
  SecretBytes read_key_file(const std::string& name) const;
  // Writes a new key file (0600); Error(AlreadyExists) if the name is taken.
  void write_key_file(const KeyFile& file);

  void add_device(const DeviceRecord& device);
  void set_device_status(const DeviceId& device_id, DeviceStatus status);
  // A removed device's cut (RemovalCut): Error(NotFound) for an unknown device.
  void set_device_removal_cut(const DeviceId& device_id, const RemovalCut& cut);
  // Error(NotFound) for an unknown device.
  void set_device_role(const DeviceId& device_id, DeviceRole role);
  // A renewed device's certificates (the same keys): Error(NotFound) for an unknown device.
  void set_device_certificates(const DeviceId& device_id, ByteView signature_certificate,
                               ByteView agreement_certificate);
  // A renewed profile root certificate (the same key, so the same fingerprint).
  void set_root_certificate(ByteView certificate);
  void set_mail_key_status(std::int64_t id, KeyStatus status);

  void add_invite(const InviteRecord& invite);
  std::vector<InviteRecord> invites();
  void mark_invite_used(const std::string& pin_id, TimePoint at);

  // Error(AlreadyExists) when the name is taken.
  void add_gateway_credential(const GatewayCredentialRecord& credential);
  // Replaces the credential of that name (or adds it), in one transaction.
  void replace_gateway_credential(const GatewayCredentialRecord& credential);
  std::vector<GatewayCredentialRecord> gateway_credentials();

  // The mail clients set up on this device (schema 6), by kind and location.
  void remember_client_setup(const ClientSetupRecord& setup);
  std::vector<ClientSetupRecord> client_setups();
  // False when there was none of that name.
  bool remove_gateway_credential(std::string_view name);

  // Adds a contact certificate, or refreshes last_seen (and capabilities, when
  // newly advertised) of one already known. Returns true if it was new.
  bool upsert_contact_certificate(const ContactCertificateRecord& record);
  std::vector<ContactCertificateRecord> contact_certificates(const std::optional<EmailAddress>& address = std::nullopt);
  // Issuer certificates that came with contacts (kept for chain building),
  // in the order they were added (`at`).
  void add_contact_chain_certificate(ByteView der, TimePoint at);
  std::vector<Bytes> contact_chain_certificates();

  std::optional<std::string> setting(std::string_view key);
  void set_setting(std::string_view key, std::string_view value);

  Database& database() noexcept { return database_; }

  // Whether the file this store opened is still the store's file, at the
  // schema this mailseal reads. A holder that keeps a store open long (a
  // gateway session) opens it again otherwise, so that the schema check
  // runs again and a store replaced by a restore or an init is read anew.
  bool still_current();

 private:
  LocalStore(std::filesystem::path home, Database database);
  std::filesystem::path home_;
  Database database_;
  std::uint64_t opened_device_ = 0;  // st_dev and st_ino of the file opened
  std::uint64_t opened_inode_ = 0;
};

}  // namespace mailseal::store
