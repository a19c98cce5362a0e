#pragma once
// How this device unlocks the private key files of its store, and protects
// the ones it writes: either they are not encrypted, or they are encrypted
// with one passphrase (docs/glossary.md). The one way key access is handed
// to the library (profile, devices, clients, agent, gateway). Other secrets
// keep their own type: a PKCS#12 file's password, a Thunderbird database's
// password.

#include <optional>

#include "mailseal/common/secret.h"

namespace mailseal {

class KeyAccess {
 public:
  // Key files are not encrypted: read as plain PKCS#8, written so (0600).
  static KeyAccess unencrypted();
  // Key files are encrypted with `passphrase`. Error(Usage) when it is
  // empty: an empty passphrase protects nothing.
  static KeyAccess with_passphrase(Passphrase passphrase);

  // True when key files are encrypted with passphrase().
  bool encrypted() const noexcept;
  // The passphrase, for crypto's PKCS#8 reading and writing; null when key
  // files are not encrypted.
  const Passphrase* passphrase() const noexcept;

 private:
  explicit KeyAccess(std::optional<Passphrase> passphrase);
  std::optional<Passphrase> passphrase_;  // wiped on destruction (SecretBytes)
};

}  // namespace mailseal
