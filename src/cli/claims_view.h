#pragma once
// Where a profile's addresses stand on the key service after a publication
// (docs/service.md, "Verified addresses"), for `init --service` and `publish`.

#include <vector>

#include <nlohmann/json.hpp>

#include "mailseal/keyservice/documents.h"

namespace mailseal::cli {

// [{"address", "state"}, ...]
nlohmann::json claims_json(const std::vector<keyservice::AddressClaim>& claims);
// A note for every address waiting for its challenge mail.
void print_pending_claims(const std::vector<keyservice::AddressClaim>& claims);

}  // namespace mailseal::cli
