#include "mailseal/agent/agent.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/internal/rehearsal.h"
#include "mailseal/common/error.h"
#include "mailseal/contacts/contacts.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/devices/connect.h"
#include "mailseal/mime/mime.h"
#include "mailseal/store/sqlite.h"
#include "mailseal/udf/udf.h"

namespace mailseal::agent {

void warm_up() {
  crypto::warm_up();
  mime::warm_up();
  store::warm_up();
}

void prepare_child() {
  // The first draw instantiates the generators (fetching the DRBG and its
  // seed source, seeding from getrandom); the byte itself is not used.
  crypto::random_bytes(1);
}

void rehearse(TimePoint now, const std::function<bool()>& command_came) {
  // Made here, in the child: the resident process draws no random bytes.
  const Rehearsal rehearsal = make_rehearsal(now);
  if (!command_came())
    rehearse_a_signature(rehearsal, command_came);
}

namespace {

// What a signature carries besides the signing certificate: the chain and the
// sender's encryption certificate (RFC 8551 section 2.5.3: how recipients
// learn where to encrypt replies).
std::vector<crypto::Certificate> certificates_to_include(profile::Profile& profile, const EmailAddress& sender,
                                                         const profile::MailKey& key) {
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

// What the sender reads: what their own encryption certificate advertises
// (a profile whose keys also live in Thunderbird or Outlook asks for CBC).
smime::Capabilities own_capabilities(profile::Profile& profile, const EmailAddress& sender) {
  try {
    auto advertised =
        smime::Capabilities::of_certificate_extension(profile.encryption_certificate(sender).smime_capabilities());
    if (advertised.advertised)
      return advertised;
  } catch (const Error&) {
    // No encryption key for this address: nothing narrower to say.
  }
  return smime::Capabilities::mailseal();
}

smime::SignerIdentity signer_identity(profile::Profile& profile, const EmailAddress& sender,
                                      const profile::MailKey& key, TimePoint now) {
  return smime::SignerIdentity{&key.key, key.certificate, certificates_to_include(profile, sender, key),
                               own_capabilities(profile, sender), now};
}

}  // namespace

void sign(profile::Profile& profile, const KeyAccess& key_access, smime::OutgoingMessage& message, smime::ByteSink& out,
          smime::SignatureForm form, TimePoint now) {
  const EmailAddress sender = message.from();
  profile::MailKey key = profile.signing_key(sender, key_access);
  smime::sign_message(message, out, signer_identity(profile, sender, key, now), form, now);
}

contacts::Evaluator evaluator(profile::Profile& profile) {
  return contacts::Evaluator{Identity{profile.root_certificate().key_fingerprint().to_string(udf::kFullBits)},
                             profile.addresses()};
}

std::vector<EmailAddress> EncryptReport::unvouched() const {
  std::vector<EmailAddress> out;
  for (const auto& recipient : trust) {
    if (recipient.verdict.level == trust::Level::None)
      out.push_back(recipient.address);
  }
  return out;
}

namespace {

// AES-256-GCM was asked for: every recipient (aligned with `addresses`) must
// advertise it, else nothing is written.
void require_gcm(const std::vector<smime::EncryptionRecipient>& recipients, const std::vector<EmailAddress>& addresses) {
  std::vector<std::string> lacking;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (!recipients[i].capabilities.aes256_gcm)
      lacking.push_back(addresses[i].str());
  }
  if (!lacking.empty()) {
    throw Error(ErrorCode::Unsupported,
                fmt::format("AES-256-GCM was asked for, but {} advertise{} no AES-256-GCM; nothing was written",
                            fmt::join(lacking, ", "), lacking.size() == 1 ? "s" : ""),
                "leave out --gcm: AES-256-CBC is what every client reads");
  }
}

}  // namespace

EncryptReport encrypt(profile::Profile& profile, const KeyAccess& key_access, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, bool sign, TimePoint now) {
  return encrypt(profile, key_access, message, out, to, EncryptSettings{sign}, now);
}

EncryptReport encrypt(profile::Profile& profile, const KeyAccess& key_access, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, const EncryptSettings& settings,
                      TimePoint now) {
  const EmailAddress sender = message.from();
  if (!profile.has_address(sender)) {
    throw Error(ErrorCode::NotFound, fmt::format("{} is not an address of this profile", sender.str()),
                "send from one of the addresses 'mailseal status' lists");
  }
  std::vector<EmailAddress> addresses = to.empty() ? message.recipients() : to;
  if (addresses.empty()) {
    throw Error(ErrorCode::Usage, "the message has no recipients", "add To/Cc lines or give --to ADDRESS");
  }
  const contacts::Evaluator me = evaluator(profile);
  std::vector<smime::EncryptionRecipient> recipients;
  std::vector<std::string> missing;
  std::vector<std::string> refused;
  std::string resolve_hint;
  EncryptReport report;
  for (const auto& address : addresses) {
    if (profile.has_address(address))
      continue;  // the sender's own key is added below
    auto recipient = contacts::choose_recipient(profile.store(), me, address, now);
    if (!recipient) {
      missing.push_back(address.str());
      continue;
    }
    const trust::Verdict& verdict = recipient->trust.verdict;
    if (verdict.level == trust::Level::Conflict || verdict.level == trust::Level::Revoked) {
      refused.push_back(fmt::format("{} ({})", address.str(), trust::to_string(verdict.level)));
      if (resolve_hint.empty()) {
        resolve_hint = verdict.level == trust::Level::Conflict
                           ? fmt::format(
                                 "see 'mailseal trust {0}', then settle it with 'mailseal contact accept {0} "
                                 "FINGERPRINT' or a pin once you have compared fingerprints with them",
                                 address.str())
                           : fmt::format(
                                 "their certificate was revoked; ask them for their new one and import it "
                                 "with 'mailseal contact import FILE'");
      }
      continue;
    }
    recipients.push_back({recipient->contact.certificate, recipient->contact.capabilities});
    report.recipients.push_back(address);
    report.trust.push_back({address, verdict});
  }
  if (!missing.empty()) {
    throw Error(ErrorCode::NoMatchingKey,
                fmt::format("no usable encryption certificate for {}; nothing was written", fmt::join(missing, ", ")),
                "import their certificate or a signed message from them with 'mailseal contact import FILE'");
  }
  if (!refused.empty()) {
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("not encrypting to {}; nothing was written", fmt::join(refused, ", ")), resolve_hint);
  }
  // The sender reads their own sent mail, with what their certificate says they read.
  recipients.push_back({profile.encryption_certificate(sender), own_capabilities(profile, sender)});
  report.recipients.push_back(sender);
  report.choice = smime::choose_encryption(recipients, settings.cipher);
  if (settings.cipher == smime::CipherPolicy::Authenticated)
    require_gcm(recipients, report.recipients);

  std::vector<crypto::Certificate> certificates;
  // A certificate that still advertises AES-GCM is one mailseal re-issues (same key) when its owner sets up a
  // client without GCM: named by key identifier too, the key is found with the new one (docs/smime.md).
  std::vector<crypto::Certificate> by_key_id;
  for (const auto& recipient : recipients) {
    if (std::find(certificates.begin(), certificates.end(), recipient.certificate) == certificates.end()) {
      certificates.push_back(recipient.certificate);
      if (recipient.capabilities.aes256_gcm)
        by_key_id.push_back(recipient.certificate);
    }
  }
  std::optional<profile::MailKey> key;
  std::optional<smime::SignerIdentity> signer;
  if (settings.sign) {
    key.emplace(profile.signing_key(sender, key_access));
    signer.emplace(signer_identity(profile, sender, *key, now));
  }
  smime::encrypt_message(message, out,
                         {certificates, signer ? &*signer : nullptr, report.choice, settings.subject, by_key_id}, now);
  report.signed_message = settings.sign;
  return report;
}

namespace {

// Loads the profile's keys the first time an encryption layer asks for them.
class ProfileKeys : public smime::KeyProvider {
 public:
  ProfileKeys(profile::Profile* profile, const KeyAccess& key_access) : profile_(profile), key_access_(key_access) {}

  std::span<const smime::DecryptionKey> keys() override {
    if (profile_ == nullptr) {
      throw Error(ErrorCode::NoMatchingKey, "the message is encrypted and there is no profile to decrypt it with",
                  "point to your profile with --home DIR");
    }
    if (!loaded_) {
      keys_ = profile_->decryption_keys(key_access_);
      for (const auto& key : keys_)
        decryption_.push_back({&key.key, key.certificate});
      loaded_ = true;
    }
    return decryption_;
  }

 private:
  profile::Profile* profile_;
  const KeyAccess& key_access_;
  bool loaded_ = false;
  std::vector<profile::MailKey> keys_;
  std::vector<smime::DecryptionKey> decryption_;
};

}  // namespace

smime::ReadResult read(profile::Profile* profile, const KeyAccess& key_access, ByteView message,
                       const smime::Policy& policy) {
  ProfileKeys keys(profile, key_access);
  if (profile == nullptr || !policy.reader_addresses.empty())
    return smime::read_message(message, keys, policy);
  smime::Policy reader = policy;
  reader.reader_addresses = profile->addresses();
  return smime::read_message(message, keys, reader);
}

namespace {

// The profile's addresses are the reader's (Policy::reader_addresses); a
// profile is needed only when an encryption layer is met.
smime::ReadResult read_stream(profile::Profile* profile, const KeyAccess& key_access, smime::ByteSource& message,
                              const std::filesystem::path& spool, TimePoint now) {
  ProfileKeys keys(profile, key_access);
  smime::Policy reader = smime::Policy::standard(now);
  if (profile != nullptr)
    reader.reader_addresses = profile->addresses();
  return smime::read_message(message, keys, reader, spool);
}

}  // namespace

std::optional<contacts::TrustReport> address_trust(profile::Profile& profile, const EmailAddress& address,
                                                   TimePoint now) {
  if (profile.has_address(address)) {
    return contacts::evaluate_certificate(profile.store(), evaluator(profile), address,
                                          profile.encryption_certificate(address), {profile.root_certificate()}, now);
  }
  return contacts::evaluate_address(profile.store(), evaluator(profile), address, now);
}

LookupReport lookup(profile::Profile& profile, keyservice::Client& client, const EmailAddress& address, TimePoint now) {
  keyservice::PublishedProfile published = devices::fetch_profile(client, address);
  LookupReport report;
  report.fingerprint = published.fingerprint;
  report.verified = published.verified;
  report.imported = contacts::record_discovery(
      profile.store(),
      {address, published.root, published.certificates, published.endorsements, published.revocations, client.url(),
       published.verified.value_or(false) ? store::DiscoveryVerification::Verified
                                          : store::DiscoveryVerification::Unverified},
      now);
  report.trust = address_trust(profile, address, now);
  return report;
}

std::optional<SenderTrust> sender_trust(profile::Profile& profile, const smime::ReadResult& message, bool learn,
                                        TimePoint now) {
  auto address = contacts::signed_address(message);
  if (!address)
    return std::nullopt;
  bool learned = learn && contacts::learn(profile.store(), message, now);
  const smime::SignatureReport& signature = *message.signature;
  return SenderTrust{*address,
                     contacts::evaluate_certificate(profile.store(), evaluator(profile), *address, *signature.signer,
                                                    signature.certificates, now),
                     learned};
}

}  // namespace mailseal::agent

namespace mailseal::agent {

namespace {

Decrypted decide_decrypted(profile::Profile& profile, smime::ReadResult result, const DecryptOptions& options,
                           TimePoint now) {
  if (!result.decrypted && result.encrypted_part_only) {
    throw Error(ErrorCode::RejectedByPolicy,
                "a part of this message is encrypted, but the message itself is not; mailseal decrypts only a "
                "message that is encrypted as a whole, since a sender can wrap someone's encrypted mail in their "
                "own content (such as HTML that sends the decrypted text back to them: EFAIL's direct "
                "exfiltration)",
                "if the encrypted part was forwarded to you, ask the sender to send it to you directly");
  }
  if (!result.decrypted) {
    throw Error(ErrorCode::Malformed, result.signature
                                          ? "the message is signed but not encrypted; use 'mailseal verify'"
                                          : "the message is not encrypted");
  }
  const bool authenticated = result.authenticated_encryption || (result.signature && result.signature->valid);
  // Learning fingerprints the content, so it comes before the release takes it.
  std::optional<SenderTrust> sender = sender_trust(profile, result, options.learn, now);
  smime::Release content = smime::Release::of_decrypted(result, options.bad_signature, options.unauthenticated);
  return Decrypted{std::move(result), std::move(content), std::move(sender), authenticated};
}

}  // namespace

Decrypted decrypt(profile::Profile& profile, const KeyAccess& key_access, ByteView message,
                  const DecryptOptions& options, TimePoint now) {
  return decide_decrypted(profile, read(&profile, key_access, message, smime::Policy::standard(now)), options, now);
}

Decrypted decrypt(profile::Profile& profile, const KeyAccess& key_access, smime::ByteSource& message,
                  const std::filesystem::path& spool, const DecryptOptions& options, TimePoint now) {
  return decide_decrypted(profile, read_stream(&profile, key_access, message, spool, now), options, now);
}

namespace {

Verified decide_verified(profile::Profile* profile, smime::ReadResult result, const VerifyOptions& options,
                         TimePoint now) {
  const bool valid = result.signature && result.signature->valid;
  if (options.required_trust && valid && profile == nullptr) {
    throw Error(ErrorCode::NotFound, "--require-trust needs a profile to judge trust with",
                "point to your profile with --home DIR");
  }
  std::optional<SenderTrust> sender;
  if (profile != nullptr && valid)
    sender = sender_trust(*profile, result, options.learn, now);
  smime::Release content = smime::Release::of_verified(result);
  require_trust(content, sender ? std::optional<trust::Level>(sender->report.verdict.level) : std::nullopt,
                options.required_trust);
  return Verified{std::move(result), std::move(content), std::move(sender)};
}

}  // namespace

Verified verify(profile::Profile* profile, const KeyAccess& key_access, ByteView message, const VerifyOptions& options,
                TimePoint now) {
  return decide_verified(profile, read(profile, key_access, message, smime::Policy::standard(now)), options, now);
}

Verified verify(profile::Profile* profile, const KeyAccess& key_access, smime::ByteSource& message,
                const std::filesystem::path& spool, const VerifyOptions& options, TimePoint now) {
  return decide_verified(profile, read_stream(profile, key_access, message, spool, now), options, now);
}

void require_trust(smime::Release& content, std::optional<trust::Level> signer_level,
                   std::optional<trust::Level> required) {
  if (required && !(signer_level && trust::meets(*signer_level, *required)))
    content.withhold(smime::Withheld::TrustBelowRequired);
}

SenderTrust learn_sender(profile::Profile& profile, const KeyAccess& key_access, ByteView message, TimePoint now) {
  smime::ReadResult result = read(&profile, key_access, message, smime::Policy::standard(now));
  if (!result.signature) {
    throw Error(ErrorCode::BadSignature, "the message is not signed, so there is nothing to learn from it");
  }
  if (!result.signature->valid) {
    const auto& problems = result.signature->problems;
    throw Error(ErrorCode::BadSignature, fmt::format("the message's signature is not valid ({}); nothing was learned",
                                                     problems.empty() ? "unknown problem" : problems.front()));
  }
  auto sender = sender_trust(profile, result, true, now);
  if (!sender) {
    throw Error(ErrorCode::BadSignature, "the signer's certificate does not name the message's From address");
  }
  return std::move(*sender);
}

}  // namespace mailseal::agent
