#pragma once
// What the profile root issues, shared by profile creation (here) and by
// device connection, device removal and recovery (src/devices): key files,
// mail keys and device certificates, with the same lifetimes and names
// everywhere.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/key_access.h"
#include "mailseal/common/secret.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/smime/capabilities.h"
#include "mailseal/store/local_store.h"

namespace mailseal::profile {

// Certificates start an hour early so that a correspondent whose clock runs
// a little behind does not see them as not yet valid.
inline constexpr std::chrono::hours kBackdating{1};
inline constexpr std::chrono::hours kDay{24};
// Key files are named by a 100-bit fingerprint presentation of their key
// (like device ids, keyservice::kDeviceIdBits): short, unique, and above
// the draft's minimum.
inline constexpr int kIdentifierBits = 100;

struct SuiteKeys {
  crypto::KeyType root;
  crypto::KeyType signing;
  crypto::KeyType encryption;
};
// DESIGN.md section 3: compat uses RSA-3072 throughout (gpgsm and NSS need
// RSA); modern uses P-256 ECDSA/ECDH.
SuiteKeys keys_for(store::Suite suite);

// The PKCS#8 PEM of `key` as this device keeps its key files: encrypted
// with the passphrase of `key_access` (PBES2, scrypt), if it has one.
SecretBytes key_file_pem(const crypto::PrivateKey& key, const KeyAccess& key_access);
// A private key from the PEM of a key file (key_file_pem), unlocked with
// `key_access`: Error(BadPassword) when it is encrypted and `key_access` has
// no passphrase, or another one.
crypto::PrivateKey read_key_file_pem(std::string_view pem, const KeyAccess& key_access);

// "PREFIX-<100-bit fingerprint without dashes>.pem" holding key_file_pem.
store::KeyFile key_file(std::string_view prefix, const crypto::PrivateKey& key, const KeyAccess& key_access);

// Until when a mail certificate issued by `root` at `now` lasts:
// kMailValidityDays, but never past the root's notAfter (a chain is valid
// only while every certificate in it is).
TimePoint mail_certificate_end(const crypto::Certificate& root, TimePoint now);
// The same from the root's notAfter alone (crypto::read_validity).
TimePoint mail_certificate_end(TimePoint root_not_after, TimePoint now);

// A new mail key for `address` and `purpose`, certified by the root; its
// certificate advertises `capabilities` (RFC 4262). Mail certificates last
// kMailValidityDays from `now`, but never past the root's notAfter.
std::pair<store::MailKeyRecord, store::KeyFile> issue_mail_key(const crypto::PrivateKey& root_key,
                                                               const crypto::Certificate& root, const std::string& name,
                                                               const EmailAddress& address, store::KeyPurpose purpose,
                                                               store::Suite suite, const KeyAccess& key_access,
                                                               TimePoint now, const smime::Capabilities& capabilities);

// A new certificate for an existing mail key (same key file), advertising
// `capabilities`.
store::MailKeyRecord reissue_mail_certificate(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                              const std::string& name, const store::MailKeyRecord& key,
                                              const crypto::PublicKey& public_key, TimePoint now,
                                              const smime::Capabilities& capabilities);

// The record of the device a store is made on (init, join, restore); its
// two private keys are appended to `files`.
struct OwnDevice {
  DeviceId device_id;
  std::string name;
  store::DeviceRole role = store::DeviceRole::Admin;
  const crypto::Certificate& signature_certificate;
  const crypto::Certificate& agreement_certificate;
  const crypto::PrivateKey& signature_key;
  const crypto::PrivateKey& agreement_key;
};
store::DeviceRecord own_device_record(const OwnDevice& own, const KeyAccess& key_access, TimePoint now,
                                      std::vector<store::KeyFile>& files);

// A profile root certificate for `root_key` (self-signed), constrained to
// `addresses`, valid from `now` for kRootValidityDays. Renewing the root
// issues another for the same key, name and addresses: the fingerprint, the
// subject and the key identifier stay, so every certificate the old one
// issued verifies under the new one.
crypto::Certificate issue_root_certificate(const crypto::PrivateKey& root_key, const std::string& name,
                                           const std::vector<EmailAddress>& addresses, TimePoint now);
crypto::Certificate renew_root_certificate(const crypto::PrivateKey& root_key, const crypto::Certificate& old_root,
                                           TimePoint now);

// A device's signature and key-agreement certificates, issued by the root.
struct DeviceCertificates {
  crypto::Certificate signature;
  crypto::Certificate agreement;
};
DeviceCertificates issue_device_certificates(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                             const std::string& device_name, const crypto::PublicKey& signature_key,
                                             const crypto::PublicKey& agreement_key, TimePoint now);
// New certificates, from `now`, for a device's two existing keys and name.
DeviceCertificates renew_device_certificates(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                             const store::DeviceRecord& device, TimePoint now);

}  // namespace mailseal::profile
