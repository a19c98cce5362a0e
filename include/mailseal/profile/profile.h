#pragma once
// A person's profile on this device (DESIGN.md section 2): the profile root
// (a self-signed CA name-constrained to the person's addresses), this
// device's keys and certificates, and per address a signing and an
// encryption key with S/MIME certificates issued by the root.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/key_access.h"
#include "mailseal/common/secret.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/crypto/pkcs12.h"
#include "mailseal/smime/capabilities.h"
#include "mailseal/store/local_store.h"
#include "mailseal/udf/strong_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::profile {

struct InitOptions {
  std::vector<EmailAddress> addresses;
  std::string name;  // the person's name; defaults to the first address
  store::Suite suite = store::Suite::Compat;
  std::string device_name;                          // defaults to the host name
  KeyAccess key_access = KeyAccess::unencrypted();  // protects every key file
};

struct DeviceSummary {
  DeviceId device_id;
  std::string name;
  store::DeviceRole role;
  store::DeviceStatus status;
  bool is_this_device;
};

struct MailKeySummary {
  EmailAddress address;
  store::KeyPurpose purpose;
  store::KeyStatus status;
  store::KeyOrigin origin;
  crypto::Certificate certificate;
};

struct ProfileStatus {
  udf::Fingerprint fingerprint;
  std::string name;
  store::Suite suite;
  std::vector<EmailAddress> addresses;
  std::vector<DeviceSummary> devices;
  std::vector<MailKeySummary> mail_keys;
  bool keys_encrypted;
};

// What an import added.
struct ImportedKey {
  EmailAddress address;
  store::KeyPurpose purpose;
  crypto::Certificate certificate;
  std::size_t chain_length;
};

// A mail key loaded for use, with its certificate and the chain above it.
struct Pkcs12Export {
  EmailAddress address;
  store::KeyPurpose purpose;
  crypto::Certificate certificate;
  std::string friendly_name;  // what NSS and Keychain show: "alice@example.com (signing)"
  Bytes data;
};

struct MailKey {
  crypto::PrivateKey key;
  crypto::Certificate certificate;
  std::vector<crypto::Certificate> chain;
};

// Validity periods of what init issues.
inline constexpr int kRootValidityDays = 10 * 365;
inline constexpr int kDeviceValidityDays = 5 * 365;
inline constexpr int kMailValidityDays = 2 * 365;

// Renewal (docs/profile.md, "Renewal"): a certificate is due once less than
// a third of its lifetime remains (about eight months of a two-year mail
// certificate), so that correspondents pick up the new one from signed mail,
// the key service or the gateway long before the old one expires.
inline constexpr int kRenewalFraction = 3;

enum class RenewalState {
  Valid,    // not due yet
  Due,      // less than a third of its lifetime remains
  Expired,  // past its notAfter
};
std::string_view to_string(RenewalState state);

// When `certificate` becomes due for renewal.
TimePoint renewal_due_at(const crypto::Validity& validity);
RenewalState renewal_state(const crypto::Validity& validity, TimePoint now);

// The expiry of one of the profile's own certificates: the root (no address)
// or a current mail certificate.
struct CertificateExpiry {
  std::optional<EmailAddress> address;       // none for the profile root
  std::optional<store::KeyPurpose> purpose;  // none for the profile root
  TimePoint not_after{};
  TimePoint renewal_due_at{};
  RenewalState state = RenewalState::Valid;
};

// The new profile root a rotation statement is about, read from the new
// profile's certificates ('mailseal export certificates' writes its mail
// certificates, then its root): the last profile root among them
// (keyservice::is_profile_root). Error(Usage) when there is none.
crypto::Certificate rotation_successor(ByteView certificates);

class Profile {
 public:
  // Creates the profile in `home`, its certificates valid from `now`.
  // Nothing is written unless everything succeeds; Error(AlreadyExists) if a
  // profile is there already.
  static Profile create(const std::filesystem::path& home, const InitOptions& options, TimePoint now);
  static Profile open(const std::filesystem::path& home);

  ProfileStatus status();
  udf::Fingerprint fingerprint();
  crypto::Certificate root_certificate();
  std::vector<EmailAddress> addresses();
  std::vector<udf::StrongAddress> strong_addresses();

  bool has_address(const EmailAddress& address);

  // The current signing key of an address (the profile's own before imported
  // ones). Error(NotFound) if the address is not the profile's;
  // Error(BadPassword) if the keys are encrypted and `key_access` has no
  // passphrase, or another one.
  MailKey signing_key(const EmailAddress& address, const KeyAccess& key_access);
  // The current encryption certificate of an address (no private key).
  crypto::Certificate encryption_certificate(const EmailAddress& address);
  // Every key that may decrypt: current and archived, own and imported.
  std::vector<MailKey> decryption_keys(const KeyAccess& key_access);
  bool keys_encrypted();
  // The profile root's private key (endorsements, revocations).
  crypto::PrivateKey root_key(const KeyAccess& key_access);

  // A statement, signed by this profile's root, that the profile root
  // `successor` replaces it for all of this profile's addresses: correspondents
  // who import it see continuity, not a conflict. Error(Usage) if `successor`
  // is not a profile root or is this one. Valid from `now`.
  crypto::Certificate rotation_statement(const crypto::Certificate& successor, const KeyAccess& key_access,
                                         TimePoint now);
  // A revocation list, signed by this profile's root, revoking the root
  // itself: once published, nobody trusts this profile again. Issued `now`.
  crypto::RevocationList root_revocation(const KeyAccess& key_access, TimePoint now);

  // The root's expiry, then each current mail certificate of the profile's
  // own keys, at `now`.
  std::vector<CertificateExpiry> certificate_expiry(TimePoint now);
  // True when a current mail certificate of the profile's own keys is due
  // (or expired) at `now` and a new one would last longer (a new certificate
  // never outlives the root, so near the root's end only the root's renewal
  // helps).
  bool renewal_due(TimePoint now);
  // Renews every mail certificate that renewal_due finds: the same key, a new
  // certificate from `now` for kMailValidityDays (never past the root's
  // notAfter), advertising what the old one did; the old certificate is
  // archived, so mail encrypted to it still decrypts. Returns the new
  // certificates (empty when none was due). Admin devices only:
  // Error(RejectedByPolicy) elsewhere, so that a device without the root
  // never makes certificates the others do not know.
  std::vector<crypto::Certificate> renew_certificates(const KeyAccess& key_access, TimePoint now);

  // Current mail certificates, each address's signing then encryption one.
  std::vector<crypto::Certificate> current_mail_certificates();

  // The mail private keys (current ones, of one address or all, of one
  // purpose or both) with their chains, as a PKCS#12 for other mail clients.
  // gpgsm 2.2 reads only the first key of a file, hence the purpose filter.
  Bytes export_pkcs12(const std::optional<EmailAddress>& address, const std::optional<store::KeyPurpose>& purpose,
                      const Passphrase& password, crypto::Pkcs12Protection protection, const KeyAccess& key_access);

  // Re-issues every current encryption certificate of the profile's own keys
  // that does not advertise exactly `capabilities` (same keys, new
  // certificates, valid from `now`; the old ones are archived). Returns the
  // new certificates. Admin devices only: Error(RejectedByPolicy) elsewhere.
  std::vector<crypto::Certificate> advertise_capabilities(const smime::Capabilities& capabilities,
                                                          const KeyAccess& key_access, TimePoint now);
  // True when every current encryption certificate of the profile's own
  // keys advertises exactly `capabilities`.
  bool advertises(const smime::Capabilities& capabilities);

  // Each current mail key in a PKCS#12 of its own, for clients that read one
  // identity per file (Apple's configuration profiles, gpgsm).
  std::vector<Pkcs12Export> export_pkcs12_per_key(const Passphrase& password, crypto::Pkcs12Protection protection,
                                                  const KeyAccess& key_access);

  // Adopts the identities of a PKCS#12 (for example from a public CA) as
  // additional keys of their addresses, keeping their chains. Every identity
  // must name one of the profile's addresses; nothing is stored unless all
  // can be. They are recorded as added `now`.
  std::vector<ImportedKey> import_pkcs12(ByteView data, const Passphrase& password, const KeyAccess& key_access,
                                         TimePoint now);

  store::LocalStore& store() noexcept { return store_; }

  // A private key of this store by its file name (mail, device or root).
  crypto::PrivateKey load_key(const std::string& file, const KeyAccess& key_access);
  // How the key files written into this store from now on are protected:
  // like the ones it holds, with the passphrase of `key_access` when the
  // store's keys are encrypted, else not at all. Error(BadPassword) when
  // they are encrypted and `key_access` has no passphrase.
  KeyAccess access_for_new_key_files(const KeyAccess& key_access);
  // True when this device holds the profile root (an admin device).
  bool holds_root();

 private:
  explicit Profile(store::LocalStore store) : store_(std::move(store)) {}
  // Current mail keys (of one address or all, of one purpose or both) with
  // their records; Error(NotFound) when there are none.
  std::vector<std::pair<store::MailKeyRecord, crypto::Pkcs12Identity>> current_identities(
      const std::optional<EmailAddress>& address, const std::optional<store::KeyPurpose>& purpose,
      const KeyAccess& key_access);
  // The private key of a signing key file, decoded at most once while the
  // file and the key access stay the same (decoded_signing_key_).
  crypto::PrivateKey signing_private_key(const std::string& file, const KeyAccess& key_access);

  store::LocalStore store_;
  // The signing key decoded last. A gateway session keeps its Profile for
  // its messages, and decoding the key and OpenSSL's RSA blinding set-up for
  // each new key object were a quarter of the gateway's instructions a
  // message (bench/smime_profile.md). Used again only while the key file's
  // name and bytes and the key access are the same: a rotation writes a new
  // key file. The certificate and chain are read from the store at every
  // signing_key call, so a renewal (same key) is seen at the next message.
  struct DecodedKey {
    std::string file;
    SecretBytes pem;
    KeyAccess access;
    crypto::PrivateKey key;
  };
  std::optional<DecodedKey> decoded_signing_key_;
};

}  // namespace mailseal::profile
