#include <openssl/rand.h>

#include <fmt/format.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/udf/base32.h"
#include "mailseal/udf/udf.h"
#include "udf/internal/hash.h"

namespace mailseal::udf {

namespace {

// Section 5.2.2: the key of an authenticator UDF is expanded with these labels.
constexpr std::string_view kKeyedUdfMaster = "KeyedUDFMaster";
constexpr std::string_view kKeyedUdfExpand = "KeyedUDFExpand";
constexpr std::string_view kUriScheme = "udf:";

std::uint8_t base_type(DigestAlgorithm algorithm) {
  return static_cast<std::uint8_t>(algorithm == DigestAlgorithm::Sha3_512 ? TypeId::DigestSha3_512
                                                                          : TypeId::DigestSha2_512);
}

// Trailing zero bits of the whole digest, least significant bits of the last
// byte first. The draft's prose says "the first 8 bytes", but its worked
// examples (sections 5.1.8 and 5.1.9) count the end of the 512-bit value, and
// those examples are what interoperates; docs/fingerprints.md records this.
int trailing_zero_bits(ByteView digest) {
  int count = 0;
  for (auto it = digest.rbegin(); it != digest.rend(); ++it) {
    if (*it == 0) {
      count += 8;
      continue;
    }
    for (unsigned value = *it; (value & 1u) == 0; value >>= 1) {
      ++count;
    }
    break;
  }
  return count;
}

// Section 5.1.3: 20, 30, 40 or 50 trailing zero bits select compressed types.
std::uint8_t compression_offset(int zero_bits) {
  if (zero_bits >= 50)
    return 4;
  if (zero_bits >= 40)
    return 3;
  if (zero_bits >= 30)
    return 2;
  if (zero_bits >= 20)
    return 1;
  return 0;
}

void check_presentation_bits(int bits, int available) {
  check_precision(bits);
  if (bits > available) {
    throw Error(ErrorCode::Usage,
                fmt::format("fingerprint precision {} exceeds the {} bits available", bits, available));
  }
}

}  // namespace

void check_precision(int bits) {
  if (bits <= 0 || bits % kBitsPerGroup != 0) {
    throw Error(ErrorCode::Usage,
                fmt::format("fingerprint precision must be a positive multiple of 20 bits, not {}", bits));
  }
}

std::string_view to_string(DigestAlgorithm algorithm) noexcept {
  return algorithm == DigestAlgorithm::Sha3_512 ? "SHA-3-512" : "SHA-2-512";
}

DigestAlgorithm digest_algorithm_of(std::uint8_t type) noexcept {
  const bool sha3 = type == static_cast<std::uint8_t>(TypeId::AuthenticatorHmacSha3_512) ||
                    (type >= static_cast<std::uint8_t>(TypeId::DigestSha3_512) && type <= 84);
  return sha3 ? DigestAlgorithm::Sha3_512 : DigestAlgorithm::Sha2_512;
}

std::string_view type_kind(std::uint8_t type) noexcept {
  if (type <= static_cast<std::uint8_t>(TypeId::AuthenticatorHmacSha3_512))
    return "authenticator";
  if ((type >= 80 && type <= 84) || (type >= 96 && type <= 100))
    return "content digest";
  switch (static_cast<TypeId>(type)) {
    case TypeId::EncryptionHkdfAes512:
    case TypeId::EncryptionSignatureHkdfAes512:
      return "encryption key";
    case TypeId::Nonce:
      return "nonce";
    case TypeId::OidSequence:
      return "OID sequence";
    case TypeId::ShamirShare:
      return "recovery share";
    case TypeId::SecretSeed:
      return "secret seed";
    default:
      return "unknown";
  }
}

bool is_fingerprint_type(std::uint8_t type) noexcept {
  return type == static_cast<std::uint8_t>(TypeId::AuthenticatorHmacSha2_512) ||
         type == static_cast<std::uint8_t>(TypeId::AuthenticatorHmacSha3_512) || (type >= 80 && type <= 84) ||
         (type >= 96 && type <= 100);
}

Bytes typed_content_digest(DigestAlgorithm algorithm, std::string_view content_type, ByteView data) {
  Bytes content_digest = internal::digest(algorithm, data);
  return internal::digest(algorithm, as_bytes(content_type), as_bytes(":"), content_digest);
}

Fingerprint Fingerprint::of_content(DigestAlgorithm algorithm, std::string_view content_type, ByteView data) {
  return of_content_digest(algorithm, content_type, internal::digest(algorithm, data));
}

Fingerprint Fingerprint::of_content_digest(DigestAlgorithm algorithm, std::string_view content_type,
                                           ByteView content_digest) {
  Bytes typed = internal::digest(algorithm, as_bytes(content_type), as_bytes(":"), content_digest);
  Bytes binary;
  binary.reserve(1 + typed.size());
  binary.push_back(static_cast<std::uint8_t>(base_type(algorithm) + compression_offset(trailing_zero_bits(typed))));
  binary.insert(binary.end(), typed.begin(), typed.end());
  return Fingerprint(std::move(binary), kFullBits);
}

Fingerprint Fingerprint::authenticator(DigestAlgorithm algorithm, std::string_view key, std::string_view content_type,
                                       ByteView data) {
  // Section 5.2.2: PRK = MAC("KeyedUDFMaster", key); OKM = HKDF-Expand(PRK, "KeyedUDFExpand", HashLen).
  SecretBytes prk = internal::hkdf_extract(algorithm, as_bytes(kKeyedUdfMaster), as_bytes(key));
  SecretBytes okm = internal::hkdf_expand(algorithm, prk, as_bytes(kKeyedUdfExpand), internal::kDigestBytes);
  Bytes content_digest = internal::digest(algorithm, data);
  Bytes value = internal::hmac(algorithm, okm, as_bytes(content_type), as_bytes(":"), content_digest);
  Bytes binary;
  binary.push_back(static_cast<std::uint8_t>(
      algorithm == DigestAlgorithm::Sha3_512 ? TypeId::AuthenticatorHmacSha3_512 : TypeId::AuthenticatorHmacSha2_512));
  binary.insert(binary.end(), value.begin(), value.end());
  return Fingerprint(std::move(binary), kFullBits);
}

Fingerprint Fingerprint::parse(std::string_view text) {
  std::string_view trimmed = text;
  while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t'))
    trimmed.remove_prefix(1);
  while (!trimmed.empty() &&
         (trimmed.back() == ' ' || trimmed.back() == '\t' || trimmed.back() == '\n' || trimmed.back() == '\r'))
    trimmed.remove_suffix(1);
  if (trimmed.size() >= kUriScheme.size()) {
    std::string prefix = strip_presentation(trimmed.substr(0, kUriScheme.size()));
    if (prefix == "UDF:") {
      trimmed.remove_prefix(kUriScheme.size());
    }
  }
  std::string characters = strip_presentation(trimmed);
  auto refuse = [&](std::string_view why) {
    throw Error(ErrorCode::Malformed, fmt::format("'{}' is not a fingerprint: {}", text, why));
  };
  if (characters.empty()) {
    refuse("it is empty");
  }
  if (characters.size() > static_cast<std::size_t>(kFullBits / 5)) {
    refuse("it is longer than the 520 bits a fingerprint has");
  }
  BitString bits;
  try {
    bits = base32_decode(characters);
  } catch (const Error& error) {
    refuse(error.what());
  }
  if (bits.bit_count % kBitsPerGroup != 0) {
    refuse("fingerprints come in whole groups of four characters");
  }
  if (bits.bit_count < static_cast<std::size_t>(kMinimumBits)) {
    refuse(fmt::format("it has {} bits; at least {} (five groups) are needed", bits.bit_count, kMinimumBits));
  }
  if (!is_fingerprint_type(bits.bytes.front())) {
    refuse(fmt::format("type {} is not a content digest or authenticator", bits.bytes.front()));
  }
  return Fingerprint(std::move(bits.bytes), static_cast<int>(bits.bit_count));
}

Fingerprint Fingerprint::from_binary(ByteView binary, int bit_count) {
  if (binary.empty() || bit_count <= 0 || static_cast<std::size_t>(bit_count) > binary.size() * 8 ||
      !is_fingerprint_type(binary.front())) {
    throw Error(ErrorCode::Malformed, "stored fingerprint is damaged");
  }
  return Fingerprint(Bytes(binary.begin(), binary.end()), bit_count);
}

std::string Fingerprint::to_string(int bits) const {
  check_presentation_bits(bits, bit_count_);
  return group_characters(base32_encode(binary_, static_cast<std::size_t>(bits)));
}

bool Fingerprint::matches(const Fingerprint& other) const noexcept {
  int common = std::min(bit_count_, other.bit_count_);
  if (common < kMinimumBits) {
    return false;
  }
  for (int bit = 0; bit < common; ++bit) {
    auto get = [bit](const Bytes& bytes) { return (bytes[static_cast<std::size_t>(bit / 8)] >> (7 - bit % 8)) & 1; };
    if (get(binary_) != get(other.binary_)) {
      return false;
    }
  }
  return true;
}

int Fingerprint::compression_bits() const noexcept {
  std::uint8_t type = binary_.front();
  int level = 0;
  if (type >= 81 && type <= 84) {
    level = type - 80;
  } else if (type >= 97 && type <= 100) {
    level = type - 96;
  }
  static constexpr int kBitsForLevel[] = {0, 20, 30, 40, 50};
  return kBitsForLevel[level];
}

int Fingerprint::work_factor_bits(int bits) const noexcept {
  return std::max(0, std::min(bits, bit_count_) - 8) + compression_bits();
}

std::string present_fixed(TypeId type, ByteView data) {
  Bytes binary;
  binary.reserve(1 + data.size());
  binary.push_back(static_cast<std::uint8_t>(type));
  binary.insert(binary.end(), data.begin(), data.end());
  std::string out = group_characters(base32_encode(binary, binary.size() * 8));
  secure_wipe(binary.data(), binary.size());
  return out;
}

FixedUdf parse_fixed(std::string_view text) {
  std::string characters = strip_presentation(text);
  auto refuse = [&](std::string_view why) {
    throw Error(ErrorCode::Malformed, fmt::format("not a valid UDF: {}", why));
  };
  if (characters.size() < 2) {
    refuse("it is too short");
  }
  if (characters.size() > 256) {
    refuse("it is too long");
  }
  BitString bits;
  try {
    bits = base32_decode(characters);
  } catch (const Error& error) {
    refuse(error.what());
  }
  // A fixed-length value of n bytes is presented in exactly ceil(8n/5)
  // characters; the padding bits of the last character are zero.
  std::size_t byte_count = bits.bit_count / 8;
  if ((byte_count * 8 + 4) / 5 != characters.size()) {
    refuse("its length does not correspond to a whole number of bytes");
  }
  for (std::size_t bit = byte_count * 8; bit < bits.bit_count; ++bit) {
    if ((bits.bytes[bit / 8] >> (7 - bit % 8)) & 1) {
      refuse("its last character has padding bits set");
    }
  }
  if (is_fingerprint_type(bits.bytes.front())) {
    refuse("it is a fingerprint, not a fixed-length value");
  }
  FixedUdf out{static_cast<TypeId>(bits.bytes.front()),
               Bytes(bits.bytes.begin() + 1, bits.bytes.begin() + static_cast<std::ptrdiff_t>(byte_count))};
  secure_wipe(bits.bytes.data(), bits.bytes.size());
  return out;
}

std::string random_nonce(std::size_t byte_count) {
  Bytes random(byte_count);
  ossl::check(RAND_bytes(random.data(), static_cast<int>(random.size())), "random number generator failed");
  return present_fixed(TypeId::Nonce, random);
}

}  // namespace mailseal::udf
