// The profile's mail keys in and out of PKCS#12 files, for other mail
// clients and from public CAs.

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/profile/profile.h"

namespace mailseal::profile {

namespace {

std::string_view purpose_label(store::KeyPurpose purpose) {
  switch (purpose) {
    case store::KeyPurpose::Signing:
      return "signing";
    case store::KeyPurpose::Encryption:
      return "encryption";
    case store::KeyPurpose::Both:
      return "signing and encryption";
  }
  return "";
}

}  // namespace

std::vector<std::pair<store::MailKeyRecord, crypto::Pkcs12Identity>> Profile::current_identities(
    const std::optional<EmailAddress>& address, const std::optional<store::KeyPurpose>& purpose,
    const KeyAccess& key_access) {
  auto profile = store_.profile();
  if (address && std::find(profile.addresses.begin(), profile.addresses.end(), *address) == profile.addresses.end()) {
    throw Error(ErrorCode::NotFound, fmt::format("{} is not an address of this profile", address->str()));
  }
  std::vector<std::pair<store::MailKeyRecord, crypto::Pkcs12Identity>> out;
  for (auto& key : store_.mail_keys(address)) {
    if (key.status != store::KeyStatus::Current) {
      continue;
    }
    if (purpose && key.purpose != *purpose && key.purpose != store::KeyPurpose::Both) {
      continue;
    }
    crypto::Certificate certificate = crypto::Certificate::from_der(key.certificate);
    std::vector<crypto::Certificate> chain;
    for (const auto& der : key.chain) {
      chain.push_back(crypto::Certificate::from_der(der));
    }
    crypto::Pkcs12Identity identity{load_key(key.key_file, key_access), certificate, chain,
                                    fmt::format("{} ({})", key.address.str(), purpose_label(key.purpose))};
    out.emplace_back(std::move(key), std::move(identity));
  }
  if (out.empty()) {
    throw Error(ErrorCode::NotFound, "this profile has no current mail keys to export");
  }
  return out;
}

Bytes Profile::export_pkcs12(const std::optional<EmailAddress>& address,
                             const std::optional<store::KeyPurpose>& purpose, const Passphrase& password,
                             crypto::Pkcs12Protection protection, const KeyAccess& key_access) {
  std::vector<crypto::Pkcs12Identity> identities;
  for (auto& [record, identity] : current_identities(address, purpose, key_access))
    identities.push_back(std::move(identity));
  return crypto::write_pkcs12(identities, password, protection);
}

std::vector<Pkcs12Export> Profile::export_pkcs12_per_key(const Passphrase& password,
                                                         crypto::Pkcs12Protection protection,
                                                         const KeyAccess& key_access) {
  std::vector<Pkcs12Export> out;
  for (auto& [record, identity] : current_identities(std::nullopt, std::nullopt, key_access)) {
    crypto::Certificate certificate = identity.certificate;
    std::string name = identity.friendly_name;
    Bytes data = crypto::write_pkcs12(std::span(&identity, 1), password, protection);
    out.push_back(
        Pkcs12Export{record.address, record.purpose, std::move(certificate), std::move(name), std::move(data)});
  }
  return out;
}

std::vector<ImportedKey> Profile::import_pkcs12(ByteView data, const Passphrase& password, const KeyAccess& key_access,
                                                TimePoint now) {
  auto profile = store_.profile();
  const KeyAccess new_files = access_for_new_key_files(key_access);
  crypto::Pkcs12Contents contents = crypto::read_pkcs12(data, password);
  if (contents.identities.empty()) {
    throw Error(ErrorCode::NotFound, "the PKCS#12 holds no private key");
  }
  std::vector<Bytes> stored;
  for (const auto& key : store_.mail_keys()) {
    stored.push_back(key.certificate);
  }
  std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
  std::vector<ImportedKey> imported;
  for (const auto& identity : contents.identities) {
    const crypto::Certificate& certificate = identity.certificate;
    auto names = certificate.email_addresses();
    auto address = std::find_if(names.begin(), names.end(), [&](const EmailAddress& name) {
      return std::find(profile.addresses.begin(), profile.addresses.end(), name) != profile.addresses.end();
    });
    if (address == names.end()) {
      std::string named = names.empty() ? std::string("no address") : names.front().str();
      throw Error(ErrorCode::RejectedByPolicy,
                  fmt::format("the certificate '{}' is for {}, not for an address of this profile",
                              certificate.subject(), named),
                  "create a profile for that address with 'mailseal init' in another --home");
    }
    bool signs = certificate.can_sign_mail();
    bool encrypts = certificate.can_encrypt_mail();
    if (!signs && !encrypts) {
      throw Error(
          ErrorCode::RejectedByPolicy,
          fmt::format("the certificate '{}' allows neither signing nor encrypting email", certificate.subject()));
    }
    Bytes der = certificate.der();
    if (std::find(stored.begin(), stored.end(), der) != stored.end()) {
      throw Error(ErrorCode::AlreadyExists,
                  fmt::format("the certificate '{}' is in this profile already", certificate.subject()));
    }
    store::KeyPurpose purpose = signs && encrypts ? store::KeyPurpose::Both
                                : signs           ? store::KeyPurpose::Signing
                                                  : store::KeyPurpose::Encryption;
    std::vector<Bytes> chain;
    for (const auto& link : identity.chain) {
      chain.push_back(link.der());
    }
    store::MailKeyRecord record{0,
                                *address,
                                purpose,
                                store::KeyStatus::Current,
                                store::KeyOrigin::Imported,
                                der,
                                chain,
                                "",
                                certificate.key_fingerprint().to_string(udf::kFullBits),
                                now};
    additions.emplace_back(std::move(record), key_file("imported", identity.key, new_files));
    imported.push_back({*address, purpose, certificate, identity.chain.size()});
    stored.push_back(der);
  }
  store_.add_mail_keys(additions);
  return imported;
}

}  // namespace mailseal::profile
