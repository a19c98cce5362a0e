#include "mailseal/contacts/evidence.h"

#include <algorithm>
#include <deque>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mailseal/common/error.h"
#include "mailseal/contacts/contacts.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"
#include "mailseal/udf/strong_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::contacts {

namespace {

std::string full(const udf::Fingerprint& fingerprint) {
  return fingerprint.to_string(udf::kFullBits);
}

// The identity a certificate's key has when it is at the top of a chain (a
// root), and the name of the issuer of what it signed.
Identity identity_of_key(const crypto::Certificate& certificate) {
  return Identity(full(certificate.key_fingerprint()));
}

// NIST SP 800-57 part 1 strengths.
int security_bits(const crypto::PublicKey& key) {
  int bits = key.bits();
  if (key.family() == crypto::KeyFamily::Rsa) {
    if (bits < 2048)
      return 80;
    if (bits < 3072)
      return 112;
    if (bits < 7680)
      return 128;
    return 192;
  }
  return bits / 2;
}

std::vector<crypto::Certificate> known_issuers(store::LocalStore& store) {
  std::vector<crypto::Certificate> out;
  for (const auto& der : store.contact_chain_certificates()) {
    try {
      out.push_back(crypto::Certificate::from_der(der));
    } catch (const Error&) {
    }
  }
  return out;
}

// Whether the root `identity` revoked itself, under any of its certificates
// known here or in `carried`: a renewed root (docs/profile.md) has a serial
// number of its own, and a revocation names the one it was issued by.
bool revoked_itself(store::LocalStore& store, store::TrustRecords& records, const Identity& identity,
                    const std::vector<crypto::Certificate>& carried) {
  std::vector<crypto::Certificate> roots = known_issuers(store);
  roots.insert(roots.end(), carried.begin(), carried.end());
  if (auto der = records.identity_certificate(identity)) {
    try {
      roots.push_back(crypto::Certificate::from_der(*der));
    } catch (const Error&) {
    }
  }
  // Only a root its own key signed: anyone can copy a root's name and key
  // into a certificate with a revoked serial number.
  return std::any_of(roots.begin(), roots.end(), [&](const crypto::Certificate& root) {
    return root.is_self_issued() && identity_of_key(root) == identity && root.is_issued_by(root) &&
           records.is_revoked(identity, root.serial_hex());
  });
}

bool matches(const std::string& presentation, const std::vector<udf::Fingerprint>& candidates) {
  try {
    udf::Fingerprint pinned = udf::Fingerprint::parse(presentation);
    return std::any_of(candidates.begin(), candidates.end(),
                       [&](const udf::Fingerprint& candidate) { return pinned.matches(candidate); });
  } catch (const Error&) {
    return false;
  }
}

// The fingerprints two devices' decisions about an address name ("pin F",
// "accept F", "unpin F"; "unpin *" names none), the one that is not this
// certificate's first: what the conflict is with.
std::string conflicting_fingerprint(const store::ConflictRecord& conflict,
                                    const std::vector<udf::Fingerprint>& candidates) {
  std::vector<std::string> named;
  for (const std::string* value : {&conflict.value_a, &conflict.value_b}) {
    std::size_t start = 0;
    while (start < value->size()) {
      std::size_t end = value->find("; ", start);
      if (end == std::string::npos)
        end = value->size();
      const std::string item = value->substr(start, end - start);
      const std::size_t space = item.find(' ');
      if (space != std::string::npos && item.substr(space + 1) != store::kAllTargets)
        named.push_back(item.substr(space + 1));
      start = end + 2;
    }
  }
  auto other = std::find_if(named.begin(), named.end(),
                            [&](const std::string& fingerprint) { return !matches(fingerprint, candidates); });
  if (other != named.end())
    return *other;
  return named.empty() ? std::string(store::kAllTargets) : named.front();
}

// Identities reachable from `from` by rotation statements (each signed by the
// identity it replaces).
bool rotated(store::TrustRecords& records, const Identity& from, const Identity& to) {
  std::deque<std::pair<Identity, int>> queue{{from, 0}};
  std::set<Identity> seen{from};
  while (!queue.empty()) {
    auto [current, steps] = queue.front();
    queue.pop_front();
    if (current == to)
      return true;
    if (steps >= trust::kMaxDepth)
      continue;
    for (const auto& endorsement : records.endorsements_by(current)) {
      if (endorsement.kind == "rotation" && seen.insert(endorsement.subject).second) {
        queue.push_back({endorsement.subject, steps + 1});
      }
    }
  }
  return false;
}

// Whether the first observation of an address was made of a certificate
// that stood alone then (its issuer unknown, so its own key was the
// identity) and that now arrives in `path` with the chain above it: the same
// binding whose issuer became known (a certificate from a directory, then
// signed mail carrying its CA chain), not a different key. Only the exact
// certificate counts, whose signature the issuer made: a CA that issues a new
// certificate for the same public key does not take the binding over.
bool issuer_became_known(const store::ObservationRecord& first, const std::vector<crypto::Certificate>& path) {
  return std::any_of(path.begin(), path.end(), [&](const crypto::Certificate& certificate) {
    return full(certificate.fingerprint()) == first.certificate && identity_of_key(certificate) == first.identity;
  });
}

}  // namespace

CertificateIdentity identify(store::LocalStore& store, const crypto::Certificate& certificate,
                             const std::vector<crypto::Certificate>& carried) {
  // Cross-certificates name the endorsed root as subject with its key, so
  // they would chain; an identity is what the certificate itself chains to.
  std::vector<crypto::Certificate> pool;
  for (const auto& candidate : carried) {
    if (!crypto::is_endorsement(candidate))
      pool.push_back(candidate);
  }
  for (auto& candidate : known_issuers(store)) {
    if (!crypto::is_endorsement(candidate))
      pool.push_back(std::move(candidate));
  }
  std::vector<crypto::Certificate> chain = crypto::build_chain(certificate, pool);
  crypto::Certificate top = chain.empty() ? certificate : chain.back();
  return CertificateIdentity{identity_of_key(top), top, chain};
}

std::vector<trust::Edge> StoreGraph::endorsements_by(const Identity& issuer) {
  if (revoked(issuer))
    return {};
  store::TrustRecords records(store_);
  std::vector<trust::Edge> out;
  if (!conflicts_) {
    conflicts_.emplace();
    for (auto& conflict : store::TrustSync(store_).conflicts())
      conflicts_->insert(std::move(conflict.subject));
  }
  for (auto& record : records.endorsements_by(issuer)) {
    if (record.kind != "endorsement" || revoked(record.subject))
      continue;
    // Endorsed on one device and withdrawn (or endorsed otherwise) on
    // another, neither knowing the other: no edge until decided again.
    if (conflicts_->contains(store::endorsement_subject(record.issuer, record.subject)))
      continue;
    out.push_back(trust::Edge{std::move(record.issuer), std::move(record.subject), record.amount, record.depth,
                              std::move(record.scope), std::move(record.addresses)});
  }
  return out;
}

bool StoreGraph::revoked(const Identity& identity) {
  auto cached = revoked_.find(identity);
  if (cached != revoked_.end())
    return cached->second;
  store::TrustRecords records(store_);
  if (!revoking_issuers_)
    revoking_issuers_ = records.revoking_issuers();
  // Only an identity that revoked something can have revoked itself: most
  // have not, and need no certificate parsed.
  bool is_revoked = false;
  if (!revoking_issuers_->contains(identity)) {
    revoked_[identity] = false;
    return false;
  }
  is_revoked = revoked_itself(store_, records, identity, {});
  revoked_[identity] = is_revoked;
  return is_revoked;
}

namespace {

// Whether the certificate or anything above it is revoked (a root revokes
// itself).
bool is_revoked(store::LocalStore& store, store::TrustRecords& records, const crypto::Certificate& certificate,
                const CertificateIdentity& identity) {
  std::vector<crypto::Certificate> path = {certificate};
  path.insert(path.end(), identity.chain.begin(), identity.chain.end());
  for (std::size_t i = 0; i < path.size(); ++i) {
    const bool top = i + 1 == path.size();
    const crypto::Certificate& issuer = top ? path[i] : path[i + 1];
    // The top revokes itself only if it is a root its own key signed.
    if (top && !(path[i].is_self_issued() && path[i].is_issued_by(path[i])))
      continue;
    if (records.is_revoked(identity_of_key(issuer), path[i].serial_hex()))
      return true;
  }
  return records.revoking_issuers().contains(identity.identity) &&
         revoked_itself(store, records, identity.identity, identity.chain);
}

}  // namespace

TrustReport evaluate_certificate(store::LocalStore& store, const Evaluator& evaluator, const EmailAddress& address,
                                 const crypto::Certificate& certificate,
                                 const std::vector<crypto::Certificate>& carried, TimePoint now) {
  store::ReadSnapshot snapshot(store.database());
  store::TrustRecords records(store);
  CertificateIdentity identity = identify(store, certificate, carried);
  trust::BindingFacts facts{address, identity.identity};
  facts.own = identity.identity == evaluator.root &&
              std::find(evaluator.addresses.begin(), evaluator.addresses.end(), address) != evaluator.addresses.end();
  facts.key_security_bits = security_bits(identity.top.public_key());

  facts.revoked = is_revoked(store, records, certificate, identity);
  std::vector<crypto::Certificate> path = {certificate};
  path.insert(path.end(), identity.chain.begin(), identity.chain.end());

  // Pins and acceptances: a compared fingerprint may name the identity, the
  // certificate's key, or the certificate.
  std::vector<udf::Fingerprint> candidates = {udf::Fingerprint::parse(identity.identity.str()),
                                              certificate.key_fingerprint(), certificate.fingerprint()};
  std::optional<store::PinRecord> first_pin;
  std::optional<store::PinRecord> latest_accept;
  for (const auto& record : records.pins(address)) {
    if (record.kind == "pin") {
      if (!first_pin)
        first_pin = record;
      if (matches(record.fingerprint, candidates)) {
        udf::Fingerprint pinned = udf::Fingerprint::parse(record.fingerprint);
        facts.pin = trust::PinFact{pinned.precision_bits(), pinned.work_factor_bits(pinned.precision_bits())};
      }
    } else {
      latest_accept = record;
    }
  }

  // Trust on first use and conflicts.
  auto observations = records.observations(address);
  for (const auto& observation : observations) {
    if (observation.identity == identity.identity) {
      facts.tofu =
          trust::TofuFact{observation.first_seen, std::max(1, observation.days), std::max(1, observation.messages)};
    }
  }
  if (!facts.pin && !facts.own) {
    if (first_pin) {
      facts.conflict_with = Identity{first_pin->fingerprint};  // a different key was compared
    } else if (latest_accept) {
      if (!matches(latest_accept->fingerprint, candidates))
        facts.conflict_with = Identity{latest_accept->fingerprint};
    } else if (!observations.empty()) {
      const Identity& baseline = observations.front().identity;
      if (baseline != identity.identity) {
        if (!rotated(records, baseline, identity.identity) && !issuer_became_known(observations.front(), path)) {
          facts.conflict_with = Identity{baseline};
        } else if (!facts.tofu) {
          // A rotation continues the history of the identity it replaces,
          // and so does a chain that became known above the same certificate.
          const auto& first = observations.front();
          facts.tofu = trust::TofuFact{first.first_seen, std::max(1, first.days), std::max(1, first.messages)};
        }
      }
    }
  }

  // Two devices of this profile decided differently about the address
  // without knowing each other's decision (trust records): a conflict for
  // the person to settle, whichever certificate this is: neither pin counts
  // until a decision that knows both is made.
  store::TrustSync sync(store);
  if (!facts.own) {
    for (const auto& conflict : sync.conflicts(store::pin_subject(address))) {
      facts.conflict_with = Identity{conflicting_fingerprint(conflict, candidates)};
      facts.pin.reset();
    }
  }

  for (const auto& anchor : records.anchors()) {
    // Two devices set the anchor differently: it counts for nothing until
    // the person decides again (a conflict never raises trust).
    if (!sync.conflicts(store::anchor_subject(anchor.fingerprint)).empty())
      continue;
    crypto::Certificate anchor_certificate = crypto::Certificate::from_der(anchor.certificate);
    if (crypto::verify_chain(certificate, path, {anchor_certificate}, now).empty()) {
      facts.pkix.push_back({anchor_certificate.subject(), anchor.amount});
    }
  }
  if (auto discovery = records.discovery(address, identity.identity)) {
    facts.discovery = *discovery == store::DiscoveryVerification::Verified ? trust::Discovery::Verified
                                                                            : trust::Discovery::Listed;
  }

  StoreGraph graph(store);
  trust::Verdict verdict = trust::evaluate(facts, graph, evaluator.root);
  return TrustReport{std::move(verdict), std::move(facts), std::move(identity), certificate};
}

namespace {

// Levels from worst to best: a conflict is still better than a revocation.
int rank(trust::Level level) {
  switch (level) {
    case trust::Level::Revoked:
      return 0;
    case trust::Level::Conflict:
      return 1;
    case trust::Level::None:
      return 2;
    case trust::Level::Marginal:
      return 3;
    case trust::Level::Partial:
      return 4;
    case trust::Level::Full:
      return 5;
  }
  return 0;
}

bool better(const trust::Verdict& a, const trust::Verdict& b) {
  if (a.level != b.level)
    return rank(a.level) > rank(b.level);
  return a.amount > b.amount;
}

// Of reports newest first: an unresolved conflict if there is one, else the
// best verdict, the newest among equals. An identity that rotated to another
// one among them is passed over: its successor speaks for the address now.
std::size_t choose(store::LocalStore& store, const EmailAddress& address, const std::vector<TrustReport>& reports) {
  store::TrustRecords records(store);
  const bool settled = !records.pins(address).empty();
  for (std::size_t i = 0; i < reports.size() && !settled; ++i) {
    if (reports[i].verdict.level == trust::Level::Conflict)
      return i;
  }
  std::vector<bool> superseded(reports.size(), false);
  for (std::size_t i = 0; i < reports.size(); ++i) {
    for (const auto& other : reports) {
      const Identity& from = reports[i].identity.identity;
      const Identity& to = other.identity.identity;
      if (from != to && rotated(records, from, to))
        superseded[i] = true;
    }
  }
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (superseded[i])
      continue;
    if (!best || better(reports[i].verdict, reports[*best].verdict))
      best = i;
  }
  return best.value_or(0);
}

}  // namespace

std::optional<Recipient> choose_recipient(store::LocalStore& store, const Evaluator& evaluator,
                                          const EmailAddress& address, TimePoint now) {
  store::ReadSnapshot snapshot(store.database());
  auto candidates = encryption_candidates(store, address, now);
  if (candidates.empty())
    return std::nullopt;
  std::vector<TrustReport> reports;
  for (const auto& candidate : candidates) {
    reports.push_back(evaluate_certificate(store, evaluator, address, candidate.certificate, {}, now));
  }
  std::size_t chosen = choose(store, address, reports);
  return Recipient{candidates[chosen], std::move(reports[chosen])};
}

std::optional<TrustReport> evaluate_address(store::LocalStore& store, const Evaluator& evaluator,
                                            const EmailAddress& address, TimePoint now) {
  store::ReadSnapshot snapshot(store.database());
  if (auto recipient = choose_recipient(store, evaluator, address, now))
    return std::move(recipient->trust);
  // No certificate that can encrypt now: judge the ones known (signing only,
  // expired), newest first.
  std::vector<TrustReport> reports;
  auto records = store.contact_certificates(address);
  for (auto record = records.rbegin(); record != records.rend(); ++record) {
    crypto::Certificate certificate = crypto::Certificate::from_der(record->certificate);
    if (certificate.names_address(address))
      reports.push_back(evaluate_certificate(store, evaluator, address, certificate, {}, now));
  }
  if (reports.empty())
    return std::nullopt;
  return std::move(reports[choose(store, address, reports)]);
}

std::optional<EmailAddress> signed_address(const smime::ReadResult& message) {
  if (!message.signature || !message.signature->valid || !message.signature->signer || message.from.size() != 1)
    return std::nullopt;
  if (!message.signature->signer->names_address(message.from.front()))
    return std::nullopt;
  return message.from.front();
}

namespace {

struct Learned {
  std::vector<ImportedContact> contacts;
  bool observed = false;
};

Learned learn_message(store::LocalStore& store, const smime::ReadResult& message, TimePoint now) {
  if (!message.signature || !message.signature->valid || !message.signature->signer) {
    throw Error(ErrorCode::BadSignature, "only a message with a valid signature teaches keys");
  }
  const smime::SignatureReport& report = *message.signature;
  store::Transaction transaction(store.database());
  Learned out;
  CertificateIdentity identity = identify(store, *report.signer, report.certificates);
  store::TrustRecords records(store);
  // A revoked signer teaches nothing: the certificates it carries (an
  // encryption certificate of a removed device's key, say) would otherwise
  // become what mail to the address is encrypted to.
  if (is_revoked(store, records, *report.signer, identity))
    return out;
  out.contacts = record_signature(store, report, "message", now);
  records.add_identity(identity.identity, identity.top.der(), now);
  if (auto address = signed_address(message)) {
    // The message's own date counts the days of history; a date in the
    // future counts as today.
    const TimePoint dated = std::min(report.signing_time.value_or(now), now);
    store::TrustRecords::Sighting sighting{identity.identity,
                                           full(report.signer->fingerprint()),
                                           "message",
                                           now,
                                           dated,
                                           full(message.content.fingerprint())};
    out.observed = records.observe(*address, sighting);
  }
  transaction.commit();
  return out;
}

}  // namespace

bool learn(store::LocalStore& store, const smime::ReadResult& message, TimePoint now) {
  return learn_message(store, message, now).observed;
}

PinTarget pin_target(std::string_view address_or_strong_address, std::string_view fingerprint) {
  if (fingerprint.empty()) {
    if (!udf::StrongAddress::looks_strong(address_or_strong_address)) {
      throw Error(ErrorCode::Usage, "give ADDRESS FINGERPRINT, or a strong address (FINGERPRINT?ADDRESS)");
    }
    udf::StrongAddress strong = udf::StrongAddress::parse(address_or_strong_address);
    return {strong.address, strong.fingerprint.to_string(strong.fingerprint.precision_bits())};
  }
  try {
    return {EmailAddress::parse(address_or_strong_address), std::string(fingerprint)};
  } catch (const Error& error) {
    throw Error(ErrorCode::Usage, error.what());
  }
}

void pin(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint, TimePoint at) {
  udf::Fingerprint parsed = udf::Fingerprint::parse(fingerprint);
  store::TrustRecords(store).add_pin({address, parsed.to_string(parsed.precision_bits()), "pin", at});
}

void accept(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint, TimePoint at) {
  udf::Fingerprint parsed = udf::Fingerprint::parse(fingerprint);
  const std::string presentation = parsed.to_string(parsed.precision_bits());
  bool known = false;
  for (const auto& record : store.contact_certificates(address)) {
    crypto::Certificate certificate = crypto::Certificate::from_der(record.certificate);
    CertificateIdentity identity = identify(store, certificate);
    known = known || matches(presentation, {udf::Fingerprint::parse(identity.identity.str()),
                                            certificate.key_fingerprint(), certificate.fingerprint()});
  }
  if (!known) {
    throw Error(ErrorCode::NotFound, fmt::format("no certificate known for {} matches {}", address.str(), fingerprint),
                fmt::format("'mailseal trust {}' shows the fingerprints in question", address.str()));
  }
  store::TrustRecords(store).add_pin({address, presentation, "accept", at});
}

int unpin(store::LocalStore& store, const EmailAddress& address, std::string_view fingerprint) {
  store::TrustRecords records(store);
  const bool in_conflict = !store::TrustSync(store).conflicts(store::pin_subject(address)).empty();
  if (fingerprint.empty()) {
    const int pins = static_cast<int>(records.pins(address).size());
    if (pins == 0 && !in_conflict) {
      throw Error(ErrorCode::NotFound, fmt::format("nothing is pinned or accepted for {}", address.str()),
                  fmt::format("'mailseal trust {}' shows where it stands", address.str()));
    }
    records.remove_pins(address, std::nullopt);
    return pins;
  }
  // The pins as recorded, that the fingerprint given names (at any precision).
  const udf::Fingerprint given = udf::Fingerprint::parse(fingerprint);
  std::set<std::string> named;
  for (const auto& pin : records.pins(address)) {
    if (matches(pin.fingerprint, {given}) || given.matches(udf::Fingerprint::parse(pin.fingerprint)))
      named.insert(pin.fingerprint);
  }
  if (named.empty() && in_conflict)
    named.insert(given.to_string(given.precision_bits()));
  if (named.empty()) {
    throw Error(ErrorCode::NotFound, fmt::format("no pin or acceptance of {} names {}", address.str(), fingerprint),
                fmt::format("'mailseal trust {}' shows where it stands", address.str()));
  }
  int removed = 0;
  for (const auto& presentation : named)
    removed += records.remove_pins(address, presentation);
  return removed;
}

int withdraw_endorsement(store::LocalStore& store, const Evaluator& evaluator, const EmailAddress& address) {
  store::TrustRecords records(store);
  store::TrustSync sync(store);
  // The identities the profile endorsed for the address, and those whose
  // endorsement is in conflict between two devices.
  std::set<Identity> subjects;
  for (const auto& endorsement : records.endorsements_by(evaluator.root)) {
    const auto& named = endorsement.addresses;
    if (endorsement.kind == "endorsement" && std::find(named.begin(), named.end(), address.str()) != named.end())
      subjects.insert(endorsement.subject);
  }
  for (const auto& record : store.contact_certificates(address)) {
    const Identity identity = identify(store, crypto::Certificate::from_der(record.certificate)).identity;
    if (!sync.conflicts(store::endorsement_subject(evaluator.root, identity)).empty())
      subjects.insert(identity);
  }
  if (subjects.empty()) {
    throw Error(ErrorCode::NotFound, fmt::format("you have not endorsed {}", address.str()),
                fmt::format("'mailseal trust {}' shows who vouches for it", address.str()));
  }
  int removed = 0;
  for (const auto& subject : subjects)
    removed += records.withdraw_endorsements(evaluator.root, subject);
  return removed;
}

namespace {

void check_endorsement_terms(const Evaluator& evaluator, const EmailAddress& address, const EndorseOptions& options) {
  if (options.amount < kMinEndorsementAmount || options.amount > trust::kFullAmount) {
    throw Error(ErrorCode::Usage, fmt::format("the amount of an endorsement is {} to {}, not {}", kMinEndorsementAmount,
                                              trust::kFullAmount, options.amount));
  }
  if (options.depth < 0 || options.depth > kMaxEndorsementDepth) {
    throw Error(ErrorCode::Usage,
                fmt::format("the depth of an endorsement is 0 to {}, not {}", kMaxEndorsementDepth, options.depth));
  }
  if (std::find(evaluator.addresses.begin(), evaluator.addresses.end(), address) != evaluator.addresses.end()) {
    throw Error(ErrorCode::Usage, "that is your own address");
  }
}

}  // namespace

crypto::Certificate endorse(store::LocalStore& store, const Evaluator& evaluator, const crypto::PrivateKey& root_key,
                            const crypto::Certificate& root, const EmailAddress& address, const EndorseOptions& options,
                            TimePoint now) {
  using namespace std::chrono_literals;
  check_endorsement_terms(evaluator, address, options);
  // The identity `trust ADDRESS` shows: never one of two keys in conflict.
  auto report = evaluate_address(store, evaluator, address, now);
  if (!report) {
    throw Error(ErrorCode::NotFound, fmt::format("no certificate is known for {}", address.str()),
                "import one first: 'mailseal contact import FILE', or learn it from a signed message");
  }
  if (report->verdict.level == trust::Level::Conflict) {
    throw Error(
        ErrorCode::RejectedByPolicy,
        fmt::format("two different keys are known for {}; endorsing would vouch for one at random", address.str()),
        fmt::format("compare fingerprints with them, then 'mailseal contact pin {} FINGERPRINT'", address.str()));
  }
  if (report->verdict.level == trust::Level::Revoked) {
    throw Error(ErrorCode::RejectedByPolicy, fmt::format("the key known for {} is revoked", address.str()));
  }
  const CertificateIdentity& identity = report->identity;
  if (identity.identity == evaluator.root) {
    throw Error(ErrorCode::Usage, "that is your own profile");
  }
  crypto::EndorsementTerms terms;
  terms.amount = options.amount;
  terms.depth = options.depth;
  terms.exportable = !options.local;
  terms.scope = options.scope;
  terms.addresses = {address};
  crypto::Certificate endorsement =
      crypto::issue_endorsement(identity.top, root_key, root, terms, now - 1h, now + 24h * 2 * 365);
  store::TrustRecords records(store);
  records.add_identity(identity.identity, identity.top.der(), now);
  store::EndorsementRecord record;
  record.issuer = evaluator.root;
  record.subject = identity.identity;
  record.amount = terms.amount;
  record.depth = terms.depth;
  record.scope = terms.scope;
  record.addresses = {address.str()};
  record.exportable = terms.exportable;
  record.certificate = endorsement.der();
  record.created_at = now;
  store::Transaction transaction(store.database());
  records.add_endorsement(record);
  // Made here, knowing what this device merged: it settles a conflict
  // about the profile's endorsements of the identity.
  store::TrustSync(store).clear_conflict(store::endorsement_subject(evaluator.root, identity.identity));
  transaction.commit();
  return endorsement;
}

std::string export_endorsements(store::LocalStore& store, const crypto::Certificate& root) {
  std::string pem = root.pem();
  for (const auto& der : store::TrustRecords(store).exportable_endorsements(identity_of_key(root)))
    pem += crypto::Certificate::from_der(der).pem();
  return pem;
}

namespace {

// Who may have signed what a bundle holds: the CA certificates in it, the
// roots the store knows, and the trust anchors.
std::vector<crypto::Certificate> possible_issuers(store::LocalStore& store,
                                                  const std::vector<crypto::Certificate>& bundle) {
  std::vector<crypto::Certificate> issuers = bundle;
  auto known = known_issuers(store);
  issuers.insert(issuers.end(), known.begin(), known.end());
  for (const auto& anchor : store::TrustRecords(store).anchors())
    issuers.push_back(crypto::Certificate::from_der(anchor.certificate));
  return issuers;
}

// Takes one cross-certificate of a bundle as evidence, when it carries the
// endorsement extension, a known root signed it and its terms are sound.
void import_endorsement(store::TrustRecords& records, const std::vector<crypto::Certificate>& issuers,
                        const crypto::Certificate& certificate, TimePoint at, ImportSummary& summary) {
  std::optional<crypto::EndorsementTerms> terms;
  try {
    terms = crypto::read_endorsement(certificate);
  } catch (const Error& error) {
    summary.warnings.push_back(fmt::format("ignored an endorsement of '{}': {}", certificate.subject(), error.what()));
    return;
  }
  if (!terms)
    return;
  // Only a root (a CA certificate) speaks for an identity; a mail
  // certificate's key cannot endorse.
  auto issuer = std::find_if(issuers.begin(), issuers.end(), [&](const crypto::Certificate& candidate) {
    return candidate.is_ca() && !(candidate == certificate) && certificate.is_issued_by(candidate);
  });
  if (issuer == issuers.end()) {
    summary.warnings.push_back(fmt::format("ignored an endorsement of '{}': its issuer is unknown or it is mis-signed",
                                           certificate.subject()));
    return;
  }
  if (terms->amount < kMinEndorsementAmount || terms->amount > trust::kFullAmount) {
    summary.warnings.push_back(fmt::format("ignored an endorsement of '{}': amount {} is outside {}..{}",
                                           certificate.subject(), terms->amount, kMinEndorsementAmount,
                                           trust::kFullAmount));
    return;
  }
  if (terms->depth > kMaxEndorsementDepth) {
    summary.warnings.push_back(fmt::format("an endorsement of '{}' claims depth {}; it counts as {}",
                                           certificate.subject(), terms->depth, kMaxEndorsementDepth));
  }
  const Identity issuer_identity = identity_of_key(*issuer);
  records.add_identity(issuer_identity, issuer->der(), at);
  store::EndorsementRecord record;
  record.issuer = issuer_identity;
  record.subject = identity_of_key(certificate);
  record.amount = terms->amount;
  record.depth = std::min(terms->depth, kMaxEndorsementDepth);
  record.scope = terms->scope;
  for (const auto& address : terms->addresses)
    record.addresses.push_back(address.str());
  record.kind = terms->kind == crypto::EndorsementTerms::Kind::Rotation ? "rotation" : "endorsement";
  record.exportable = false;  // someone else's: mailseal publishes only its own
  record.certificate = certificate.der();
  record.created_at = at;
  if (records.add_endorsement(record)) {
    ++summary.endorsements;
  } else {
    ++summary.already_known;
  }
}

// The revocation lists in `data`: PEM blocks (possibly several), or the
// whole input as DER when it holds neither certificates nor PEM armour.
std::vector<Bytes> revocation_lists(ByteView data, bool holds_certificates) {
  std::vector<Bytes> crls;
  std::string_view text = as_string_view(data);
  static constexpr std::string_view kBegin = "-----BEGIN X509 CRL-----";
  static constexpr std::string_view kEnd = "-----END X509 CRL-----";
  for (std::size_t position = text.find(kBegin); position != std::string_view::npos;
       position = text.find(kBegin, position + kBegin.size())) {
    std::size_t end = text.find(kEnd, position);
    if (end == std::string_view::npos)
      break;
    std::string_view block = text.substr(position, end + kEnd.size() - position);
    crls.emplace_back(block.begin(), block.end());
  }
  if (crls.empty() && !holds_certificates && text.find("-----BEGIN") == std::string_view::npos) {
    crls.emplace_back(data.begin(), data.end());  // perhaps a DER CRL
  }
  return crls;
}

// Takes the revocations of one list signed by a known issuer. A list that
// does not parse is only worth a warning where the input held more than it.
void import_revocation_list(store::TrustRecords& records, const std::vector<crypto::Certificate>& issuers,
                            const Bytes& bytes, bool warn_if_damaged, TimePoint at, ImportSummary& summary) {
  std::optional<crypto::RevocationList> crl;
  try {
    crl.emplace(crypto::RevocationList::read(bytes));
  } catch (const Error&) {
    if (warn_if_damaged)
      summary.warnings.push_back("ignored a damaged revocation list");
    return;
  }
  auto issuer = std::find_if(issuers.begin(), issuers.end(),
                             [&](const crypto::Certificate& candidate) { return crl->is_issued_by(candidate); });
  if (issuer == issuers.end()) {
    summary.warnings.push_back(
        fmt::format("ignored a revocation list by '{}': its issuer is unknown or it is mis-signed", crl->issuer()));
    return;
  }
  const Identity issuer_identity = identity_of_key(*issuer);
  records.add_identity(issuer_identity, issuer->der(), at);
  for (const auto& serial : crl->revoked_serials()) {
    if (records.add_revocation(issuer_identity, serial, "crl", at)) {
      ++summary.revocations;
    } else {
      ++summary.already_known;
    }
  }
}

}  // namespace

ImportSummary import_trust_material(store::LocalStore& store, ByteView data, TimePoint now) {
  ImportSummary summary;
  store::TrustRecords records(store);
  std::vector<crypto::Certificate> bundle;
  try {
    bundle = crypto::Certificate::read_all(data);
  } catch (const Error&) {
  }
  const std::vector<crypto::Certificate> issuers = possible_issuers(store, bundle);
  for (const auto& certificate : bundle)
    import_endorsement(records, issuers, certificate, now, summary);
  const std::vector<Bytes> crls = revocation_lists(data, !bundle.empty());
  for (const auto& bytes : crls)
    import_revocation_list(records, issuers, bytes, !bundle.empty() || crls.size() > 1, now, summary);
  return summary;
}

namespace {

// Headers first ("Name: value" before the first line end) and no PEM armour.
bool looks_like_message(ByteView data) {
  std::string_view text = as_string_view(data.subspan(0, std::min<std::size_t>(data.size(), 4096)));
  auto colon = text.find(':');
  auto line_end = text.find('\n');
  return colon != std::string_view::npos && (line_end == std::string_view::npos || colon < line_end) &&
         text.find("-----BEGIN") == std::string_view::npos;
}

ImportResult import_message(store::LocalStore& store, ByteView data, const smime::Policy& policy) {
  smime::ReadResult message = smime::read_message(data, {}, policy);
  if (!message.signature) {
    throw Error(ErrorCode::Malformed, "the message is not signed, so it carries no certificate to import");
  }
  if (!message.signature->valid) {
    throw Error(
        ErrorCode::BadSignature,
        fmt::format("the message's signature is not valid ({}), so its certificate is not imported",
                    message.signature->problems.empty() ? "unknown problem" : message.signature->problems.front()));
  }
  Learned learned = learn_message(store, message, policy.now);
  ImportResult result;
  result.contacts = std::move(learned.contacts);
  result.learned = learned.observed;
  return result;
}

}  // namespace

ImportResult import_file(store::LocalStore& store, ByteView data, const smime::Policy& policy) {
  std::vector<crypto::Certificate> certificates;
  try {
    certificates = crypto::Certificate::read_all(data);
  } catch (const Error&) {
    if (looks_like_message(data))
      return import_message(store, data, policy);
  }
  ImportResult result;
  const TimePoint at = policy.now;
  store::Transaction transaction(store.database());
  for (const auto& certificate : certificates) {
    if (crypto::is_endorsement(certificate))
      continue;  // evidence, read below
    if (certificate.is_ca()) {
      store.add_contact_chain_certificate(certificate.der(), at);
      continue;
    }
    auto added = add_certificate(store, certificate, "import", at);
    if (added.empty())
      continue;
    CertificateIdentity identity = identify(store, certificate, certificates);
    store::TrustRecords records(store);
    records.add_identity(identity.identity, identity.top.der(), at);
    for (const auto& entry : added) {
      records.observe(entry.contact.address,
                      {identity.identity, full(certificate.fingerprint()), "import", at, std::nullopt, std::nullopt});
    }
    result.contacts.insert(result.contacts.end(), added.begin(), added.end());
  }
  result.trust = import_trust_material(store, data, policy.now);
  if (result.contacts.empty() && result.trust.endorsements == 0 && result.trust.revocations == 0 &&
      result.trust.already_known == 0) {
    std::string why = certificates.empty()
                          ? "the file holds no certificate, signed message or revocation list mailseal can use"
                          : "none of the certificates names an email address it may be used with, and none is an "
                            "endorsement or revocation mailseal can use";
    if (!result.trust.warnings.empty())
      why += fmt::format(": {}", fmt::join(result.trust.warnings, "; "));
    throw Error(ErrorCode::Malformed, why);
  }
  transaction.commit();
  return result;
}

ImportResult record_discovery(store::LocalStore& store, const Discovery& discovery, TimePoint now) {
  ImportResult result;
  store::Transaction transaction(store.database());
  store::TrustRecords records(store);
  store.add_contact_chain_certificate(discovery.root.der(), now);
  const Identity identity = identity_of_key(discovery.root);
  records.add_identity(identity, discovery.root.der(), now);
  for (const auto& certificate : discovery.certificates) {
    if (!certificate.names_address(discovery.address))
      continue;
    auto added = add_certificate(store, certificate, "lookup", now);
    result.contacts.insert(result.contacts.end(), added.begin(), added.end());
  }
  records.add_discovery(discovery.address, identity, discovery.source, discovery.verification, now);
  if (!discovery.endorsements.empty()) {
    ImportSummary summary = import_trust_material(store, as_bytes(discovery.endorsements), now);
    result.trust.endorsements += summary.endorsements;
    result.trust.already_known += summary.already_known;
    result.trust.warnings.insert(result.trust.warnings.end(), summary.warnings.begin(), summary.warnings.end());
  }
  for (const auto& crl : discovery.revocations) {
    ImportSummary summary = import_trust_material(store, crl, now);
    result.trust.revocations += summary.revocations;
    result.trust.already_known += summary.already_known;
    result.trust.warnings.insert(result.trust.warnings.end(), summary.warnings.begin(), summary.warnings.end());
  }
  transaction.commit();
  return result;
}

void remove_anchor(store::LocalStore& store, std::string_view fingerprint) {
  const udf::Fingerprint given = udf::Fingerprint::parse(fingerprint);
  store::TrustRecords records(store);
  std::vector<std::string> matching;
  for (const auto& anchor : records.anchors()) {
    if (matches(anchor.fingerprint, {given}) || given.matches(udf::Fingerprint::parse(anchor.fingerprint)))
      matching.push_back(anchor.fingerprint);
  }
  if (matching.size() != 1) {
    throw Error(ErrorCode::NotFound,
                matching.empty() ? fmt::format("no trust anchor has the fingerprint {}", fingerprint)
                                 : fmt::format("{} trust anchors match {}; give more of the fingerprint",
                                               matching.size(), fingerprint),
                "'mailseal trust anchor list' shows them");
  }
  records.remove_anchor(matching.front());
}

void add_anchor(store::LocalStore& store, const crypto::Certificate& anchor, int amount, TimePoint at) {
  if (amount < kMinAnchorAmount || amount > trust::kFullAmount) {
    throw Error(ErrorCode::Usage, fmt::format("a trust anchor's amount is {} to {}, not {}", kMinAnchorAmount,
                                              trust::kFullAmount, amount));
  }
  if (!anchor.is_ca()) {
    throw Error(ErrorCode::Usage, "a trust anchor must be a CA certificate");
  }
  store::TrustRecords(store).add_anchor({full(anchor.fingerprint()), anchor.der(), amount, at});
}

}  // namespace mailseal::contacts
