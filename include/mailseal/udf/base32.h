#pragma once
// RFC 4648 Base32 (alphabet A-Z 2-7, no padding) over bit strings, as UDF
// presents them (draft-hallambaker-mesh-udf-13 section 3.1).

#include <cstddef>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"

namespace mailseal::udf {

// A bit string: the first `bit_count` bits of `bytes`, most significant first.
struct BitString {
  Bytes bytes;
  std::size_t bit_count = 0;
};

// Encodes the first `bit_count` bits of `data` (zero-filled past its end) as
// ceil(bit_count / 5) characters.
std::string base32_encode(ByteView data, std::size_t bit_count);

// Decodes Base32 characters (upper or lower case; no dashes) into 5 bits each.
// Throws Error(Malformed) on a character outside the alphabet.
BitString base32_decode(std::string_view characters);

// Inserts `separator` between groups of `group_size` characters.
std::string group_characters(std::string_view characters, std::size_t group_size = 4, char separator = '-');

// Removes dashes and surrounding white space and upper-cases; the inverse of
// group_characters for any grouping a person might have typed.
std::string strip_presentation(std::string_view text);

}  // namespace mailseal::udf
