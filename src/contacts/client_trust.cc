// Which correspondents' profile roots the mail clients trust (client_trust.h).

#include "mailseal/contacts/client_trust.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/contacts/contacts.h"
#include "mailseal/crypto/endorsement.h"

namespace mailseal::contacts {

std::string_view to_string(ClientTrust trust) noexcept {
  switch (trust) {
    case ClientTrust::Anchor:
      return "anchor";
    case ClientTrust::Distrusted:
      return "distrusted";
    case ClientTrust::Untrusted:
      return "untrusted";
  }
  return "untrusted";
}

std::optional<std::string> anchor_refusal(const crypto::Certificate& root, std::size_t chain_length,
                                          const std::vector<EmailAddress>& trusted) {
  if (!root.is_ca() || !root.is_self_issued() || !root.is_issued_by(root))
    return "its certificate is not issued by a self-signed CA (a profile root)";
  if (chain_length != 1)
    return "its certificate is issued through an intermediate CA, not by a profile root itself";
  const std::vector<std::string> permitted = crypto::permitted_email_constraints(root);
  if (permitted.empty()) {
    return "its root has no email name constraints: as a client's trust anchor it could vouch for any address "
           "(a public or corporate CA is never made one this way)";
  }
  for (const auto& constraint : permitted) {
    // A constraint without '@' permits a whole domain (RFC 5280 section 4.2.1.10).
    if (constraint.find('@') == std::string::npos || !EmailAddress::is_valid(constraint))
      return fmt::format("its root's name constraints permit more than mailboxes ('{}')", constraint);
    if (std::find(trusted.begin(), trusted.end(), EmailAddress::parse(constraint)) == trusted.end()) {
      return fmt::format("its root's name constraints also permit {}, which mailseal does not rate partial or better "
                         "for this key",
                         constraint);
    }
  }
  return std::nullopt;
}

namespace {

struct Seen {
  CertificateIdentity identity;
  std::map<EmailAddress, trust::Level> best;  // per address: the best verdict among this key's certificates
};

ClientRoot decide(const Identity& identity, const Seen& seen) {
  ClientRoot out{identity, seen.identity.top, {}, trust::Level::Full, ClientTrust::Untrusted, std::nullopt, false};
  std::vector<EmailAddress> trusted;
  bool withdrawn = false;
  for (const auto& [address, level] : seen.best) {
    out.addresses.push_back(address);
    if (!trust::meets(level, out.level))
      out.level = level;
    if (level == trust::Level::Conflict || level == trust::Level::Revoked)
      withdrawn = true;
    if (trust::meets(level, trust::Level::Partial))
      trusted.push_back(address);
  }
  std::vector<EmailAddress> permitted;
  for (const auto& constraint : crypto::permitted_email_constraints(seen.identity.top)) {
    if (EmailAddress::is_valid(constraint))
      permitted.push_back(EmailAddress::parse(constraint));
  }
  out.profile_root = !anchor_refusal(seen.identity.top, seen.identity.chain.size(), permitted);
  if (!out.profile_root) {
    if (!trusted.empty())
      out.refusal = anchor_refusal(seen.identity.top, seen.identity.chain.size(), trusted);
  } else if (withdrawn) {
    out.trust = ClientTrust::Distrusted;
  } else if (!trusted.empty()) {
    out.refusal = anchor_refusal(seen.identity.top, seen.identity.chain.size(), trusted);
    if (!out.refusal)
      out.trust = ClientTrust::Anchor;
  }
  return out;
}

}  // namespace

std::vector<ClientRoot> client_roots(store::LocalStore& store, const Evaluator& evaluator, TimePoint now) {
  store::ReadSnapshot snapshot(store.database());
  std::map<Identity, Seen> seen;
  for (const auto& contact : list(store)) {
    if (!contact.certificate.names_address(contact.address))
      continue;
    TrustReport report = evaluate_certificate(store, evaluator, contact.address, contact.certificate, {}, now);
    const Identity identity = report.identity.identity;
    if (identity == evaluator.root)
      continue;
    auto [entry, is_new] = seen.try_emplace(identity, Seen{report.identity, {}});
    auto [best, first] = entry->second.best.try_emplace(contact.address, report.verdict.level);
    if (!first && !trust::meets(best->second, report.verdict.level))
      best->second = report.verdict.level;
  }
  std::vector<ClientRoot> out;
  for (const auto& [identity, entry] : seen)
    out.push_back(decide(identity, entry));
  return out;
}

}  // namespace mailseal::contacts
