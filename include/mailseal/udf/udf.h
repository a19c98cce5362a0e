#pragma once
// Uniform Data Fingerprints (draft-hallambaker-mesh-udf-13; docs/fingerprints.md).
// A UDF is a type byte followed by data, presented in Base32 groups of four.
// Content digests and authenticators are variable length (truncated to a
// precision that is a multiple of 20 bits); nonces, keys, shares and seeds are
// fixed length.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"

namespace mailseal::udf {

// Type identifiers, draft section 3.2 / 9.5.5.
enum class TypeId : std::uint8_t {
  AuthenticatorHmacSha2_512 = 0,
  AuthenticatorHmacSha3_512 = 1,
  EncryptionHkdfAes512 = 32,
  EncryptionSignatureHkdfAes512 = 33,
  DigestSha3_512 = 80,  // 81..84: 20, 30, 40, 50 bits compressed
  DigestSha2_512 = 96,  // 97..100: 20, 30, 40, 50 bits compressed
  Nonce = 104,
  OidSequence = 112,
  ShamirShare = 144,
  SecretSeed = 200,
};

enum class DigestAlgorithm { Sha2_512, Sha3_512 };
// "SHA-2-512" or "SHA-3-512", as the draft names them.
std::string_view to_string(DigestAlgorithm algorithm) noexcept;

// The digest algorithm of a fingerprint type: SHA-3-512 for the SHA-3
// authenticator and content digests (1, 80..84), SHA-2-512 for the others.
DigestAlgorithm digest_algorithm_of(std::uint8_t type) noexcept;

// What a UDF of this type is, for people: "authenticator", "content digest",
// "encryption key", "nonce", "OID sequence", "recovery share", "secret seed",
// or "unknown".
std::string_view type_kind(std::uint8_t type) noexcept;

// Content types mailseal fingerprints (draft section 5.3).
namespace content_type {
inline constexpr std::string_view kPkixKeyInfo = "application/pkix-keyinfo";
inline constexpr std::string_view kPkixCert = "application/pkix-cert";
inline constexpr std::string_view kUdf = "application/udf";
inline constexpr std::string_view kOctetStream = "application/octet-stream";
}  // namespace content_type

// Precision, in presented bits including the type byte. 140 bits (seven
// groups) is the draft's example length; 100 bits is its shortest legitimate
// presentation (92 bits of work factor, section 3.4.1 and 8.4).
inline constexpr int kDefaultBits = 140;
inline constexpr int kMinimumBits = 100;
inline constexpr int kFullBits = 520;  // type byte + 512-bit digest
inline constexpr int kBitsPerGroup = 20;

// Error(Usage) unless `bits` is a precision a presentation can have: a
// positive multiple of kBitsPerGroup.
void check_precision(int bits);

// The typed content digest H(content-type ":" H(data)), 64 bytes (section 5.1.2).
Bytes typed_content_digest(DigestAlgorithm algorithm, std::string_view content_type, ByteView data);

// A fingerprint-type UDF: a content digest or an authenticator. Computed ones
// hold the full 520 bits; parsed ones hold what the presentation gave.
class Fingerprint {
 public:
  // Content digest UDF of `data` of the given content type (section 5.1),
  // using the compressed type when the digest ends in 20/30/40/50 zero bits.
  static Fingerprint of_content(DigestAlgorithm algorithm, std::string_view content_type, ByteView data);
  // The same from H(data), computed by the caller (data read as a stream).
  static Fingerprint of_content_digest(DigestAlgorithm algorithm, std::string_view content_type,
                                       ByteView content_digest);

  // Authenticator UDF keyed with a string (section 5.2); never compressed.
  static Fingerprint authenticator(DigestAlgorithm algorithm, std::string_view key, std::string_view content_type,
                                   ByteView data);

  // Parses any presentation: case-insensitive, dashes optional, an optional
  // "udf:" prefix, a multiple of 20 bits and at least kMinimumBits. Throws
  // Error(Malformed) saying what is wrong.
  static Fingerprint parse(std::string_view text);

  // Rebuilds a stored binary value (type byte first) of `bit_count` bits.
  static Fingerprint from_binary(ByteView binary, int bit_count);

  // Presentation at `bits` (a multiple of 20, at most precision_bits()), in
  // upper-case Base32 groups of four separated by dashes.
  std::string to_string(int bits = kDefaultBits) const;

  // True when both were made by the same algorithm from the same content:
  // the shorter presentation is a prefix of the longer one. Presentations
  // shorter than kMinimumBits never match.
  bool matches(const Fingerprint& other) const noexcept;

  TypeId type() const noexcept { return static_cast<TypeId>(binary_.front()); }
  int precision_bits() const noexcept { return bit_count_; }
  // Trailing zero bits promised by a compressed type (0, 20, 30, 40 or 50).
  int compression_bits() const noexcept;
  // Work factor of a second-preimage attack on the presentation at `bits`:
  // the digest bits shown plus the compression (draft section 8.4).
  int work_factor_bits(int bits) const noexcept;

  ByteView binary() const noexcept { return binary_; }

  bool operator==(const Fingerprint& other) const noexcept = default;

 private:
  Fingerprint(Bytes binary, int bit_count) : binary_(std::move(binary)), bit_count_(bit_count) {}
  Bytes binary_;
  int bit_count_ = 0;
};

// True for the type identifiers of fingerprint (variable length) UDFs.
bool is_fingerprint_type(std::uint8_t type) noexcept;

// A fixed-length UDF: nonce, encryption key, share or seed (section 4).
struct FixedUdf {
  TypeId type;
  Bytes data;  // the bytes after the type byte
};

// Base32 of type || data in groups of four, never truncated (section 3.1).
std::string present_fixed(TypeId type, ByteView data);

// Parses a fixed-length UDF presentation; throws Error(Malformed).
FixedUdf parse_fixed(std::string_view text);

// A fresh random nonce UDF of `byte_count` bytes (section 4.1).
std::string random_nonce(std::size_t byte_count = 16);

}  // namespace mailseal::udf
