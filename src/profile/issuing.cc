#include "mailseal/profile/issuing.h"

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/crypto/endorsement.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/capabilities.h"
#include "mailseal/udf/udf.h"

namespace mailseal::profile {

SuiteKeys keys_for(store::Suite suite) {
  if (suite == store::Suite::Modern) {
    return {crypto::KeyType::P256, crypto::KeyType::P256, crypto::KeyType::P256};
  }
  return {crypto::KeyType::Rsa3072, crypto::KeyType::Rsa3072, crypto::KeyType::Rsa3072};
}

namespace {

std::string compact_identifier(const crypto::PublicKey& key) {
  std::string text = key.fingerprint().to_string(kIdentifierBits);
  text.erase(std::remove(text.begin(), text.end(), '-'), text.end());
  return text;
}

}  // namespace

SecretBytes key_file_pem(const crypto::PrivateKey& key, const KeyAccess& key_access) {
  const Passphrase* passphrase = key_access.passphrase();
  if (passphrase == nullptr) {
    return key.to_pkcs8_pem();
  }
  std::string pem = key.to_encrypted_pkcs8_pem(*passphrase);
  SecretBytes out(pem.begin(), pem.end());
  secure_wipe(pem.data(), pem.size());
  return out;
}

crypto::PrivateKey read_key_file_pem(std::string_view pem, const KeyAccess& key_access) {
  return crypto::PrivateKey::from_pkcs8_pem(pem, key_access.passphrase());
}

store::KeyFile key_file(std::string_view prefix, const crypto::PrivateKey& key, const KeyAccess& key_access) {
  return store::KeyFile{fmt::format("{}-{}.pem", prefix, compact_identifier(key.public_key())),
                        key_file_pem(key, key_access)};
}

TimePoint mail_certificate_end(const crypto::Certificate& root, TimePoint now) {
  return mail_certificate_end(root.not_after(), now);
}

TimePoint mail_certificate_end(TimePoint root_not_after, TimePoint now) {
  return std::min(TimePoint(now + kDay * kMailValidityDays), root_not_after);
}

namespace {

crypto::Certificate certify_mail_key(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                     const std::string& name, const EmailAddress& address, bool signing,
                                     const crypto::PublicKey& public_key, TimePoint now,
                                     const smime::Capabilities& capabilities) {
  return crypto::issue_certificate(
      {.role = signing ? crypto::CertificateRole::MailSigning : crypto::CertificateRole::MailEncryption,
       .common_name = name,
       .addresses = {address},
       .not_before = now - kBackdating,
       .not_after = mail_certificate_end(root, now),
       .smime_capabilities = capabilities.to_der()},
      public_key, root_key, &root);
}

}  // namespace

std::pair<store::MailKeyRecord, store::KeyFile> issue_mail_key(const crypto::PrivateKey& root_key,
                                                               const crypto::Certificate& root, const std::string& name,
                                                               const EmailAddress& address, store::KeyPurpose purpose,
                                                               store::Suite suite, const KeyAccess& key_access,
                                                               TimePoint now, const smime::Capabilities& capabilities) {
  const bool signing = purpose == store::KeyPurpose::Signing;
  const SuiteKeys types = keys_for(suite);
  crypto::PrivateKey key = crypto::PrivateKey::generate(signing ? types.signing : types.encryption);
  crypto::Certificate certificate =
      certify_mail_key(root_key, root, name, address, signing, key.public_key(), now, capabilities);
  store::KeyFile file = key_file("mail", key, key_access);
  store::MailKeyRecord record{0,
                              address,
                              purpose,
                              store::KeyStatus::Current,
                              store::KeyOrigin::Profile,
                              certificate.der(),
                              {root.der()},
                              file.name,
                              certificate.key_fingerprint().to_string(udf::kFullBits),
                              now};
  return {std::move(record), std::move(file)};
}

store::MailKeyRecord reissue_mail_certificate(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                              const std::string& name, const store::MailKeyRecord& key,
                                              const crypto::PublicKey& public_key, TimePoint now,
                                              const smime::Capabilities& capabilities) {
  crypto::Certificate certificate = certify_mail_key(
      root_key, root, name, key.address, key.purpose == store::KeyPurpose::Signing, public_key, now, capabilities);
  store::MailKeyRecord record = key;
  record.id = 0;
  record.status = store::KeyStatus::Current;
  record.certificate = certificate.der();
  record.chain = {root.der()};
  record.created_at = now;
  return record;
}

crypto::Certificate issue_root_certificate(const crypto::PrivateKey& root_key, const std::string& name,
                                           const std::vector<EmailAddress>& addresses, TimePoint now) {
  return crypto::issue_certificate({.role = crypto::CertificateRole::ProfileRoot,
                                    .common_name = name,
                                    .permitted_addresses = addresses,
                                    .not_before = now - kBackdating,
                                    .not_after = now + kDay * kRootValidityDays},
                                   root_key.public_key(), root_key, nullptr);
}

crypto::Certificate renew_root_certificate(const crypto::PrivateKey& root_key, const crypto::Certificate& old_root,
                                           TimePoint now) {
  std::vector<EmailAddress> addresses;
  for (const auto& constraint : crypto::permitted_email_constraints(old_root))
    addresses.push_back(EmailAddress::parse(constraint));
  return issue_root_certificate(root_key, old_root.common_name(), addresses, now);
}

DeviceCertificates issue_device_certificates(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                             const std::string& device_name, const crypto::PublicKey& signature_key,
                                             const crypto::PublicKey& agreement_key, TimePoint now) {
  const auto until = now + kDay * kDeviceValidityDays;
  return {crypto::issue_certificate({.role = crypto::CertificateRole::DeviceSignature,
                                     .common_name = device_name,
                                     .not_before = now - kBackdating,
                                     .not_after = until},
                                    signature_key, root_key, &root),
          crypto::issue_certificate({.role = crypto::CertificateRole::DeviceKeyAgreement,
                                     .common_name = device_name,
                                     .not_before = now - kBackdating,
                                     .not_after = until},
                                    agreement_key, root_key, &root)};
}

store::DeviceRecord own_device_record(const OwnDevice& own, const KeyAccess& key_access, TimePoint now,
                                      std::vector<store::KeyFile>& files) {
  store::DeviceRecord device;
  device.device_id = own.device_id;
  device.name = own.name;
  device.role = own.role;
  device.is_this_device = true;
  device.signature_certificate = own.signature_certificate.der();
  device.agreement_certificate = own.agreement_certificate.der();
  files.push_back(key_file("device-signature", own.signature_key, key_access));
  device.signature_key_file = files.back().name;
  files.push_back(key_file("device-agreement", own.agreement_key, key_access));
  device.agreement_key_file = files.back().name;
  device.created_at = now;
  return device;
}

DeviceCertificates renew_device_certificates(const crypto::PrivateKey& root_key, const crypto::Certificate& root,
                                             const store::DeviceRecord& device, TimePoint now) {
  return issue_device_certificates(root_key, root, device.name,
                                   crypto::Certificate::from_der(device.signature_certificate).public_key(),
                                   crypto::Certificate::from_der(device.agreement_certificate).public_key(), now);
}

}  // namespace mailseal::profile
