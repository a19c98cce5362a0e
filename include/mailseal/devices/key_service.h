#pragma once
// Which key service a device talks to (DESIGN.md section 6), one rule for
// the CLI and the gateway: the URL given for this call (the CLI's --service)
// when there is one, else the one the store remembers from
// `init --service`, `publish` or `device join`.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "mailseal/keyservice/client.h"
#include "mailseal/store/local_store.h"

namespace mailseal::devices {

std::optional<std::string> remembered_service(store::LocalStore& store);
void remember_service(store::LocalStore& store, const std::string& url);

// `given` when not empty, else the remembered service; nullopt when neither
// names one (the gateway then looks nothing up).
std::optional<std::string> service_to_use(std::string_view given, store::LocalStore& store);

// A client of the service to use; Error(Usage) naming --service when none is known.
keyservice::Client service_client(std::string_view given, store::LocalStore& store);

// The same for a home that holds a profile or only a pending join (whose
// request names its service). Error(NotFound) when it holds neither.
keyservice::Client service_client_for_home(std::string_view given, const std::filesystem::path& home);

}  // namespace mailseal::devices
