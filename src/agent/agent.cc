#include "mailseal/agent/agent.h"

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/contacts/contacts.h"

namespace mailseal::agent {

namespace {

// What a signature carries besides the signing certificate: the chain and the
// sender's encryption certificate (RFC 8551 section 2.5.3: how recipients
// learn where to encrypt replies).
std::vector<crypto::Certificate> certificates_to_include(devices::Profile& profile, const EmailAddress& sender,
                                                         const devices::MailKey& key) {
  std::vector<crypto::Certificate> certificates = key.chain;
  try {
    crypto::Certificate encryption = profile.encryption_certificate(sender);
    if (!(encryption == key.certificate))
      certificates.push_back(encryption);
  } catch (const Error&) {
    // A profile without an encryption key for this address still signs.
  }
  return certificates;
}

}  // namespace

void sign(devices::Profile& profile, const Passphrase* passphrase, smime::OutgoingMessage& message,
          smime::ByteSink& out, smime::SignatureForm form) {
  const EmailAddress sender = message.from();
  devices::MailKey key = profile.signing_key(sender, passphrase);
  smime::SignerIdentity signer{&key.key, key.certificate, certificates_to_include(profile, sender, key)};
  smime::sign_message(message, out, signer, form);
}

EncryptReport encrypt(devices::Profile& profile, const Passphrase* passphrase, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, bool sign) {
  const EmailAddress sender = message.from();
  if (!profile.has_address(sender)) {
    throw Error(ErrorCode::NotFound, fmt::format("{} is not an address of this profile", sender.str()),
                "send from one of the addresses 'mailseal status' lists");
  }
  std::vector<EmailAddress> addresses = to.empty() ? message.recipients() : to;
  if (addresses.empty()) {
    throw Error(ErrorCode::Usage, "the message has no recipients", "add To/Cc lines or give --to ADDRESS");
  }
  const auto now = crypto::now();
  std::vector<smime::EncryptionRecipient> recipients;
  std::vector<std::string> missing;
  EncryptReport report;
  for (const auto& address : addresses) {
    if (profile.has_address(address))
      continue;  // the sender's own key is added below
    auto contact = contacts::encryption_certificate(profile.store(), address, now);
    if (!contact) {
      missing.push_back(address.str());
      continue;
    }
    recipients.push_back({contact->certificate, contact->capabilities});
    report.recipients.push_back(address);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& name : missing)
      list += (list.empty() ? "" : ", ") + name;
    throw Error(ErrorCode::NoMatchingKey,
                fmt::format("no usable encryption certificate for {}; nothing was written", list),
                "import their certificate or a signed message from them with 'mailseal contact import FILE'");
  }
  // The sender reads their own sent mail; mailseal profiles read AES-GCM.
  recipients.push_back({profile.encryption_certificate(sender), smime::Capabilities::mailseal()});
  report.recipients.push_back(sender);
  report.choice = smime::choose_encryption(recipients);

  std::vector<crypto::Certificate> certificates;
  for (const auto& recipient : recipients) {
    if (std::find(certificates.begin(), certificates.end(), recipient.certificate) == certificates.end()) {
      certificates.push_back(recipient.certificate);
    }
  }
  std::optional<devices::MailKey> key;
  std::optional<smime::SignerIdentity> signer;
  if (sign) {
    key.emplace(profile.signing_key(sender, passphrase));
    signer.emplace(smime::SignerIdentity{&key->key, key->certificate, certificates_to_include(profile, sender, *key)});
  }
  smime::encrypt_message(message, out, {certificates, signer ? &*signer : nullptr, report.choice});
  report.signed_message = sign;
  return report;
}

namespace {

// Loads the profile's keys the first time an encryption layer asks for them.
class ProfileKeys : public smime::KeyProvider {
 public:
  ProfileKeys(devices::Profile* profile, const Passphrase* passphrase) : profile_(profile), passphrase_(passphrase) {}

  std::span<const smime::DecryptionKey> keys() override {
    if (profile_ == nullptr) {
      throw Error(ErrorCode::NoMatchingKey, "the message is encrypted and there is no profile to decrypt it with",
                  "point to your profile with --home DIR");
    }
    if (!loaded_) {
      keys_ = profile_->decryption_keys(passphrase_);
      for (const auto& key : keys_)
        decryption_.push_back({&key.key, key.certificate});
      loaded_ = true;
    }
    return decryption_;
  }

 private:
  devices::Profile* profile_;
  const Passphrase* passphrase_;
  bool loaded_ = false;
  std::vector<devices::MailKey> keys_;
  std::vector<smime::DecryptionKey> decryption_;
};

}  // namespace

smime::ReadResult read(devices::Profile* profile, const Passphrase* passphrase, ByteView message,
                       const smime::Policy& policy) {
  ProfileKeys keys(profile, passphrase);
  return smime::read_message(message, keys, policy);
}

}  // namespace mailseal::agent
