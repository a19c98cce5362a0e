#pragma once
// Small helpers over OpenSSL BIGNUM for the UDF number theory (shares, key
// derivation).

#include "common/openssl.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"

namespace mailseal::udf::internal {

ossl::Bignum new_bignum();
ossl::Bignum bignum_from_bytes(ByteView big_endian);
ossl::Bignum bignum_from_word(unsigned long value);
// 2^bits + offset.
ossl::Bignum power_of_two_plus(int bits, unsigned long offset);
// Big-endian, left-padded with zeros to `length` bytes; throws if it does not fit.
SecretBytes bignum_to_bytes(const BIGNUM* value, std::size_t length);

}  // namespace mailseal::udf::internal
