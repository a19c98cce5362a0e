#pragma once
// The hybrid trust engine (DESIGN.md section 5, docs/trust.md): pins, trust on
// first use, endorsements (the web of trust over X.509 cross-certificates) and
// PKIX anchors are evidence about one question, "does this key belong to this
// address?", weighed on the 0..120 scale into one verdict with the attacker's
// work factor.
//
// The engine reads endorsements through TrustGraph, keyed by identities (the
// full-precision fingerprint of the key at the top of a certificate chain,
// mailseal::Identity in common/ids.h); it never sees SQLite or X.509
// (STYLE.md, after sequoia-wot).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"

namespace mailseal::trust {

// 120 = fully sure (OpenPGP trust amounts, as in sequoia-wot).
inline constexpr int kFullAmount = 120;
inline constexpr int kPartialAmount = 40;
// Depths above this are treated as this (nobody needs longer introducer chains,
// and it bounds the search).
inline constexpr int kMaxDepth = 8;

// One endorsement: `issuer` vouches that `subject` speaks for the addresses in
// `scope` (all, when empty), with `amount`, letting it introduce others `depth`
// levels further.
struct Edge {
  Identity issuer;
  Identity subject;
  int amount = kFullAmount;
  int depth = 0;
  std::vector<std::string> scope{};  // RFC 5280 rfc822Name constraints: "a@b.c", "b.c", ".b.c"
  // The bindings the endorsement certifies; when not empty, an edge into the
  // target counts only for these addresses.
  std::vector<std::string> addresses{};
};

// Where endorsements come from: the store, or an in-memory graph in tests.
class TrustGraph {
 public:
  virtual ~TrustGraph() = default;
  // The valid, unrevoked endorsements made by `issuer`.
  virtual std::vector<Edge> endorsements_by(const Identity& issuer) = 0;
};

// True if `address` lies within an RFC 5280 rfc822Name constraint.
bool scope_permits(std::string_view constraint, const EmailAddress& address);

enum class Level { Full, Partial, Marginal, None, Conflict, Revoked };
std::string_view to_string(Level level) noexcept;
// "full" etc.; Error(Usage) for anything else.
Level parse_level(std::string_view text);
// True when `level` is at least `required` (conflict and revoked are below none).
bool meets(Level level, Level required) noexcept;

// Facts about a binding that the caller gathers from its records.
struct PinFact {
  int presented_bits = 0;    // precision of the compared fingerprint
  int work_factor_bits = 0;  // second-preimage work of that presentation
};

struct AnchorFact {
  std::string name;  // the anchor's subject, for explanations
  int amount = 60;
};

struct TofuFact {
  TimePoint first_seen{};
  int days_seen = 1;
  int messages = 1;
};

// Whether the binding was found through a key service, and whether that
// service said it verified the address by mail (docs/trust.md, "Discovery").
enum class Discovery {
  None,
  Listed,   // served by a service that did not say it verified the address
  Verified  // served by a service that proved its publisher receives mail there
};

struct BindingFacts {
  EmailAddress address;
  Identity identity;
  bool own = false;                         // the evaluator's own profile
  std::optional<PinFact> pin{};             // a pin that matches
  std::vector<AnchorFact> pkix{};           // trust anchors the certificate validates to
  std::optional<TofuFact> tofu{};           // history of this identity for this address
  Discovery discovery = Discovery::None;    // found through a key service
  std::optional<Identity> conflict_with{};  // an earlier identity, not succeeded by rotation
  bool revoked = false;
  int key_security_bits = 128;  // strength of the identity's key
};

struct Path {
  int amount = 0;
  std::vector<Edge> edges;
};

struct EvidenceItem {
  std::string kind;  // "own", "pin", "endorsements", "pkix", "tofu", "discovery", "conflict", "revoked"
  int amount = 0;
  std::string detail;
};

struct Verdict {
  Level level = Level::None;
  int amount = 0;
  int work_factor_bits = 0;
  std::vector<Path> paths;
  std::optional<Identity> conflict_with;
  std::vector<EvidenceItem> evidence;
};

// log2 costs of the attacker's moves (docs/trust.md, "Cost model").
struct CostModel {
  int steal_key_bits = 64;    // take a private key from someone's device
  int fool_ca_bits = 48;      // have a public CA mis-issue a certificate
  int key_service_bits = 40;  // make a key service serve a substituted key
  // ... as verified, from an honest service that verifies: intercept its one
  // challenge mail to the address, priced like fooling a CA that validates
  // by mail. "Verified" is the service's own word, which a subverted service
  // gives for free, so a verified discovery costs the cheaper of the two
  // (docs/trust.md, "Cost model").
  int verified_key_service_bits = 48;
  // TOFU history stands until the attacker holds the real key: stealing it.
};

// TOFU's amount: 10 when first seen, growing with the days and messages seen,
// capped below partial (it never reaches partial on its own).
int tofu_amount(const TofuFact& fact) noexcept;
inline constexpr int kTofuCap = 39;
// A discovery: 1 from a service that lists what it is given, 5 from one
// that verified the address. With trust on first use it stays below
// partial (kWeakEvidenceCap): neither is a person's or an authority's check.
inline constexpr int kDiscoveryAmount = 1;
inline constexpr int kVerifiedDiscoveryAmount = 5;
inline constexpr int kWeakEvidenceCap = kPartialAmount - 1;

// Weighs the evidence for a binding. `own_root` is the evaluator's profile root,
// the source of every endorsement path.
Verdict evaluate(const BindingFacts& facts, TrustGraph& graph, const Identity& own_root, const CostModel& costs = {});

// Graphviz of a verdict's paths, for a person to look at.
std::string to_dot(const Verdict& verdict, const BindingFacts& facts, const Identity& own_root,
                   const std::function<std::string(const Identity&)>& label);

}  // namespace mailseal::trust
