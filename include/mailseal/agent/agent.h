#pragma once
// The user agent: what a person asks mailseal to do with a message, combining
// their profile, their contacts and the S/MIME engine. The CLI and the
// gateway are shells over these functions. Each takes `now`, the caller's
// clock: the Date of a message without one, the time certificates must be
// valid at and signatures are judged at, the time of what is learned.

#include <functional>
#include <optional>
#include <vector>

#include "mailseal/common/key_access.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/smime.h"

namespace mailseal::agent {

// Sets up now what every message command sets up at its start (OpenSSL's
// configuration and algorithms, GMime, SQLite): the resident process does it
// once, and each command it forks starts with it done. Draws no random
// bytes: each child seeds its own generators after its fork.
void warm_up();

// In a process forked from a warmed-up one, before its command: sets up
// what each process must set up for itself (OpenSSL's random generators,
// seeded here from the kernel, so that no two children share a state). The
// resident process's idle child calls it while it waits.
void prepare_child();

// In a process forked from a warmed-up one, after prepare_child: rehearses
// a signature as a command makes one, with a throwaway key it makes and
// drops (its certificates dated `now`: they need only agree with each
// other). On a paravirtualised machine each page costs at its first touch
// in each process even when populated, so the command the child is handed
// finds those pages touched (bench/smime_profile.md). Between its steps it
// asks `command_came` and returns when it says so (the command would wait
// for the rest). The resident process's idle child calls it once it has
// waited a while without a command.
void rehearse(TimePoint now, const std::function<bool()>& command_came);

// Signs with the current signing key of the From address.
void sign(profile::Profile& profile, const KeyAccess& key_access, smime::OutgoingMessage& message, smime::ByteSink& out,
          smime::SignatureForm form, TimePoint now);

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

  // The recipients nothing vouches for (trust level none): the message went
  // to them, but their certificate may not be theirs.
  std::vector<EmailAddress> unvouched() const;
  // Unsigned AES-256-CBC: no reader can tell whether it was altered, so
  // mailseal's reader withholds it by default (docs/smime.md, EFAIL).
  bool unauthenticated() const noexcept {
    return !signed_message && choice.cipher == smime::ContentCipher::Aes256Cbc;
  }
};

// How `encrypt` writes (docs/smime.md, "Which cipher" and "Subject").
struct EncryptSettings {
  bool sign = true;  // sign inside the encryption
  smime::CipherPolicy cipher = smime::CipherPolicy::EveryClient;
  smime::OuterSubject subject = smime::OuterSubject::Obscured;
};

// Encrypts to `to` (else every To/Cc/Bcc address) and to the sender, with
// the certificate of each recipient the trust engine prefers; signs first
// unless settings.sign is false. Nothing is written when it fails:
// Error(NoMatchingKey) naming every recipient without a usable certificate,
// Error(RejectedByPolicy) naming every recipient whose binding is a conflict
// or revoked, Error(Unsupported) naming every recipient that advertises no
// AES-256-GCM when settings.cipher asks for it. Recipients at level none are
// reported, not refused.
EncryptReport encrypt(profile::Profile& profile, const KeyAccess& key_access, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, const EncryptSettings& settings,
                      TimePoint now);
// The same with the default settings, signing unless `sign` is false.
EncryptReport encrypt(profile::Profile& profile, const KeyAccess& key_access, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, bool sign, TimePoint now);

// Reads a message with every decryption key of the profile (if given),
// judging signatures at `policy.now`; the profile's addresses are the
// reader's (Policy::reader_addresses) unless the policy names some.
smime::ReadResult read(profile::Profile* profile, const KeyAccess& key_access, ByteView message,
                       const smime::Policy& policy);

// The verdict for an address (evidence.h's evaluate_address; the profile's
// own addresses are judged with its own certificates). nullopt if no
// certificate is known for it.
std::optional<contacts::TrustReport> address_trust(profile::Profile& profile, const EmailAddress& address,
                                                   TimePoint now);

// Looks `address` up on the key service and records what it finds as a
// contact found by discovery; returns the verdict for the address after.
struct LookupReport {
  contacts::ImportResult imported;
  Identity fingerprint;  // of the profile found
  std::optional<contacts::TrustReport> trust;
  // Whether the service proved the address (docs/trust.md, "Discovery");
  // nullopt from a service that does not say.
  std::optional<bool> verified;
};
LookupReport lookup(profile::Profile& profile, keyservice::Client& client, const EmailAddress& address, TimePoint now);

// The sender of a read message as the profile judges them: learns from a
// valid signature first (unless `learn` is false), then weighs the binding of
// the From address to the signer's certificate. nullopt when the message has
// no valid signature for its From address.
struct SenderTrust {
  EmailAddress address;
  contacts::TrustReport report;
  bool learned = false;  // the message added to the sender's history
};
std::optional<SenderTrust> sender_trust(profile::Profile& profile, const smime::ReadResult& message, bool learn,
                                        TimePoint now);

// `mailseal decrypt`: the message read (its content taken into `content`),
// whether that content may be released, and the sender as the profile judges
// them. Content under a signature that does not hold is withheld unless
// `bad_signature` is Release.
struct DecryptOptions {
  smime::BadSignature bad_signature = smime::BadSignature::Withhold;
  // Unsigned content of unauthenticated (CBC) encryption: withheld unless Release.
  smime::Unauthenticated unauthenticated = smime::Unauthenticated::Withhold;
  bool learn = true;  // record the sender's key and history
};
struct Decrypted {
  smime::ReadResult read;
  smime::Release content;
  std::optional<SenderTrust> sender;
  // Authenticated encryption or a valid signature inside: the content cannot
  // have been altered unnoticed.
  bool authenticated = false;
};
// Error(Malformed) when the message is not encrypted (saying to verify it when
// it is signed); Error(RejectedByPolicy) when only a part of it is encrypted
// (an encrypted part is decrypted only as the whole message: EFAIL's direct
// exfiltration wraps it in the attacker's own content).
Decrypted decrypt(profile::Profile& profile, const KeyAccess& key_access, ByteView message,
                  const DecryptOptions& options, TimePoint now);
// The same for a message read from a stream: a large encrypted one is
// decrypted in bounded memory, its content kept in a 0600 temporary file
// beside `spool` until released (smime::read_message with a ByteSource).
Decrypted decrypt(profile::Profile& profile, const KeyAccess& key_access, smime::ByteSource& message,
                  const std::filesystem::path& spool, const DecryptOptions& options, TimePoint now);

// `mailseal verify`: the content is released only under a valid signature
// and, when `required_trust` is set, only when the profile trusts the signer
// at least that much. Verifying needs no profile (`profile` may be null),
// but judging trust does: Error(NotFound) when `required_trust` is set for a
// valid signature and there is none.
struct VerifyOptions {
  std::optional<trust::Level> required_trust;
  bool learn = true;  // record the signer's key and history
};
struct Verified {
  smime::ReadResult read;
  smime::Release content;
  std::optional<SenderTrust> sender;  // with a profile and a valid signature
};
Verified verify(profile::Profile* profile, const KeyAccess& key_access, ByteView message, const VerifyOptions& options,
                TimePoint now);
// The same for a message read from a stream: a large opaque signed one is
// verified in bounded memory, its content kept in a 0600 temporary file
// beside `spool` until released (smime::read_message with a ByteSource).
Verified verify(profile::Profile* profile, const KeyAccess& key_access, smime::ByteSource& message,
                const std::filesystem::path& spool, const VerifyOptions& options, TimePoint now);

// The trust requirement of `verify` on its own: withholds `content`
// (Withheld::TrustBelowRequired) when `required` is set and the signer's level
// is not at least that (or the signer was not judged at all).
void require_trust(smime::Release& content, std::optional<trust::Level> signer_level,
                   std::optional<trust::Level> required);

// `mailseal learn`: records the sender of a signed message (as sender_trust
// does). Error(BadSignature) when the message is not signed, its signature is
// not valid (naming the first problem), or the signer's certificate does not
// name the From address.
SenderTrust learn_sender(profile::Profile& profile, const KeyAccess& key_access, ByteView message, TimePoint now);

}  // namespace mailseal::agent
