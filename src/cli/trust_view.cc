#include "cli/trust_view.h"

#include <fmt/format.h>

#include "cli/output.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/udf/udf.h"

namespace mailseal::cli {

using nlohmann::json;

std::string short_fingerprint(const Identity& identity) {
  try {
    return udf::Fingerprint::parse(identity.str()).to_string();
  } catch (const Error&) {
    return identity.str();  // a stored presentation shorter than the default
  }
}

std::string IdentityNames::operator()(const Identity& identity) const {
  if (identity == own_root_)
    return "you";
  if (auto der = store::TrustRecords(store_).identity_certificate(identity)) {
    try {
      crypto::Certificate certificate = crypto::Certificate::from_der(*der);
      std::string name = certificate.common_name();
      auto addresses = certificate.email_addresses();
      if (name.empty() && !addresses.empty())
        name = addresses.front().str();
      if (!name.empty())
        return name;
    } catch (const Error&) {
    }
  }
  return short_fingerprint(identity);
}

json trust_summary_json(const contacts::TrustReport& report) {
  return {{"address", report.facts.address.str()},
          {"fingerprint", short_fingerprint(report.identity.identity)},
          {"level", trust::to_string(report.verdict.level)},
          {"amount", report.verdict.amount},
          {"work_factor_bits", report.verdict.work_factor_bits}};
}

json trust_json(const contacts::TrustReport& report, const IdentityNames& names) {
  json document = trust_summary_json(report);
  document["certificate"] = report.certificate.fingerprint().to_string();
  json paths = json::array();
  for (const auto& path : report.verdict.paths) {
    json edges = json::array();
    for (const auto& edge : path.edges) {
      edges.push_back({{"from", short_fingerprint(edge.issuer)},
                       {"from_name", names(edge.issuer)},
                       {"to", short_fingerprint(edge.subject)},
                       {"to_name", names(edge.subject)},
                       {"amount", edge.amount},
                       {"depth", edge.depth},
                       {"scope", edge.scope}});
    }
    paths.push_back({{"amount", path.amount}, {"edges", edges}});
  }
  document["paths"] = paths;
  document["conflict"] =
      report.verdict.conflict_with ? json(short_fingerprint(*report.verdict.conflict_with)) : json(nullptr);
  json evidence = json::array();
  for (const auto& item : report.verdict.evidence) {
    evidence.push_back({{"kind", item.kind}, {"amount", item.amount}, {"detail", item.detail}});
  }
  document["evidence"] = evidence;
  return document;
}

void print_trust(const contacts::TrustReport& report, const IdentityNames& identity_names) {
  // Names come from certificates, details from evidence that names them:
  // escaped here, where they reach the terminal.
  auto names = [&](const Identity& identity) { return escape_for_terminal(identity_names(identity)); };
  const trust::Verdict& verdict = report.verdict;
  print_line(fmt::format("{}: {} (amount {} of {})", report.facts.address.str(), trust::to_string(verdict.level),
                         verdict.amount, trust::kFullAmount));
  if (verdict.work_factor_bits > 0) {
    print_line(fmt::format("  work factor  2^{} (the cheapest attack that brings another key to this level)",
                           verdict.work_factor_bits));
  }
  print_line(fmt::format("  identity     {} ({})", short_fingerprint(report.identity.identity),
                         names(report.identity.identity)));
  print_line(fmt::format("  certificate  {}", report.certificate.fingerprint().to_string()));
  if (verdict.conflict_with) {
    print_line(fmt::format("  conflict     first seen for this address: {} ({})",
                           short_fingerprint(*verdict.conflict_with), names(*verdict.conflict_with)));
  }
  if (!verdict.evidence.empty())
    print_line("  evidence");
  for (const auto& item : verdict.evidence) {
    print_line(fmt::format("    {:<13}{:>4}  {}", item.kind, item.amount, escape_for_terminal(item.detail)));
  }
  if (!verdict.paths.empty())
    print_line("  paths");
  for (const auto& path : verdict.paths) {
    std::string line = fmt::format("    {:>4}  {}", path.amount, names(path.edges.front().issuer));
    for (const auto& edge : path.edges) {
      line += fmt::format(" -({}, depth {})-> {}", edge.amount, edge.depth, names(edge.subject));
    }
    print_line(line);
  }
}

void print_trust_summary(const contacts::TrustReport& report) {
  const trust::Verdict& verdict = report.verdict;
  std::string line = fmt::format("trust in {}: {}", report.facts.address.str(), trust::to_string(verdict.level));
  if (verdict.work_factor_bits > 0)
    line += fmt::format(" (amount {}, work factor 2^{})", verdict.amount, verdict.work_factor_bits);
  if (verdict.level == trust::Level::Conflict) {
    print_warning(line + ": a different key was seen for this address first");
    print_hint(fmt::format("see 'mailseal trust {}'", report.facts.address.str()));
  } else if (verdict.level == trust::Level::Revoked) {
    print_warning(line + ": the key is revoked");
  } else {
    print_note(line);
  }
}

}  // namespace mailseal::cli
