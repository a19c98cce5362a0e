#pragma once
// Trust evidence about correspondents, kept in the store and weighed by the
// trust engine: learning keys from signed mail (TOFU), pins and acceptances,
// endorsements (cross-certificates) made and imported, PKIX trust anchors,
// revocations. Verdicts for an address or a certificate.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/smime/smime.h"
#include "mailseal/store/local_store.h"
#include "mailseal/trust/trust.h"

namespace mailseal::contacts {

// The evaluator: whose trust is computed.
struct Evaluator {
  trust::Identity root;                 // the evaluator's profile root
  std::vector<EmailAddress> addresses;  // the evaluator's own addresses
};

// A certificate's identity: the key at the top of the chain mailseal can
// build from what it knows (a mailseal profile root, a CA root, or the
// certificate itself).
struct CertificateIdentity {
  trust::Identity identity;
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
                                 const std::vector<crypto::Certificate>& carried, crypto::TimePoint now);

// The verdict for the certificate mailseal would encrypt to (or, failing that,
// the newest one known) for `address`; nullopt if no certificate is known.
std::optional<TrustReport> evaluate_address(store::LocalStore& store, const Evaluator& evaluator,
                                            const EmailAddress& address, crypto::TimePoint now);

// Records what a valid signature teaches: the signer's certificates (contacts),
// its identity, and an observation for the From address (trust on first use).
void learn(store::LocalStore& store, const smime::SignatureReport& report, const EmailAddress& from, std::int64_t at);

// Records a compared fingerprint (at least 100 bits). Error(Malformed) otherwise.
void pin(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint, std::int64_t at);
// Settles a conflict in favour of the identity with that fingerprint.
void accept(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint, std::int64_t at);

struct EndorseOptions {
  int amount = 120;
  int depth = 0;
  std::vector<std::string> scope;
  bool local = false;
};

// The profile root endorses the identity of `address`'s current certificate.
crypto::Certificate endorse(store::LocalStore& store, const Evaluator& evaluator, const crypto::PrivateKey& root_key,
                            const crypto::Certificate& root, const EmailAddress& address, const EndorseOptions& options,
                            crypto::TimePoint now);

// PEM: the profile root, then every exportable endorsement it made.
std::string export_endorsements(store::LocalStore& store, const crypto::Certificate& root);

struct ImportSummary {
  int endorsements = 0;
  int revocations = 0;
  std::vector<std::string> warnings;  // ignored items, and why
};

// Reads endorsements (cross-certificates with their issuers' roots) and CRLs
// from a certificate bundle. Anything mis-signed, damaged or from an unknown
// issuer is ignored with a warning; nothing raises trust on its own.
ImportSummary import_trust_material(store::LocalStore& store, ByteView data, crypto::TimePoint now);

// PKIX trust anchors.
void add_anchor(store::LocalStore& store, const crypto::Certificate& anchor, int amount, std::int64_t at);

// A TrustGraph over the store's endorsements, skipping revoked identities.
class StoreGraph : public trust::TrustGraph {
 public:
  explicit StoreGraph(store::LocalStore& store) : store_(store) {}
  std::vector<trust::Edge> endorsements_by(const trust::Identity& issuer) override;

 private:
  bool revoked(const std::string& identity);
  store::LocalStore& store_;
  std::map<std::string, bool> revoked_;
};

}  // namespace mailseal::contacts
