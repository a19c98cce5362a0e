#pragma once
// Trust evidence about correspondents, kept in the store and weighed by the
// trust engine: learning keys from signed mail (TOFU), pins and acceptances,
// endorsements (cross-certificates) made and imported, PKIX trust anchors,
// revocations. Verdicts for an address or a certificate.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/contacts/contacts.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/smime/smime.h"
#include "mailseal/store/local_store.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/trust/trust.h"

namespace mailseal::contacts {

// The evaluator: whose trust is computed.
struct Evaluator {
  Identity root;                        // the evaluator's profile root
  std::vector<EmailAddress> addresses;  // the evaluator's own addresses
};

// A certificate's identity: the key at the top of the chain mailseal can
// build from what it knows (a mailseal profile root, a CA root, or the
// certificate itself).
struct CertificateIdentity {
  Identity identity;
  crypto::Certificate top;
  std::vector<crypto::Certificate> chain;  // issuers above the certificate, top last
};
CertificateIdentity identify(store::LocalStore& store, const crypto::Certificate& certificate,
                             const std::vector<crypto::Certificate>& carried = {});

struct TrustReport {
  trust::Verdict verdict;
  trust::BindingFacts facts;
  CertificateIdentity identity;
  crypto::Certificate certificate;
};

// The verdict for `address` bound to `certificate` (with the certificates a
// message carried).
TrustReport evaluate_certificate(store::LocalStore& store, const Evaluator& evaluator, const EmailAddress& address,
                                 const crypto::Certificate& certificate,
                                 const std::vector<crypto::Certificate>& carried, TimePoint now);

// The verdict for `address`: of the certificates known for it (those that
// can encrypt now, else any), the one with the best verdict, the newest among
// equals. While a conflict is unresolved (no pin or acceptance for the
// address), the conflicting certificate's verdict is the answer, so that a
// conflict is never passed over silently. nullopt if no certificate is known.
std::optional<TrustReport> evaluate_address(store::LocalStore& store, const Evaluator& evaluator,
                                            const EmailAddress& address, TimePoint now);

// The certificate to encrypt to for `address` (chosen as evaluate_address
// chooses), with the recipient's capabilities and the verdict; nullopt if no
// certificate can encrypt now.
struct Recipient {
  Contact contact;
  TrustReport trust;
};
std::optional<Recipient> choose_recipient(store::LocalStore& store, const Evaluator& evaluator,
                                          const EmailAddress& address, TimePoint now);

// The address a valid signature speaks for: the From address when the signer's
// certificate names it; nullopt otherwise.
std::optional<EmailAddress> signed_address(const smime::ReadResult& message);

// Records what a message with a valid signature teaches: the signer's
// certificates (contacts), its identity, and an observation for the From
// address (trust on first use) dated by the message. Returns false when the
// same message was learned before: a replay adds no history.
// Error(BadSignature) when the message has no valid signature.
bool learn(store::LocalStore& store, const smime::ReadResult& message, TimePoint now);

// What `contact pin` records, as a person gives it: an address and a
// fingerprint, or a strong address alone (FINGERPRINT?ADDRESS or the Strong
// Internet Name form), whose fingerprint is pinned at the precision it shows.
// Error(Usage) when the fingerprint is missing and the text is not a strong
// address, or the address is not one; Error(Malformed) for a broken strong
// address.
struct PinTarget {
  EmailAddress address;
  std::string fingerprint;
};
PinTarget pin_target(std::string_view address_or_strong_address, std::string_view fingerprint);

// Records a compared fingerprint (at least 100 bits). Error(Malformed) otherwise.
void pin(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint, TimePoint at);
// Settles a conflict in favour of the identity (or certificate) with that
// fingerprint; Error(NotFound) if no certificate known for the address has it.
void accept(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint, TimePoint at);

// Removes what `pin` and `accept` recorded for `address`: every pin and
// acceptance, or those naming `fingerprint` (at any precision) when it is
// not empty. A decision like a pin: it syncs to the other devices and
// settles a conflict about the address. Returns how many went.
// Error(NotFound) when nothing matches and no conflict is to be settled.
int unpin(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint);

// Withdraws the endorsements the profile root made of the identity known
// for `address` (a decision that syncs; the cross-certificates others
// imported stay valid until they expire). Returns how many went.
// Error(NotFound) when there is none and no conflict to settle.
int withdraw_endorsement(store::LocalStore& store, const Evaluator& evaluator, const EmailAddress& address);

// The amounts an endorsement may carry: 1 (barely) to trust::kFullAmount
// (fully); and its depths: 0 (no introducing) to trust::kMaxDepth.
inline constexpr int kMinEndorsementAmount = 1;
inline constexpr int kMaxEndorsementDepth = trust::kMaxDepth;

struct EndorseOptions {
  int amount = trust::kFullAmount;
  int depth = 0;
  std::vector<std::string> scope;
  bool local = false;
};

// The profile root endorses the identity of `address`'s current certificate.
// Error(Usage) for an amount or depth out of range, or one of the
// evaluator's own addresses; Error(NotFound) when no certificate is known
// for the address; Error(RejectedByPolicy) when its binding is a conflict or
// revoked.
crypto::Certificate endorse(store::LocalStore& store, const Evaluator& evaluator, const crypto::PrivateKey& root_key,
                            const crypto::Certificate& root, const EmailAddress& address, const EndorseOptions& options,
                            TimePoint now);

// PEM: the profile root, then every exportable endorsement it made.
std::string export_endorsements(store::LocalStore& store, const crypto::Certificate& root);

struct ImportSummary {
  int endorsements = 0;  // new ones taken
  int revocations = 0;
  int already_known = 0;              // valid endorsements and revocations the store had
  std::vector<std::string> warnings;  // ignored items, and why
};

// Reads endorsements (cross-certificates with their issuers' roots) and CRLs
// from a certificate bundle. Anything mis-signed, damaged or from an unknown
// issuer is ignored with a warning; nothing raises trust on its own.
ImportSummary import_trust_material(store::LocalStore& store, ByteView data, TimePoint now);

struct ImportResult {
  std::vector<ImportedContact> contacts;
  ImportSummary trust;   // endorsements and revocations taken, warnings
  bool learned = false;  // a signed message added to an observation
};

// `mailseal contact import`: certificates (PEM, DER, a .p7c bundle), a signed
// message (learned as `learn` does), endorsement bundles and revocation lists,
// in any mix. Certificates of correspondents become contacts and observations
// (source "import"). Error(Malformed) when nothing in it is usable;
// Error(BadSignature) for a message whose signature is not valid.
ImportResult import_file(store::LocalStore& store, ByteView data, const smime::Policy& policy);

// What a key service said about an address (`mailseal lookup`): a profile
// root and its certificates, endorsements and revocations. Recorded as
// contacts found by discovery (evidence amount 1, or 5 when the service
// verified the address; not trust on first use).
struct Discovery {
  EmailAddress address;
  crypto::Certificate root;
  std::vector<crypto::Certificate> certificates;
  std::string endorsements;        // PEM
  std::vector<Bytes> revocations;  // DER CRLs
  std::string source;              // the service's URL
  // What the service said: verified only when it answered "verified": true.
  store::DiscoveryVerification verification = store::DiscoveryVerification::Unverified;
};
ImportResult record_discovery(store::LocalStore& store, const Discovery& discovery, TimePoint now);

// PKIX trust anchors: a CA certificate that counts `amount` (kMinAnchorAmount
// to trust::kFullAmount) for the addresses it certifies. Error(Usage) otherwise.
inline constexpr int kMinAnchorAmount = 1;
void add_anchor(store::LocalStore& store, const crypto::Certificate& anchor, int amount, TimePoint at);
// Removes the trust anchor whose certificate fingerprint is `fingerprint`
// (any precision that names one). Error(NotFound) when none or several match.
void remove_anchor(store::LocalStore& store, std::string_view fingerprint);

// A TrustGraph over the store's endorsements, skipping revoked identities.
class StoreGraph : public trust::TrustGraph {
 public:
  explicit StoreGraph(store::LocalStore& store) : store_(store) {}
  std::vector<trust::Edge> endorsements_by(const Identity& issuer) override;

 private:
  bool revoked(const Identity& identity);
  store::LocalStore& store_;
  std::optional<std::set<std::string>> conflicts_;  // subjects decided differently on two devices
  std::map<Identity, bool> revoked_;
  std::optional<std::set<Identity>> revoking_issuers_;
};

}  // namespace mailseal::contacts
