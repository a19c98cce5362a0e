#include "cli/claims_view.h"

#include <fmt/format.h>

#include "cli/output.h"
#include "mailseal/common/escape.h"

namespace mailseal::cli {

nlohmann::json claims_json(const std::vector<keyservice::AddressClaim>& claims) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& claim : claims)
    out.push_back({{"address", claim.address}, {"state", claim.state}});
  return out;
}

void print_pending_claims(const std::vector<keyservice::AddressClaim>& claims) {
  bool any = false;
  for (const auto& claim : claims) {
    if (claim.state == keyservice::kClaimMailFailed) {
      print_warning(fmt::format("{} is not served yet, and the key service could not send the mail that proves the "
                                "address is yours; run 'mailseal publish' again later to have a new one sent",
                                escape_for_terminal(claim.address)));
      continue;
    }
    if (claim.state != keyservice::kClaimPending)
      continue;
    print_note(fmt::format("{} is not served yet: the key service mailed a link to it to prove the address is yours",
                           escape_for_terminal(claim.address)));
    any = true;
  }
  if (any)
    print_hint("open the link and press Confirm, or run 'mailseal address confirm LINK'");
}

}  // namespace mailseal::cli
