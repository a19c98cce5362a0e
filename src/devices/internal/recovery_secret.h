#pragma once
// The profile's root secret (DESIGN.md section 6, "Recovery"): 32 bytes
// derived from the root private key, split into Shamir shares by `recovery
// create`. From it follow the id under which the key service keeps the escrow
// (found without knowing the profile) and the key the escrow is sealed with.

#include <string>

#include "mailseal/common/secret.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::devices::internal {

class RecoverySecret {
 public:
  static constexpr std::size_t kBytes = 32;

  static RecoverySecret of_root_key(const crypto::PrivateKey& root_key);
  // Error(Malformed) unless `secret` has kBytes bytes.
  static RecoverySecret from_bytes(SecretBytes secret);

  const SecretBytes& bytes() const noexcept { return secret_; }
  std::string escrow_id() const;
  SecretBytes escrow_key() const;

 private:
  explicit RecoverySecret(SecretBytes secret) : secret_(std::move(secret)) {}
  SecretBytes secret_;
};

}  // namespace mailseal::devices::internal
