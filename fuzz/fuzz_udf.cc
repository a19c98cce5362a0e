// UDF presentations: fingerprints, fixed-length UDFs, shares and seeds.
// Property: whatever parses re-encodes to something that parses to the same.

#include <cstdlib>
#include <string_view>

#include "fuzz.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/error.h"
#include "mailseal/udf/key_derivation.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/udf.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  std::string_view text = as_string_view(input);
  try {
    auto fingerprint = udf::Fingerprint::parse(text);
    auto again = udf::Fingerprint::parse(fingerprint.to_string(fingerprint.precision_bits()));
    if (!(again == fingerprint) || !again.matches(fingerprint))
      std::abort();
  } catch (const Error&) {
  }
  try {
    auto fixed = udf::parse_fixed(text);
    auto again = udf::parse_fixed(udf::present_fixed(fixed.type, fixed.data));
    if (again.type != fixed.type || again.data != fixed.data)
      std::abort();
  } catch (const Error&) {
  }
  try {
    auto share = udf::Share::parse(text);
    auto again = udf::Share::parse(share.to_string());
    if (again.x != share.x || again.quorum != share.quorum || again.value != share.value)
      std::abort();
  } catch (const Error&) {
  }
  try {
    auto seed = udf::SecretSeed::parse(text);
    if (udf::SecretSeed::parse(seed.to_string()).binary != seed.binary)
      std::abort();
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
