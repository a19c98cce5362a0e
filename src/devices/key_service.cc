#include "mailseal/devices/key_service.h"

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/devices/connect.h"

namespace mailseal::devices {

namespace {

constexpr std::string_view kServiceSetting = "service_url";

keyservice::Client client_of(const std::optional<std::string>& url) {
  if (!url) {
    throw Error(ErrorCode::Usage, "no key service is known for this profile",
                "give --service URL (it is remembered once used)");
  }
  return keyservice::Client(*url);
}

}  // namespace

std::optional<std::string> remembered_service(store::LocalStore& store) {
  return store.setting(kServiceSetting);
}

void remember_service(store::LocalStore& store, const std::string& url) {
  store.set_setting(kServiceSetting, url);
}

std::optional<std::string> service_to_use(std::string_view given, store::LocalStore& store) {
  if (!given.empty())
    return std::string(given);
  return remembered_service(store);
}

keyservice::Client service_client(std::string_view given, store::LocalStore& store) {
  return client_of(service_to_use(given, store));
}

keyservice::Client service_client_for_home(std::string_view given, const std::filesystem::path& home) {
  if (store::LocalStore::exists(home)) {
    store::LocalStore store = store::LocalStore::open(home);
    return service_client(given, store);
  }
  if (join_pending(home))
    return client_of(given.empty() ? pending_join_service(home) : std::string(given));
  throw Error(ErrorCode::NotFound, fmt::format("no mailseal profile in {}", home.string()),
              "make one with 'mailseal init', join one with 'mailseal device join'");
}

}  // namespace mailseal::devices
