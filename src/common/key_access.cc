#include "mailseal/common/key_access.h"

#include <utility>

#include "mailseal/common/error.h"

namespace mailseal {

KeyAccess::KeyAccess(std::optional<Passphrase> passphrase) : passphrase_(std::move(passphrase)) {}

KeyAccess KeyAccess::unencrypted() {
  return KeyAccess(std::nullopt);
}

KeyAccess KeyAccess::with_passphrase(Passphrase passphrase) {
  if (passphrase.empty()) {
    throw Error(ErrorCode::Usage, "the passphrase is empty");
  }
  return KeyAccess(std::move(passphrase));
}

bool KeyAccess::encrypted() const noexcept {
  return passphrase_.has_value();
}

const Passphrase* KeyAccess::passphrase() const noexcept {
  return passphrase_ ? &*passphrase_ : nullptr;
}

}  // namespace mailseal
