// Strong email addresses and plain addresses. Property: a parsed strong
// address prints in both forms, and each form parses back to the same binding.

#include <cstdlib>
#include <string_view>

#include "fuzz.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/udf/strong_address.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  std::string_view text = as_string_view(input);
  try {
    auto address = EmailAddress::parse(text);
    if (!(EmailAddress::parse(address.str()) == address))
      std::abort();
  } catch (const Error&) {
  }
  try {
    auto strong = udf::StrongAddress::parse(text);
    int bits = std::min(strong.fingerprint.precision_bits(), udf::kMaxStrongNameBits);
    for (const auto& form : {strong.to_query_form(bits), strong.to_strong_name_form(bits)}) {
      auto again = udf::StrongAddress::parse(form);
      if (!(again.address == strong.address) || !again.fingerprint.matches(strong.fingerprint))
        std::abort();
    }
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
