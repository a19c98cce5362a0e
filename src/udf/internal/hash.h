#pragma once
// Digest, HMAC and HKDF over OpenSSL, for the UDF constructions.

#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"
#include "mailseal/udf/udf.h"

namespace mailseal::udf::internal {

inline constexpr std::size_t kDigestBytes = 64;

std::string_view digest_name(DigestAlgorithm algorithm) noexcept;

// H(a || b || ...) for up to three pieces.
Bytes digest(DigestAlgorithm algorithm, ByteView first, ByteView second = {}, ByteView third = {});

Bytes hmac(DigestAlgorithm algorithm, ByteView key, ByteView first, ByteView second = {}, ByteView third = {});

// RFC 5869 HKDF-Extract / HKDF-Expand.
SecretBytes hkdf_extract(DigestAlgorithm algorithm, ByteView salt, ByteView input_key_material);
SecretBytes hkdf_expand(DigestAlgorithm algorithm, ByteView pseudo_random_key, ByteView info, std::size_t length);

}  // namespace mailseal::udf::internal
