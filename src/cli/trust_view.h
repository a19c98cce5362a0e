#pragma once
// How verdicts of the trust engine are shown: the full report of
// `mailseal trust`, the summary that verify/decrypt/learn add, and DOT.

#include <string>

#include <nlohmann/json.hpp>

#include "mailseal/contacts/evidence.h"
#include "mailseal/store/local_store.h"

namespace mailseal::cli {

// Names identities for people: "you" for the evaluator's root, else the
// common name or address of the identity's certificate, else its fingerprint.
// Raw text (JSON and DOT take it as it is); print_trust escapes it.
class IdentityNames {
 public:
  IdentityNames(store::LocalStore& store, Identity own_root) : store_(store), own_root_(std::move(own_root)) {}
  std::string operator()(const Identity& identity) const;

 private:
  store::LocalStore& store_;
  Identity own_root_;
};

// {"address", "fingerprint", "certificate", "level", "amount",
//  "work_factor_bits", "paths", "conflict", "evidence"}
nlohmann::json trust_json(const contacts::TrustReport& report, const IdentityNames& names);
// {"address", "fingerprint", "level", "amount", "work_factor_bits"}
nlohmann::json trust_summary_json(const contacts::TrustReport& report);

// The report for people, on stdout.
void print_trust(const contacts::TrustReport& report, const IdentityNames& names);
// One line on stderr: "bob@example.org is trusted: partial (amount 60, work factor 2^64)".
void print_trust_summary(const contacts::TrustReport& report);

// An identity's fingerprint as people see it (default precision).
std::string short_fingerprint(const Identity& identity);

}  // namespace mailseal::cli
