#include "mailseal/devices/key_service.h"

namespace mailseal::devices {

namespace {

constexpr std::string_view kServiceSetting = "service_url";

}  // namespace

std::optional<std::string> remembered_service(store::LocalStore& store) {
  return store.setting(kServiceSetting);
}

void remember_service(store::LocalStore& store, const std::string& url) {
  store.set_setting(kServiceSetting, url);
}

}  // namespace mailseal::devices
