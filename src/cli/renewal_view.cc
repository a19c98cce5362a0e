#include "cli/renewal_view.h"

#include <fmt/format.h>

#include "cli/output.h"
#include "mailseal/common/escape.h"

namespace mailseal::cli {

nlohmann::json renewal_json(const devices::RenewalReport& renewal) {
  nlohmann::json renewed = nlohmann::json::array();
  for (const auto& certificate : renewal.renewed) {
    nlohmann::json addresses = nlohmann::json::array();
    for (const auto& address : certificate.email_addresses())
      addresses.push_back(address.str());
    renewed.push_back({{"addresses", addresses},
                       {"fingerprint", certificate.fingerprint().to_string()},
                       {"not_after", iso_time(certificate.not_after())}});
  }
  return {{"renewed", renewed},
          {"published", renewal.published},
          {"devices_updated", renewal.devices_updated},
          {"unpublished", renewal.unpublished},
          {"publish_failure", renewal.publish_failure ? nlohmann::json(*renewal.publish_failure) : nlohmann::json()},
          {"waiting_for_admin", renewal.waiting_for_admin}};
}

void print_renewal(const devices::RenewalReport& renewal) {
  if (!renewal.renewed.empty()) {
    print_note(fmt::format("renewed {} certificate(s) (same keys) until {}", renewal.renewed.size(),
                           iso_time(renewal.renewed.front().not_after()).substr(0, 10)));
  }
  if (renewal.published) {
    print_note(fmt::format("published the renewed certificates and sent them to {} device(s)",
                           renewal.devices_updated));
  }
  if (renewal.publish_failure) {
    print_warning(fmt::format("the renewed certificates were not published: {}",
                              escape_for_terminal(*renewal.publish_failure)));
  }
  if (renewal.unpublished)
    print_hint("'mailseal sync' publishes the renewed certificates and sends them to your other devices");
  if (renewal.waiting_for_admin)
    print_note("certificates are due for renewal: an admin device renews them, then 'mailseal sync' brings them here");
}

}  // namespace mailseal::cli
