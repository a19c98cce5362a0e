#include "devices/internal/steps.h"

#include "mailseal/common/error.h"
#include "mailseal/keyservice/protocol.h"

namespace mailseal::devices::internal {

KeySigner root_signer(profile::Profile& profile, const KeyAccess& key_access, TimePoint now) {
  return KeySigner(profile.root_key(key_access), std::string(keyservice::kRootKey), now);
}

store::DeviceRecord this_device(store::LocalStore& store) {
  for (auto& device : store.devices()) {
    if (device.is_this_device)
      return device;
  }
  throw Error(ErrorCode::Malformed, "the store does not say which device it is");
}

}  // namespace mailseal::devices::internal
