// Certificates in PEM, DER or PKCS#7 bundles ('contact import', PKCS#12
// contents, signed messages): reading and inspecting every field.

#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/certificate.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  try {
    for (const auto& certificate : crypto::Certificate::read_all(input)) {
      (void)certificate.subject();
      (void)certificate.issuer();
      (void)certificate.common_name();
      (void)certificate.email_addresses();
      (void)certificate.key_usage();
      (void)certificate.can_sign_mail();
      (void)certificate.is_ca();
      (void)certificate.fingerprint();
      try {
        (void)certificate.serial_hex();
        (void)certificate.not_before();
        (void)certificate.not_after();
        (void)certificate.key_fingerprint();
        (void)certificate.can_encrypt_mail();
      } catch (const Error&) {
      }
      auto again = crypto::Certificate::from_der(certificate.der());
      (void)again;
      // What OpenSSL decodes, the validity reader reads alike (renewal checks).
      try {
        const crypto::Validity validity = crypto::read_validity(certificate.der());
        if (validity.not_after != certificate.not_after() || validity.not_before != certificate.not_before())
          __builtin_trap();
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  // The validity reader alone, on the raw bytes: any answer, or a Malformed.
  try {
    (void)crypto::read_validity(input);
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
