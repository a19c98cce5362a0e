// What a hostile key service can hand a client: the published profile a
// lookup reads (checked against the address asked for), and the JSON inside a
// key bundle or escrow once it is opened. Property: Error or a result,
// nothing else escapes, nothing crashes.

#include "devices/internal/bundle.h"
#include "fuzz.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/devices/connect.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  static const EmailAddress alice = EmailAddress::parse("alice@example.com");
  try {
    keyservice::PublishedProfile profile = devices::read_published_profile(text, alice);
    for (const auto& certificate : profile.certificates)
      (void)certificate.email_addresses();
  } catch (const Error&) {
  }
  try {
    devices::internal::KeyBundle bundle = devices::internal::decode_bundle(input);
    (void)bundle.keys.size();
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
