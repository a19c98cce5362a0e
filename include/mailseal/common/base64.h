#pragma once
// Base64 (RFC 4648 section 4), for JSON documents and MIME bodies alike.

#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"

namespace mailseal {

// One line, no line breaks.
std::string encode_base64(ByteView data);

// Decodes base64, skipping white space and line breaks; Error(Malformed) for
// anything else that is not base64 or a truncated final group.
Bytes decode_base64(std::string_view text);

}  // namespace mailseal
