#pragma once
// Certificate renewal (docs/profile.md, "Renewal") as `sync`, `sign` and
// `encrypt` report it.

#include <nlohmann/json.hpp>

#include "mailseal/devices/connect.h"

namespace mailseal::cli {

// {"renewed": [{"address", "purpose", "not_after"}...], "published", "devices_updated", "unpublished",
//  "publish_failure", "waiting_for_admin"}
nlohmann::json renewal_json(const devices::RenewalReport& renewal);
// Notes on stderr: what was renewed and published, what waits.
void print_renewal(const devices::RenewalReport& renewal);

}  // namespace mailseal::cli
