// PKCS#12 files given to 'mailseal import pkcs12' (password "fuzz", and empty).

#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/pkcs12.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  for (const char* password : {"fuzz", ""}) {
    try {
      auto contents = crypto::read_pkcs12(input, Passphrase(password));
      for (const auto& identity : contents.identities) {
        (void)identity.certificate.email_addresses();
        (void)identity.key.public_key().fingerprint();
      }
    } catch (const Error&) {
    }
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
