// Trust material from other people ('contact import'): endorsement
// cross-certificates with their extension and name constraints, and
// revocation lists.

#include "fuzz.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/trust/trust.h"

namespace mailseal::fuzz {

namespace {

void inspect_endorsements(std::span<const std::uint8_t> input) {
  const EmailAddress probe = EmailAddress::parse("bob@mail.example.org");
  try {
    for (const auto& certificate : crypto::Certificate::read_all(input)) {
      (void)crypto::is_endorsement(certificate);
      for (const auto& constraint : crypto::permitted_email_constraints(certificate)) {
        (void)trust::scope_permits(constraint, probe);
      }
      try {
        if (auto terms = crypto::read_endorsement(certificate)) {
          for (const auto& constraint : terms->scope)
            (void)trust::scope_permits(constraint, probe);
        }
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
}

void inspect_revocation_list(std::span<const std::uint8_t> input) {
  try {
    auto list = crypto::RevocationList::read(input);
    (void)list.issuer();
    (void)list.revoked_serials();
    (void)crypto::RevocationList::read(list.der()).revoked_serials();
  } catch (const Error&) {
  }
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  inspect_endorsements(input);
  inspect_revocation_list(input);
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
