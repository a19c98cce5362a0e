#include "mailseal/udf/key_derivation.h"

#include <array>

#include <openssl/rand.h>

#include <fmt/format.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/udf/udf.h"
#include "udf/internal/bignum.h"
#include "udf/internal/hash.h"

namespace mailseal::udf {

namespace {

// A seed carries at least 128 bits of entropy after its two-byte specifier.
constexpr std::size_t kSpecifierBytes = 2;
constexpr std::size_t kMinimumSeedEntropyBytes = 16;

std::array<std::uint8_t, 2> key_specifier(KeyUse use, KeyAlgorithm algorithm) {
  auto code = static_cast<unsigned>(algorithm);
  return {static_cast<std::uint8_t>(static_cast<unsigned>(use) << 6 | ((code >> 8) & 0x3f)),
          static_cast<std::uint8_t>(code & 0xff)};
}

bool is_montgomery_edwards(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::X25519 || algorithm == KeyAlgorithm::X448 || algorithm == KeyAlgorithm::Ed25519 ||
         algorithm == KeyAlgorithm::Ed448;
}

int curve_nid(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::P256:
      return NID_X9_62_prime256v1;
    case KeyAlgorithm::P384:
      return NID_secp384r1;
    case KeyAlgorithm::P521:
      return NID_secp521r1;
    default:
      throw Error(ErrorCode::Usage, "not a NIST curve algorithm");
  }
}

}  // namespace

SecretSeed SecretSeed::parse(std::string_view text) {
  FixedUdf fixed = parse_fixed(text);
  if (fixed.type != TypeId::SecretSeed) {
    throw Error(ErrorCode::Malformed, "not a secret seed: a seed starts with 'Z'");
  }
  if (fixed.data.size() < kSpecifierBytes + kMinimumSeedEntropyBytes) {
    throw Error(ErrorCode::Malformed, "secret seed is too short to hold 128 bits");
  }
  SecretSeed seed;
  seed.use = static_cast<KeyUse>(fixed.data[0] >> 6);
  seed.algorithm = static_cast<KeyAlgorithm>((fixed.data[0] & 0x3f) << 8 | fixed.data[1]);
  seed.binary.assign(fixed.data.begin(), fixed.data.end());
  secure_wipe(fixed.data.data(), fixed.data.size());
  return seed;
}

SecretSeed SecretSeed::generate(KeyUse use, KeyAlgorithm algorithm, std::size_t random_bytes) {
  if (random_bytes < kMinimumSeedEntropyBytes) {
    throw Error(ErrorCode::Usage, "a seed needs at least 16 random bytes");
  }
  SecretSeed seed;
  seed.use = use;
  seed.algorithm = algorithm;
  auto specifier = key_specifier(use, algorithm);
  seed.binary.assign(specifier.begin(), specifier.end());
  seed.binary.resize(kSpecifierBytes + random_bytes);
  ossl::check(RAND_priv_bytes(seed.binary.data() + kSpecifierBytes, static_cast<int>(random_bytes)),
              "random number generator failed");
  return seed;
}

std::string SecretSeed::to_string() const {
  return present_fixed(TypeId::SecretSeed, binary);
}

SecretBytes derive_key_material(const SecretSeed& seed, KeyAlgorithm algorithm, std::string_view tag,
                                std::size_t length) {
  if (seed.algorithm != KeyAlgorithm::Any && seed.algorithm != algorithm) {
    throw Error(ErrorCode::Usage, "this seed is for a different key algorithm");
  }
  // Section 4.4.1: salt = the key specifier of the key derived; IKM = the seed's
  // binary data sequence; info = the parameter tag.
  auto salt = key_specifier(seed.use, algorithm);
  SecretBytes prk = internal::hkdf_extract(DigestAlgorithm::Sha2_512, salt, seed.binary);
  return internal::hkdf_expand(DigestAlgorithm::Sha2_512, prk, as_bytes(tag), length);
}

SecretBytes derive_montgomery_edwards_key(const SecretSeed& seed, KeyAlgorithm algorithm) {
  if (!is_montgomery_edwards(algorithm)) {
    throw Error(ErrorCode::Usage, "not an X25519/X448/Ed25519/Ed448 algorithm");
  }
  // Section 4.4.2 table: L = 256 bits for the 25519 curves, 448 for the 448 curves.
  std::size_t length = (algorithm == KeyAlgorithm::X25519 || algorithm == KeyAlgorithm::Ed25519) ? 32 : 56;
  return derive_key_material(seed, algorithm, "", length);
}

SecretBytes derive_nist_curve_scalar(const SecretSeed& seed, KeyAlgorithm algorithm) {
  int nid = curve_nid(algorithm);
  // Section 4.4.3 table: L = 320, 448, 592 bits.
  std::size_t length = algorithm == KeyAlgorithm::P256 ? 40 : algorithm == KeyAlgorithm::P384 ? 56 : 74;
  SecretBytes okm = derive_key_material(seed, algorithm, "", length);
  ossl::EcGroup group(ossl::check_ptr(EC_GROUP_new_by_curve_name(nid), "cannot load the curve"));
  ossl::BnCtx context(ossl::check_ptr(BN_CTX_secure_new(), "cannot allocate a BN context"));
  auto prime = internal::new_bignum();
  ossl::check(EC_GROUP_get_curve(group.get(), prime.get(), nullptr, nullptr, context.get()), "cannot read the curve");
  ossl::check(BN_sub_word(prime.get(), 1), "big number arithmetic failed");
  auto scalar = internal::bignum_from_bytes(okm);
  ossl::check(BN_nnmod(scalar.get(), scalar.get(), prime.get(), context.get()), "big number arithmetic failed");
  ossl::check(BN_add_word(scalar.get(), 1), "big number arithmetic failed");
  return internal::bignum_to_bytes(scalar.get(), static_cast<std::size_t>(BN_num_bytes(scalar.get())));
}

SecretBytes derive_rsa_prime(const SecretSeed& seed, KeyAlgorithm algorithm, std::string_view tag,
                             std::size_t okm_bits) {
  if (algorithm != KeyAlgorithm::Rsa2048 && algorithm != KeyAlgorithm::Rsa3072 && algorithm != KeyAlgorithm::Rsa4096) {
    throw Error(ErrorCode::Usage, "not an RSA algorithm");
  }
  if (okm_bits == 0 || okm_bits % 8 != 0) {
    throw Error(ErrorCode::Usage, "RSA prime derivation needs a whole number of bytes");
  }
  SecretBytes okm = derive_key_material(seed, algorithm, tag, okm_bits / 8);
  auto candidate = internal::bignum_from_bytes(okm);
  ossl::BnCtx context(ossl::check_ptr(BN_CTX_secure_new(), "cannot allocate a BN context"));
  // "The smallest prime integer that is greater than the OKM value."
  while (true) {
    ossl::check(BN_add_word(candidate.get(), 1), "big number arithmetic failed");
    int is_prime = BN_check_prime(candidate.get(), context.get(), nullptr);
    if (is_prime < 0) {
      ossl::fail("primality test failed");
    }
    if (is_prime == 1) {
      break;
    }
  }
  return internal::bignum_to_bytes(candidate.get(), static_cast<std::size_t>(BN_num_bytes(candidate.get())));
}

std::string big_endian_to_decimal(ByteView value) {
  auto number = internal::bignum_from_bytes(value);
  ossl::OpensslString text(ossl::check_ptr(BN_bn2dec(number.get()), "cannot format a big number"));
  return std::string(text.get());
}

}  // namespace mailseal::udf
