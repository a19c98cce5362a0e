#pragma once
// Strong email addresses: an address bound to a profile fingerprint, so that
// typing or scanning it pins the key (DESIGN.md section 2). Two forms:
//   MDDK-7N6A-...?alice@example.com           (fingerprint query form)
//   alice@mm--mddk-7n6a-....example.com       (Strong Internet Name, draft section 7)

#include <string>
#include <string_view>

#include "mailseal/common/email_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::udf {

// The DNS label prefix reserved for Strong Internet Names.
inline constexpr std::string_view kStrongNamePrefix = "mm--";
// A DNS label holds 63 characters: "mm--" plus 59 of fingerprint, 240 bits.
inline constexpr int kMaxStrongNameBits = 240;

struct StrongAddress {
  EmailAddress address;
  Fingerprint fingerprint;

  // Accepts both forms; throws Error(Malformed) naming the problem.
  static StrongAddress parse(std::string_view text);
  // True if `text` looks like either strong form (has '?' or an mm-- label).
  static bool looks_strong(std::string_view text) noexcept;

  std::string to_query_form(int bits = kDefaultBits) const;
  std::string to_strong_name_form(int bits = kDefaultBits) const;
};

}  // namespace mailseal::udf
