#include "mailseal/common/secret.h"

#include <openssl/crypto.h>

namespace mailseal {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) {
    OPENSSL_cleanse(data, size);
  }
}

SecretBytes to_secret(std::span<const std::uint8_t> bytes) {
  return SecretBytes(bytes.begin(), bytes.end());
}

Passphrase::Passphrase(std::string_view text) : bytes_(text.begin(), text.end()) {}

std::string_view Passphrase::view() const noexcept {
  return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
}

}  // namespace mailseal
