#pragma once
// The user agent: what a person asks mailseal to do with a message, combining
// their profile, their contacts and the S/MIME engine. The CLI and the
// gateway are shells over these functions.

#include <optional>
#include <vector>

#include "mailseal/common/secret.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/smime.h"

namespace mailseal::agent {

// Signs with the current signing key of the From address.
void sign(profile::Profile& profile, const Passphrase* passphrase, smime::OutgoingMessage& message,
          smime::ByteSink& out, smime::SignatureForm form);

// Whose trust the profile computes: its root and its addresses.
contacts::Evaluator evaluator(profile::Profile& profile);

struct RecipientTrust {
  EmailAddress address;
  trust::Verdict verdict;
};

struct EncryptReport {
  std::vector<EmailAddress> recipients;  // the sender included
  std::vector<RecipientTrust> trust;     // each recipient but the sender
  smime::EncryptionChoice choice;
  bool signed_message = false;
};

// Encrypts to `to` (else every To/Cc/Bcc address) and to the sender, with
// the certificate of each recipient the trust engine prefers; signs first
// unless `sign` is false. Nothing is written when it fails:
// Error(NoMatchingKey) naming every recipient without a usable certificate,
// Error(RejectedByPolicy) naming every recipient whose binding is a conflict
// or revoked. Recipients at level none are reported, not refused.
EncryptReport encrypt(profile::Profile& profile, const Passphrase* passphrase, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, bool sign);

// Reads a message with every decryption key of the profile (if given).
smime::ReadResult read(profile::Profile* profile, const Passphrase* passphrase, ByteView message,
                       const smime::Policy& policy);

// The verdict for an address (evidence.h's evaluate_address; the profile's
// own addresses are judged with its own certificates). nullopt if no
// certificate is known for it.
std::optional<contacts::TrustReport> address_trust(profile::Profile& profile, const EmailAddress& address);

// Looks `address` up on the key service and records what it finds as a
// contact found by discovery; returns the verdict for the address after.
struct LookupReport {
  contacts::ImportResult imported;
  std::string fingerprint;
  std::optional<contacts::TrustReport> trust;
};
LookupReport lookup(profile::Profile& profile, keyservice::Client& client, const EmailAddress& address);

// The sender of a read message as the profile judges them: learns from a
// valid signature first (unless `learn` is false), then weighs the binding of
// the From address to the signer's certificate. nullopt when the message has
// no valid signature for its From address.
struct SenderTrust {
  EmailAddress address;
  contacts::TrustReport report;
  bool learned = false;  // the message added to the sender's history
};
std::optional<SenderTrust> sender_trust(profile::Profile& profile, const smime::ReadResult& message, bool learn);

}  // namespace mailseal::agent
