#pragma once
// Which key service a device talks to (DESIGN.md section 6): the one a
// command names, else the one its store remembers from `init --service`,
// `publish` or `device join`.

#include <optional>
#include <string>

#include "mailseal/store/local_store.h"

namespace mailseal::devices {

std::optional<std::string> remembered_service(store::LocalStore& store);
void remember_service(store::LocalStore& store, const std::string& url);

}  // namespace mailseal::devices
