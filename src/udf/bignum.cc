#include "udf/internal/bignum.h"

namespace mailseal::udf::internal {

ossl::Bignum new_bignum() {
  return ossl::Bignum(ossl::check_ptr(BN_secure_new(), "cannot allocate a big number"));
}

ossl::Bignum bignum_from_bytes(ByteView big_endian) {
  auto value = new_bignum();
  ossl::check_ptr(BN_bin2bn(big_endian.data(), static_cast<int>(big_endian.size()), value.get()),
                  "cannot convert a big number");
  return value;
}

ossl::Bignum bignum_from_word(unsigned long value) {
  auto result = new_bignum();
  ossl::check(BN_set_word(result.get(), value), "cannot set a big number");
  return result;
}

ossl::Bignum power_of_two_plus(int bits, unsigned long offset) {
  auto result = new_bignum();
  BN_zero(result.get());
  ossl::check(BN_set_bit(result.get(), bits), "cannot set a big number");
  ossl::check(BN_add_word(result.get(), offset), "cannot set a big number");
  return result;
}

SecretBytes bignum_to_bytes(const BIGNUM* value, std::size_t length) {
  SecretBytes out(length);
  ossl::check(BN_bn2binpad(value, out.data(), static_cast<int>(length)), "big number does not fit its field");
  return out;
}

}  // namespace mailseal::udf::internal
