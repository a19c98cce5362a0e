#pragma once
// What a UDF or a strong address given as text is (`mailseal udf --parse`).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "mailseal/common/email_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::udf {

struct UdfDescription {
  std::string_view kind;  // type_kind(type), or "strong address"
  std::uint8_t type = 0;
  std::optional<Fingerprint> fingerprint;  // a fingerprint's, or a strong address's
  std::optional<EmailAddress> address;     // a strong address's
  std::optional<std::size_t> bytes;        // a fixed-length UDF's data length
  std::optional<int> quorum;               // a recovery share's quorum ...
  std::optional<int> share;                // ... and its x
};

// Reads `text` as a strong address, a fingerprint, or a fixed-length UDF, in
// that order. Error(Malformed) from the strong address parser for text that
// looks strong, else the fingerprint parser's when it is neither a
// fingerprint nor a fixed-length UDF. The data of a fixed-length UDF (a key,
// a seed) is wiped, never kept.
UdfDescription describe(std::string_view text);

}  // namespace mailseal::udf
