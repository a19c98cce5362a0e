#pragma once
// Key pair derivation from a secret seed UDF (type 200), draft section 4.4:
// HKDF-SHA-512 with the key specifier as salt, the seed's binary data as IKM
// and the parameter tag as info.

#include <cstdint>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"

namespace mailseal::udf {

// Key uses, bits 6-7 of the key specifier.
enum class KeyUse : std::uint8_t { Any = 0, Encryption = 1, Signature = 2, Authentication = 3 };

// Key algorithms, the remaining 14 bits of the key specifier (section 4.4).
enum class KeyAlgorithm : std::uint16_t {
  Any = 0,
  X25519 = 1,
  X448 = 2,
  Ed25519 = 3,
  Ed448 = 4,
  P256 = 5,
  P384 = 6,
  P521 = 7,
  Rsa2048 = 8,
  Rsa3072 = 9,
  Rsa4096 = 10,
};

// A parsed seed UDF.
struct SecretSeed {
  KeyUse use = KeyUse::Any;
  KeyAlgorithm algorithm = KeyAlgorithm::Any;
  SecretBytes binary;  // everything after the type byte, key specifier included

  static SecretSeed parse(std::string_view text);
  // A new random seed with `random_bytes` bytes of entropy after the specifier.
  static SecretSeed generate(KeyUse use, KeyAlgorithm algorithm, std::size_t random_bytes = 32);
  std::string to_string() const;
};

// The HKDF output for `algorithm` (which must be the seed's own algorithm
// unless the seed is for Any), `tag` ("" for curves, "p"/"q" for RSA) and
// `length` bytes. Section 4.4.1.
SecretBytes derive_key_material(const SecretSeed& seed, KeyAlgorithm algorithm, std::string_view tag,
                                std::size_t length);

// The private scalar of an X25519/X448/Ed25519/Ed448 key: the raw OKM of the
// length section 4.4.2 gives.
SecretBytes derive_montgomery_edwards_key(const SecretSeed& seed, KeyAlgorithm algorithm);

// The private scalar d of a P-256/384/521 key, big-endian, as section 4.4.3
// computes it: c from L bits of OKM, d = (c mod (p - 1)) + 1 with p the
// curve's field prime (the reading that reproduces the draft's examples).
SecretBytes derive_nist_curve_scalar(const SecretSeed& seed, KeyAlgorithm algorithm);

// An RSA prime (section 4.4.4): the smallest prime above the OKM for `tag`
// ("p" or "q") of `okm_bits` bits (the table gives half the modulus size; the
// draft's worked example uses 256). Big-endian.
SecretBytes derive_rsa_prime(const SecretSeed& seed, KeyAlgorithm algorithm, std::string_view tag,
                             std::size_t okm_bits);

// A non-negative big-endian integer as decimal digits (for the draft's vectors).
std::string big_endian_to_decimal(ByteView value);

}  // namespace mailseal::udf
