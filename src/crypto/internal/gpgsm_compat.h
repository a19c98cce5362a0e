#pragma once
// Compatibility with gpgsm 2.2's own PKCS#12 reader (see pkcs12.cc).

#include <string_view>

#include "mailseal/common/bytes.h"

namespace mailseal::crypto::internal {

// True if gpgsm 2.2 derives the right 3DES key for this salt and password
// (its key derivation drops a leading zero byte of an updated block).
bool gpgsm_derives_correctly(std::string_view password, ByteView salt, int iterations);

}  // namespace mailseal::crypto::internal
