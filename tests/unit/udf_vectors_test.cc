// The draft's own examples, read from tests/vectors/udf/*.vec.

#include <gtest/gtest.h>

#include "mailseal/common/bytes.h"
#include "mailseal/udf/base32.h"
#include "mailseal/udf/key_derivation.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/udf.h"
#include "vec.h"

namespace mailseal::udf {
namespace {

using test::read_vec_file;
using test::vectors_dir;

DigestAlgorithm parse_algorithm(const std::string& name) {
  if (name == "SHA2-512")
    return DigestAlgorithm::Sha2_512;
  if (name == "SHA3-512")
    return DigestAlgorithm::Sha3_512;
  throw std::runtime_error("unknown digest algorithm " + name);
}

KeyAlgorithm parse_key_algorithm(const std::string& name) {
  static const std::map<std::string, KeyAlgorithm> kNames = {
      {"X25519", KeyAlgorithm::X25519}, {"X448", KeyAlgorithm::X448},       {"Ed25519", KeyAlgorithm::Ed25519},
      {"Ed448", KeyAlgorithm::Ed448},   {"P256", KeyAlgorithm::P256},       {"P384", KeyAlgorithm::P384},
      {"P521", KeyAlgorithm::P521},     {"Rsa2048", KeyAlgorithm::Rsa2048}, {"Rsa3072", KeyAlgorithm::Rsa3072}};
  return kNames.at(name);
}

std::string raw_base32(ByteView bytes) {
  return group_characters(base32_encode(bytes, bytes.size() * 8));
}

TEST(UdfVectors, ContentDigestAndAuthenticator) {
  auto records = read_vec_file(vectors_dir() / "udf/content_digest.vec");
  ASSERT_GE(records.size(), 7u);
  for (const auto& record : records) {
    SCOPED_TRACE("vector at line " + std::to_string(record.line));
    test::expect_only_keys(record, {"Data", "ContentType", "Algorithm", "Bits", "Udf", "TypedDigest", "Key"});
    auto algorithm = parse_algorithm(record.get("Algorithm"));
    ByteView data = as_bytes(record.get("Data"));
    int bits = std::stoi(record.get("Bits"));
    Fingerprint fingerprint =
        record.section == "authenticator"
            ? Fingerprint::authenticator(algorithm, record.get("Key"), record.get("ContentType"), data)
            : Fingerprint::of_content(algorithm, record.get("ContentType"), data);
    EXPECT_EQ(fingerprint.to_string(bits), record.get("Udf"));
    if (record.has("TypedDigest")) {
      EXPECT_EQ(to_hex(typed_content_digest(algorithm, record.get("ContentType"), data)),
                to_hex(from_hex(record.get("TypedDigest"))));
    }
    // Every presentation parses back and matches the full value.
    EXPECT_TRUE(Fingerprint::parse(record.get("Udf")).matches(fingerprint));
  }
}

TEST(UdfVectors, ShamirSplitWithTheDraftsCoefficients) {
  auto records = read_vec_file(vectors_dir() / "udf/shamir.vec");
  int checked = 0;
  for (const auto& record : records) {
    if (record.section != "split")
      continue;
    test::expect_only_keys(record, {"Secret", "SecretBase32", "A0", "A1", "A2", "F1", "F2", "F3", "F4", "F5", "Share1",
                                    "Share2", "Share3", "Share4", "Share5"});
    Bytes secret = from_hex(record.get("Secret"));
    EXPECT_EQ(raw_base32(secret), record.get("SecretBase32"));
    EXPECT_EQ(big_endian_to_decimal(secret), record.get("A0"));
    // The coefficients are given in decimal; convert through the shares' own
    // arithmetic by checking the decimal rendering of our big-endian values.
    auto decimal_to_bytes = [](const std::string& decimal) {
      // Horner in base 256 on the decimal digits.
      Bytes value(17, 0);
      for (char digit : decimal) {
        unsigned carry = static_cast<unsigned>(digit - '0');
        for (auto it = value.rbegin(); it != value.rend(); ++it) {
          unsigned next = *it * 10u + carry;
          *it = static_cast<std::uint8_t>(next & 0xff);
          carry = next >> 8;
        }
      }
      return value;
    };
    std::vector<Bytes> coefficients = {decimal_to_bytes(record.get("A1")), decimal_to_bytes(record.get("A2"))};
    auto shares = split_secret_with_coefficients(secret, coefficients, 5);
    ASSERT_EQ(shares.size(), 5u);
    for (int x = 1; x <= 5; ++x) {
      const Share& share = shares[static_cast<std::size_t>(x - 1)];
      EXPECT_EQ(share.quorum, 3);
      EXPECT_EQ(share.x, x);
      EXPECT_EQ(big_endian_to_decimal(share.value), record.get("F" + std::to_string(x)));
      EXPECT_EQ(share.to_string(), record.get("Share" + std::to_string(x)));
    }
    // Any three recover the secret.
    std::vector<Share> some = {shares[4], shares[0], shares[2]};
    auto recovered = combine_shares(some);
    EXPECT_EQ(Bytes(recovered.begin(), recovered.end()), secret);
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

TEST(UdfVectors, ShamirCombineTheIntroductionsShares) {
  auto records = read_vec_file(vectors_dir() / "udf/shamir.vec");
  int checked = 0;
  for (const auto& record : records) {
    if (record.section != "combine")
      continue;
    test::expect_only_keys(record, {"Share1", "Share2", "Share3", "SecretBase32"});
    std::vector<Share> all = {Share::parse(record.get("Share1")), Share::parse(record.get("Share2")),
                              Share::parse(record.get("Share3"))};
    for (std::size_t left_out = 0; left_out < all.size(); ++left_out) {
      std::vector<Share> two;
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (i != left_out)
          two.push_back(all[i]);
      }
      EXPECT_EQ(raw_base32(combine_shares(two)), record.get("SecretBase32"));
    }
    // All three together are consistent, so they recover the same value.
    EXPECT_EQ(raw_base32(combine_shares(all)), record.get("SecretBase32"));
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

TEST(UdfVectors, KeyDerivation) {
  auto records = read_vec_file(vectors_dir() / "udf/key_derivation.vec");
  int checked = 0;
  for (const auto& record : records) {
    SCOPED_TRACE("vector at line " + std::to_string(record.line));
    test::expect_only_keys(
        record, {"Seed", "Algorithm", "Salt", "Ikm", "Okm", "Key", "OkmBits", "OkmP", "OkmQ", "KeyP", "KeyQ"});
    SecretSeed seed = SecretSeed::parse(record.get("Seed"));
    KeyAlgorithm algorithm = parse_key_algorithm(record.get("Algorithm"));
    if (record.has("Ikm")) {
      EXPECT_EQ(to_hex(seed.binary), to_hex(from_hex(record.get("Ikm"))));
    }
    if (record.section == "okm") {
      auto okm = derive_key_material(seed, algorithm, "", 32);
      EXPECT_EQ(to_hex(okm), to_hex(from_hex(record.get("Okm"))));
    } else if (record.section == "montgomery_edwards") {
      EXPECT_EQ(to_hex(derive_montgomery_edwards_key(seed, algorithm)), to_hex(from_hex(record.get("Key"))));
    } else if (record.section == "nist_curve") {
      if (record.has("Okm")) {
        auto okm = derive_key_material(seed, algorithm, "", 40);
        EXPECT_EQ(to_hex(okm), to_hex(from_hex(record.get("Okm"))));
      }
      EXPECT_EQ(big_endian_to_decimal(derive_nist_curve_scalar(seed, algorithm)), record.get("Key"));
    } else if (record.section == "rsa") {
      auto bits = static_cast<std::size_t>(std::stoi(record.get("OkmBits")));
      if (record.has("OkmP")) {
        EXPECT_EQ(to_hex(derive_key_material(seed, algorithm, "p", bits / 8)), to_hex(from_hex(record.get("OkmP"))));
        EXPECT_EQ(to_hex(derive_key_material(seed, algorithm, "q", bits / 8)), to_hex(from_hex(record.get("OkmQ"))));
      }
      EXPECT_EQ(big_endian_to_decimal(derive_rsa_prime(seed, algorithm, "p", bits)), record.get("KeyP"));
      EXPECT_EQ(big_endian_to_decimal(derive_rsa_prime(seed, algorithm, "q", bits)), record.get("KeyQ"));
    } else {
      ADD_FAILURE() << "unknown section " << record.section;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 10);
}

}  // namespace
}  // namespace mailseal::udf
