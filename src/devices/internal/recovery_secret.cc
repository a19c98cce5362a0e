#include "devices/internal/recovery_secret.h"

#include "mailseal/common/error.h"
#include "mailseal/crypto/symmetric.h"

namespace mailseal::devices::internal {

RecoverySecret RecoverySecret::of_root_key(const crypto::PrivateKey& root_key) {
  SecretBytes der = root_key.to_pkcs8_der();
  return RecoverySecret(crypto::derive_symmetric_key(der, "mailseal root secret v1"));
}

RecoverySecret RecoverySecret::from_bytes(SecretBytes secret) {
  if (secret.size() != kBytes) {
    throw Error(ErrorCode::Malformed, "the recovered secret is not a mailseal root secret");
  }
  return RecoverySecret(std::move(secret));
}

std::string RecoverySecret::escrow_id() const {
  return to_hex(crypto::derive_symmetric_key(secret_, "mailseal escrow id v1"));
}

SecretBytes RecoverySecret::escrow_key() const {
  return crypto::derive_symmetric_key(secret_, "mailseal escrow key v1");
}

}  // namespace mailseal::devices::internal
