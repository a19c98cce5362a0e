#include "mailseal/profile/profile.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/smime/capabilities.h"

namespace mailseal::profile {

namespace {

std::string default_device_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') {
    return name;
  }
  return "this device";
}

void check_addresses(const std::vector<EmailAddress>& addresses) {
  if (addresses.empty()) {
    throw Error(ErrorCode::Usage, "a profile needs at least one email address");
  }
  std::set<EmailAddress> unique(addresses.begin(), addresses.end());
  if (unique.size() != addresses.size()) {
    throw Error(ErrorCode::Usage, "an address is given twice");
  }
}

}  // namespace

Profile Profile::create(const std::filesystem::path& home, const InitOptions& options, TimePoint now) {
  check_addresses(options.addresses);
  if (store::LocalStore::exists(home)) {
    throw Error(ErrorCode::AlreadyExists, fmt::format("a mailseal profile exists already in {}", home.string()),
                "use --home DIR to create another one elsewhere");
  }
  const SuiteKeys suite_keys = keys_for(options.suite);
  const std::string name = options.name.empty() ? options.addresses.front().str() : options.name;
  const std::string device_name = options.device_name.empty() ? default_device_name() : options.device_name;

  // The profile root.
  crypto::PrivateKey root_key = crypto::PrivateKey::generate(suite_keys.root);
  crypto::Certificate root = issue_root_certificate(root_key, name, options.addresses, now);
  std::vector<store::KeyFile> files;
  store::ProfileRecord profile;
  profile.fingerprint = keyservice::profile_fingerprint_of(root);
  profile.name = name;
  profile.suite = options.suite;
  profile.addresses = options.addresses;
  profile.root_certificate = root.der();
  files.push_back(key_file("root", root_key, options.key_access));
  profile.root_key_file = files.back().name;
  profile.keys_encrypted = options.key_access.encrypted();
  profile.created_at = now;

  // This device: a signature key and a key-agreement key (P-256; only
  // mailseal itself uses them), certified by the root.
  crypto::PrivateKey device_signature = crypto::PrivateKey::generate(crypto::KeyType::P256);
  crypto::PrivateKey device_agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  DeviceCertificates certificates = issue_device_certificates(
      root_key, root, device_name, device_signature.public_key(), device_agreement.public_key(), now);
  store::DeviceRecord device =
      own_device_record({keyservice::device_id_of(device_signature.public_key()), device_name, store::DeviceRole::Admin,
                         certificates.signature, certificates.agreement, device_signature, device_agreement},
                        options.key_access, now, files);

  // Per address: a signing and an encryption key, S/MIME certificates by the root.
  std::vector<store::MailKeyRecord> mail_keys;
  for (const auto& address : options.addresses) {
    for (auto purpose : {store::KeyPurpose::Signing, store::KeyPurpose::Encryption}) {
      auto [record, file] = issue_mail_key(root_key, root, name, address, purpose, options.suite, options.key_access,
                                           now, smime::Capabilities::mailseal());
      files.push_back(std::move(file));
      mail_keys.push_back(std::move(record));
    }
  }
  return Profile(store::LocalStore::create(home, profile, device, mail_keys, files));
}

Profile Profile::open(const std::filesystem::path& home) {
  return Profile(store::LocalStore::open(home));
}

udf::Fingerprint Profile::fingerprint() {
  return udf::Fingerprint::parse(store_.profile().fingerprint.str());
}

crypto::Certificate Profile::root_certificate() {
  return crypto::Certificate::from_der(store_.profile().root_certificate);
}

std::vector<EmailAddress> Profile::addresses() {
  return store_.profile().addresses;
}

std::vector<udf::StrongAddress> Profile::strong_addresses() {
  auto profile = store_.profile();
  auto fingerprint = udf::Fingerprint::parse(profile.fingerprint.str());
  std::vector<udf::StrongAddress> out;
  for (const auto& address : profile.addresses) {
    out.push_back(udf::StrongAddress{address, fingerprint});
  }
  return out;
}

ProfileStatus Profile::status() {
  auto profile = store_.profile();
  ProfileStatus status{udf::Fingerprint::parse(profile.fingerprint.str()),
                       profile.name,
                       profile.suite,
                       profile.addresses,
                       {},
                       {},
                       profile.keys_encrypted};
  for (const auto& device : store_.devices()) {
    status.devices.push_back({device.device_id, device.name, device.role, device.status, device.is_this_device});
  }
  for (const auto& key : store_.mail_keys()) {
    status.mail_keys.push_back(
        {key.address, key.purpose, key.status, key.origin, crypto::Certificate::from_der(key.certificate)});
  }
  return status;
}

bool Profile::has_address(const EmailAddress& address) {
  auto addresses = store_.profile().addresses;
  return std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

bool Profile::keys_encrypted() {
  return store_.profile().keys_encrypted;
}

bool Profile::holds_root() {
  return !store_.profile().root_key_file.empty();
}

crypto::PrivateKey Profile::root_key(const KeyAccess& key_access) {
  if (!holds_root()) {
    throw Error(ErrorCode::NotFound, "this device does not hold the profile root",
                "do this on an admin device (the one the profile was made on, or one restored from recovery shares)");
  }
  return load_key(store_.profile().root_key_file, key_access);
}

crypto::Certificate Profile::rotation_statement(const crypto::Certificate& successor, const KeyAccess& key_access,
                                                TimePoint now) {
  using namespace std::chrono_literals;
  crypto::Certificate root = root_certificate();
  if (!keyservice::is_profile_root(successor)) {
    throw Error(ErrorCode::Usage, "the successor must be a profile root (a self-signed CA certificate)",
                "on the new profile, 'mailseal export certificates' writes its root last");
  }
  if (successor.key_fingerprint().matches(root.key_fingerprint())) {
    throw Error(ErrorCode::Usage, "that is this profile's own root");
  }
  crypto::EndorsementTerms terms;
  terms.kind = crypto::EndorsementTerms::Kind::Rotation;
  terms.amount = crypto::kFullEndorsementAmount;
  terms.depth = 0;
  terms.addresses = addresses();
  return crypto::issue_endorsement(successor, root_key(key_access), root, terms, now - 1h, root.not_after());
}

crypto::RevocationList Profile::root_revocation(const KeyAccess& key_access, TimePoint now) {
  crypto::Certificate root = root_certificate();
  return crypto::issue_revocation_list(root_key(key_access), root, {root.serial_hex()}, now);
}

namespace {

bool can_sign(store::KeyPurpose purpose) {
  return purpose != store::KeyPurpose::Encryption;
}
bool can_encrypt(store::KeyPurpose purpose) {
  return purpose != store::KeyPurpose::Signing;
}

std::vector<crypto::Certificate> chain_of(const store::MailKeyRecord& record) {
  std::vector<crypto::Certificate> chain;
  for (const auto& der : record.chain)
    chain.push_back(crypto::Certificate::from_der(der));
  return chain;
}

// The profile's own keys first, then imported ones; newest first within each.
std::vector<store::MailKeyRecord> preferred_order(std::vector<store::MailKeyRecord> keys) {
  std::stable_sort(keys.begin(), keys.end(), [](const store::MailKeyRecord& a, const store::MailKeyRecord& b) {
    if (a.origin != b.origin)
      return a.origin == store::KeyOrigin::Profile;
    return a.id > b.id;
  });
  return keys;
}

}  // namespace

MailKey Profile::signing_key(const EmailAddress& address, const KeyAccess& key_access) {
  if (!has_address(address)) {
    throw Error(ErrorCode::NotFound, fmt::format("{} is not an address of this profile", address.str()),
                "send from one of the addresses 'mailseal status' lists");
  }
  for (const auto& record : preferred_order(store_.mail_keys(address))) {
    if (record.status == store::KeyStatus::Current && can_sign(record.purpose)) {
      return MailKey{signing_private_key(record.key_file, key_access),
                     crypto::Certificate::from_der(record.certificate), chain_of(record)};
    }
  }
  throw Error(ErrorCode::NotFound, fmt::format("this device holds no signing key for {}", address.str()),
              "a device with the read role cannot sign");
}

crypto::Certificate Profile::encryption_certificate(const EmailAddress& address) {
  for (const auto& record : preferred_order(store_.mail_keys(address))) {
    if (record.status == store::KeyStatus::Current && can_encrypt(record.purpose)) {
      return crypto::Certificate::from_der(record.certificate);
    }
  }
  throw Error(ErrorCode::NotFound, fmt::format("this profile has no encryption certificate for {}", address.str()));
}

std::vector<MailKey> Profile::decryption_keys(const KeyAccess& key_access) {
  std::vector<MailKey> keys;
  for (const auto& record : preferred_order(store_.mail_keys())) {
    if (can_encrypt(record.purpose)) {
      keys.push_back(MailKey{load_key(record.key_file, key_access), crypto::Certificate::from_der(record.certificate),
                             chain_of(record)});
    }
  }
  return keys;
}

std::vector<crypto::Certificate> Profile::current_mail_certificates() {
  std::vector<crypto::Certificate> out;
  for (const auto& key : store_.mail_keys()) {
    if (key.status == store::KeyStatus::Current && key.origin == store::KeyOrigin::Profile) {
      out.push_back(crypto::Certificate::from_der(key.certificate));
    }
  }
  return out;
}

crypto::PrivateKey Profile::load_key(const std::string& file, const KeyAccess& key_access) {
  SecretBytes pem = store_.read_key_file(file);
  return read_key_file_pem(as_string_view(pem), key_access);
}

namespace {

// Both without a passphrase, or both with the same one.
bool same_access(const KeyAccess& a, const KeyAccess& b) {
  if (a.encrypted() != b.encrypted())
    return false;
  return !a.encrypted() || constant_time_equal(as_bytes(a.passphrase()->view()), as_bytes(b.passphrase()->view()));
}

}  // namespace

crypto::PrivateKey Profile::signing_private_key(const std::string& file, const KeyAccess& key_access) {
  SecretBytes pem = store_.read_key_file(file);
  const DecodedKey* kept = decoded_signing_key_ ? &*decoded_signing_key_ : nullptr;
  if (kept && kept->file == file && constant_time_equal(kept->pem, pem) && same_access(kept->access, key_access))
    return kept->key.share();
  decoded_signing_key_.reset();
  crypto::PrivateKey key = read_key_file_pem(as_string_view(pem), key_access);
  decoded_signing_key_.emplace(DecodedKey{file, std::move(pem), key_access, key.share()});
  return key;
}

KeyAccess Profile::access_for_new_key_files(const KeyAccess& key_access) {
  if (!keys_encrypted()) {
    return KeyAccess::unencrypted();
  }
  if (!key_access.encrypted()) {
    throw Error(ErrorCode::BadPassword, "the keys of this profile are encrypted and no passphrase was given",
                "give the passphrase with --passphrase-file FILE or MAILSEAL_PASSPHRASE");
  }
  return key_access;
}

namespace {

bool is_own_encryption_key(const store::MailKeyRecord& key) {
  return key.origin == store::KeyOrigin::Profile && key.status == store::KeyStatus::Current &&
         key.purpose != store::KeyPurpose::Signing;
}

smime::Capabilities advertised_by(const store::MailKeyRecord& key) {
  return smime::Capabilities::of_certificate_extension(
      crypto::Certificate::from_der(key.certificate).smime_capabilities());
}

}  // namespace

bool Profile::advertises(const smime::Capabilities& capabilities) {
  for (const auto& key : store_.mail_keys()) {
    if (is_own_encryption_key(key) && !(advertised_by(key) == capabilities))
      return false;
  }
  return true;
}

std::vector<crypto::Certificate> Profile::advertise_capabilities(const smime::Capabilities& capabilities,
                                                                 const KeyAccess& key_access, TimePoint now) {
  if (!holds_root()) {
    throw Error(ErrorCode::RejectedByPolicy, "only an admin device can issue certificates",
                "run this on an admin device; the other devices get the certificates with 'mailseal sync'");
  }
  crypto::PrivateKey issuer_key = root_key(key_access);
  crypto::Certificate root = root_certificate();
  auto record = store_.profile();
  std::vector<crypto::Certificate> issued;
  store::Transaction transaction(store_.database());
  for (const auto& key : store_.mail_keys()) {
    if (!is_own_encryption_key(key) || advertised_by(key) == capabilities)
      continue;
    crypto::PublicKey public_key = crypto::Certificate::from_der(key.certificate).public_key();
    store::MailKeyRecord renewed =
        reissue_mail_certificate(issuer_key, root, record.name, key, public_key, now, capabilities);
    store_.set_mail_key_status(key.id, store::KeyStatus::Archived);
    store_.add_mail_certificate(renewed);
    issued.push_back(crypto::Certificate::from_der(renewed.certificate));
  }
  transaction.commit();
  return issued;
}

std::string_view to_string(RenewalState state) {
  switch (state) {
    case RenewalState::Valid:
      return "valid";
    case RenewalState::Due:
      return "due";
    case RenewalState::Expired:
      return "expired";
  }
  return "valid";
}

TimePoint renewal_due_at(const crypto::Validity& validity) {
  const auto lifetime = validity.not_after - validity.not_before;
  return validity.not_after - lifetime / kRenewalFraction;
}

RenewalState renewal_state(const crypto::Validity& validity, TimePoint now) {
  if (now >= validity.not_after)
    return RenewalState::Expired;
  if (now >= renewal_due_at(validity))
    return RenewalState::Due;
  return RenewalState::Valid;
}

namespace {

bool is_own_current_key(const store::MailKeyRecord& key) {
  return key.origin == store::KeyOrigin::Profile && key.status == store::KeyStatus::Current;
}

// Due at `now`, and a certificate issued now would last longer than this one.
bool renewable(const store::MailKeyRecord& key, TimePoint root_not_after, TimePoint now) {
  if (!is_own_current_key(key))
    return false;
  // Read the validity alone: this runs for every key on every command.
  const crypto::Validity validity = crypto::read_validity(key.certificate);
  return renewal_state(validity, now) != RenewalState::Valid &&
         mail_certificate_end(root_not_after, now) > validity.not_after;
}

}  // namespace

std::vector<CertificateExpiry> Profile::certificate_expiry(TimePoint now) {
  crypto::Certificate root = root_certificate();
  std::vector<CertificateExpiry> out{{std::nullopt, std::nullopt, root.not_after(), renewal_due_at(root.validity()),
                                      renewal_state(root.validity(), now)}};
  for (const auto& key : store_.mail_keys()) {
    if (!is_own_current_key(key))
      continue;
    crypto::Certificate certificate = crypto::Certificate::from_der(key.certificate);
    out.push_back({key.address, key.purpose, certificate.not_after(), renewal_due_at(certificate.validity()),
                   renewal_state(certificate.validity(), now)});
  }
  return out;
}

namespace {

bool root_due(const crypto::Certificate& root, TimePoint now) {
  return renewal_state(root.validity(), now) != RenewalState::Valid;
}

// An active device's certificates (five years) renew like mail certificates,
// for the same keys; a removed device's are revoked and stay as they are.
bool device_due(const store::DeviceRecord& device, TimePoint now) {
  if (device.status != store::DeviceStatus::Active)
    return false;
  return renewal_state(crypto::read_validity(device.signature_certificate), now) != RenewalState::Valid ||
         renewal_state(crypto::read_validity(device.agreement_certificate), now) != RenewalState::Valid;
}

// The root, for its own key (docs/profile.md, "The root's renewal"): the
// new certificate, or the old one when it was not due.
crypto::Certificate renew_root_if_due(store::LocalStore& store, const crypto::PrivateKey& root_key,
                                      crypto::Certificate root, TimePoint now,
                                      std::vector<crypto::Certificate>& issued) {
  if (!root_due(root, now))
    return root;
  crypto::Certificate renewed = renew_root_certificate(root_key, root, now);
  store.set_root_certificate(renewed.der());
  issued.push_back(renewed);
  return renewed;
}

void renew_due_devices(store::LocalStore& store, const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                       TimePoint now, std::vector<crypto::Certificate>& issued) {
  for (const auto& device : store.devices()) {
    if (!device_due(device, now))
      continue;
    DeviceCertificates renewed = renew_device_certificates(root_key, root, device, now);
    store.set_device_certificates(device.device_id, renewed.signature.der(), renewed.agreement.der());
    issued.push_back(std::move(renewed.signature));
    issued.push_back(std::move(renewed.agreement));
  }
}

void renew_due_mail_certificates(store::LocalStore& store, const crypto::PrivateKey& root_key,
                                 const crypto::Certificate& root, const std::string& name, TimePoint now,
                                 std::vector<crypto::Certificate>& issued) {
  for (const auto& key : store.mail_keys()) {
    if (!renewable(key, root.not_after(), now))
      continue;
    // The same key: every device holds it already, and correspondents who
    // still have the old certificate encrypt to a key all devices read.
    crypto::Certificate old = crypto::Certificate::from_der(key.certificate);
    auto capabilities = smime::Capabilities::of_certificate_extension(old.smime_capabilities());
    store::MailKeyRecord renewed =
        reissue_mail_certificate(root_key, root, name, key, old.public_key(), now,
                                 capabilities.advertised ? capabilities : smime::Capabilities::mailseal());
    store.set_mail_key_status(key.id, store::KeyStatus::Archived);
    store.add_mail_certificate(renewed);
    issued.push_back(crypto::Certificate::from_der(renewed.certificate));
  }
}

}  // namespace

bool Profile::renewal_due(TimePoint now) {
  // The root's validity alone, as for the keys below: decoding a certificate
  // (OpenSSL 3.0 sets up its decoders for the public key) was a sixth of a
  // small signature's time in the resident's child (bench/smime_profile.md).
  const crypto::Validity root = crypto::read_validity(store_.profile().root_certificate);
  if (renewal_state(root, now) != RenewalState::Valid)
    return true;
  // Another device's certificates are this one's concern only where they
  // can be renewed: on a device holding the root.
  auto devices = store_.devices();
  const bool admin = holds_root();
  if (std::any_of(devices.begin(), devices.end(), [&](const store::DeviceRecord& device) {
        return (admin || device.is_this_device) && device_due(device, now);
      }))
    return true;
  auto keys = store_.mail_keys();
  return std::any_of(keys.begin(), keys.end(),
                     [&](const store::MailKeyRecord& key) { return renewable(key, root.not_after, now); });
}

std::vector<crypto::Certificate> Profile::renew_certificates(const KeyAccess& key_access, TimePoint now) {
  if (!renewal_due(now))
    return {};
  if (!holds_root()) {
    throw Error(ErrorCode::RejectedByPolicy, "only an admin device can renew certificates",
                "the admin device renews them on its next 'mailseal sync' (or in its gateway); this device then "
                "gets them with 'mailseal sync'");
  }
  crypto::PrivateKey issuer_key = root_key(key_access);
  std::vector<crypto::Certificate> issued;
  store::Transaction transaction(store_.database());
  // The root first: what it issues next lasts as long as the renewed root allows.
  crypto::Certificate root = renew_root_if_due(store_, issuer_key, root_certificate(), now, issued);
  renew_due_devices(store_, issuer_key, root, now, issued);
  renew_due_mail_certificates(store_, issuer_key, root, store_.profile().name, now, issued);
  transaction.commit();
  return issued;
}

crypto::Certificate rotation_successor(ByteView certificates) {
  std::optional<crypto::Certificate> successor;
  for (auto& certificate : crypto::Certificate::read_all(certificates)) {
    if (keyservice::is_profile_root(certificate)) {
      successor = std::move(certificate);
    }
  }
  if (!successor) {
    throw Error(ErrorCode::Usage, "the file holds no profile root",
                "on the new profile, 'mailseal export certificates' writes its root last");
  }
  return std::move(*successor);
}

}  // namespace mailseal::profile
