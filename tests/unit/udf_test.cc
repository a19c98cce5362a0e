// Behaviour of fingerprints, fixed UDFs, shares and strong addresses beyond
// the draft's vectors: parsing any presentation, refusing bad ones.

#include <random>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/udf/base32.h"
#include "mailseal/udf/key_derivation.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/strong_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::udf {
namespace {

Fingerprint data_value_sha2() {
  return Fingerprint::of_content(DigestAlgorithm::Sha2_512, "text/plain", as_bytes("UDF Data Value"));
}

ErrorCode error_code_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::Internal;
}

TEST(Base32, RoundTripsEveryLength) {
  constexpr std::uint32_t kSeed = 20261127;  // fixed: a failure replays as it is
  SCOPED_TRACE(::testing::Message() << "random seed " << kSeed);
  std::mt19937 random(kSeed);
  for (std::size_t length = 0; length < 70; ++length) {
    Bytes data(length);
    for (auto& byte : data)
      byte = static_cast<std::uint8_t>(random());
    std::string encoded = base32_encode(data, length * 8);
    EXPECT_EQ(encoded.size(), (length * 8 + 4) / 5);
    BitString decoded = base32_decode(encoded);
    ASSERT_GE(decoded.bytes.size(), length);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), decoded.bytes.begin()));
  }
}

TEST(Base32, RefusesCharactersOutsideTheAlphabet) {
  EXPECT_EQ(error_code_of([] { base32_decode("MDDK1"); }), ErrorCode::Malformed);
  EXPECT_EQ(error_code_of([] { base32_decode("MDD="); }), ErrorCode::Malformed);
}

TEST(Fingerprint, AnyPresentationParsesAndMatches) {
  Fingerprint full = data_value_sha2();
  for (const char* text : {"MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF", "mddk-7n6a-727a-jzno-strx-xks7-djaf",
                           "MDDK7N6A727AJZNOSTRXXKS7DJAF", "  mddk7n6a-727ajzno-strx  ", "udf:MDDK-7N6A-727A-JZNO-STRX",
                           "MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF-XI6O-ZSLU-2VOA"}) {
    SCOPED_TRACE(text);
    Fingerprint parsed = Fingerprint::parse(text);
    EXPECT_TRUE(parsed.matches(full));
    EXPECT_TRUE(full.matches(parsed));
  }
}

TEST(Fingerprint, ShorterPresentationMatchesLongerStoredOne) {
  Fingerprint short_one = Fingerprint::parse("MDDK-7N6A-727A-JZNO-STRX");
  Fingerprint long_one = Fingerprint::parse("MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF");
  EXPECT_TRUE(short_one.matches(long_one));
  EXPECT_TRUE(long_one.matches(short_one));
  EXPECT_EQ(short_one.precision_bits(), 100);
  EXPECT_EQ(long_one.precision_bits(), 140);
}

TEST(Fingerprint, DifferentContentDoesNotMatch) {
  Fingerprint other = Fingerprint::of_content(DigestAlgorithm::Sha2_512, "text/plain", as_bytes("UDF Data Valve"));
  EXPECT_FALSE(other.matches(data_value_sha2()));
  // One flipped character at the end of a 140-bit presentation.
  EXPECT_FALSE(Fingerprint::parse("MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAG").matches(data_value_sha2()));
  // Same data, other content type: the semantic substitution the type prevents.
  Fingerprint as_html = Fingerprint::of_content(DigestAlgorithm::Sha2_512, "text/html", as_bytes("UDF Data Value"));
  EXPECT_FALSE(as_html.matches(data_value_sha2()));
  // Same data, other algorithm.
  Fingerprint sha3 = Fingerprint::of_content(DigestAlgorithm::Sha3_512, "text/plain", as_bytes("UDF Data Value"));
  EXPECT_FALSE(sha3.matches(data_value_sha2()));
}

TEST(Fingerprint, RefusesMalformedPresentations) {
  for (const char* text : {"", "----", "MDDK-7N6A-727A-JZNO",  // 80 bits: below the minimum
                           "MDDK-7N6A-727A-JZNO-STR",          // not whole groups
                           "MDDK-7N6A-727A-JZNO-STR1", "MDDK 7N6A 727A JZNO ST!X",
                           "NDD7-6CMX-H2FW-ISAL-K4VB-DQ3E-PEDM",  // a nonce, not a fingerprint
                           "SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3",  // a share
                           "MDDK\x1b[2J-7N6A-727A-JZNO-STRX"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(error_code_of([&] { Fingerprint::parse(text); }), ErrorCode::Malformed);
  }
  std::string too_long(200, 'M');
  EXPECT_EQ(error_code_of([&] { Fingerprint::parse(too_long); }), ErrorCode::Malformed);
}

TEST(Fingerprint, PresentationPrecisionIsAMultipleOfTwentyBits) {
  Fingerprint full = data_value_sha2();
  EXPECT_EQ(full.to_string(20), "MDDK");
  EXPECT_EQ(full.to_string(kFullBits).size(), 104u + 25u);
  EXPECT_EQ(error_code_of([&] { full.to_string(130); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([&] { full.to_string(540); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([&] { Fingerprint::parse("MDDK-7N6A-727A-JZNO-STRX").to_string(140); }), ErrorCode::Usage);
}

TEST(Fingerprint, WorkFactorCountsCompression) {
  EXPECT_EQ(data_value_sha2().work_factor_bits(100), 92);
  EXPECT_EQ(data_value_sha2().work_factor_bits(140), 132);
  Fingerprint compressed =
      Fingerprint::of_content(DigestAlgorithm::Sha2_512, "text/plain", as_bytes("UDF Compressed Document 4187123"));
  EXPECT_EQ(compressed.compression_bits(), 20);
  EXPECT_EQ(compressed.work_factor_bits(100), 112);
}

TEST(Fingerprint, BinaryRoundTrip) {
  Fingerprint full = data_value_sha2();
  EXPECT_EQ(Fingerprint::from_binary(full.binary(), full.precision_bits()), full);
  Bytes damaged = {0x68, 1, 2, 3};
  EXPECT_EQ(error_code_of([&] { Fingerprint::from_binary(damaged, 32); }), ErrorCode::Malformed);
}

TEST(FixedUdf, NonceRoundTrip) {
  std::string nonce = random_nonce(16);
  EXPECT_EQ(nonce.front(), 'N');
  FixedUdf parsed = parse_fixed(nonce);
  EXPECT_EQ(parsed.type, TypeId::Nonce);
  EXPECT_EQ(parsed.data.size(), 16u);
  EXPECT_EQ(present_fixed(TypeId::Nonce, parsed.data), nonce);
  EXPECT_NE(random_nonce(16), nonce);
}

TEST(FixedUdf, RefusesWrongLengthsAndPadding) {
  // 29 characters hold 18 bytes; 30 characters cannot be a whole number of bytes.
  EXPECT_EQ(error_code_of([] { parse_fixed("SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-OA"); }), ErrorCode::Malformed);
  // Last character with padding bits set ('P' instead of 'O' changes a padding bit? use '7').
  EXPECT_EQ(error_code_of([] { parse_fixed("SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-7"); }), ErrorCode::Malformed);
  EXPECT_EQ(error_code_of([] { parse_fixed("MDDK-7N6A-727A-JZNO-STRX"); }), ErrorCode::Malformed);
}

TEST(Shamir, RandomSplitsRecoverFromAnyQuorum) {
  constexpr std::uint32_t kSeed = 7;  // fixed for the secrets and the choice of shares; the split itself is random
  SCOPED_TRACE(::testing::Message() << "random seed " << kSeed);
  std::mt19937 random(kSeed);
  for (int quorum = 2; quorum <= 5; ++quorum) {
    for (std::size_t length : {1u, 16u, 32u, 64u}) {
      Bytes secret(length);
      for (auto& byte : secret)
        byte = static_cast<std::uint8_t>(random());
      auto shares = split_secret(secret, quorum + 2, quorum);
      ASSERT_EQ(shares.size(), static_cast<std::size_t>(quorum + 2));
      std::vector<Share> parsed;
      for (const auto& share : shares)
        parsed.push_back(Share::parse(share.to_string()));
      std::shuffle(parsed.begin(), parsed.end(), random);
      std::vector<Share> subset(parsed.begin(), parsed.begin() + quorum);
      auto recovered = combine_shares(subset);
      EXPECT_EQ(Bytes(recovered.begin(), recovered.end()), secret) << "quorum " << quorum << " length " << length;
    }
  }
}

TEST(Shamir, TooFewSharesIsAClearError) {
  Bytes secret(32, 0x42);
  auto shares = split_secret(secret, 3, 2);
  std::vector<Share> one = {shares[0]};
  try {
    combine_shares(one);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Usage);
    EXPECT_NE(std::string(error.what()).find("2 recovery shares are needed"), std::string::npos) << error.what();
  }
  // The same share twice does not count twice.
  std::vector<Share> same = {shares[1], shares[1]};
  EXPECT_EQ(error_code_of([&] { combine_shares(same); }), ErrorCode::Usage);
}

TEST(Shamir, CorruptedExtraShareIsDetected) {
  Bytes secret(16, 0x17);
  auto shares = split_secret(secret, 4, 2);
  shares[3].value[5] ^= 0x01;
  EXPECT_EQ(error_code_of([&] { combine_shares(shares); }), ErrorCode::Malformed);
}

TEST(Shamir, SharesOfDifferentSecretsAreRefused) {
  auto a = split_secret(Bytes(16, 1), 3, 2);
  auto b = split_secret(Bytes(32, 1), 3, 2);
  std::vector<Share> mixed = {a[0], b[1]};
  EXPECT_EQ(error_code_of([&] { combine_shares(mixed); }), ErrorCode::Malformed);
}

TEST(Shamir, RefusesImpossibleParameters) {
  Bytes secret(16, 9);
  EXPECT_EQ(error_code_of([&] { split_secret(secret, 3, 1); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([&] { split_secret(secret, 2, 3); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([&] { split_secret(secret, 17, 3); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([&] { split_secret(Bytes(65, 1), 3, 2); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([] { Share::parse("NDD7-6CMX-H2FW-ISAL-K4VB-DQ3E-PEDM"); }), ErrorCode::Malformed);
}

TEST(KeyDerivation, SeedRoundTripAndAlgorithmCheck) {
  SecretSeed seed = SecretSeed::generate(KeyUse::Signature, KeyAlgorithm::P256);
  SecretSeed parsed = SecretSeed::parse(seed.to_string());
  EXPECT_EQ(parsed.use, KeyUse::Signature);
  EXPECT_EQ(parsed.algorithm, KeyAlgorithm::P256);
  EXPECT_EQ(Bytes(parsed.binary.begin(), parsed.binary.end()), Bytes(seed.binary.begin(), seed.binary.end()));
  EXPECT_EQ(error_code_of([&] { derive_nist_curve_scalar(seed, KeyAlgorithm::P384); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([] { SecretSeed::parse("ZAAA-CDJ5"); }), ErrorCode::Malformed);
}

TEST(StrongAddress, BothFormsParseToTheSameBinding) {
  Fingerprint fingerprint = data_value_sha2();
  StrongAddress strong{EmailAddress::parse("alice@example.com"), fingerprint};
  EXPECT_EQ(strong.to_query_form(), "MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF?alice@example.com");
  EXPECT_EQ(strong.to_strong_name_form(), "alice@mm--mddk-7n6a-727a-jzno-strx-xks7-djaf.example.com");
  for (const std::string& text :
       {strong.to_query_form(), strong.to_strong_name_form(), std::string("mddk7n6a727ajznostrx?Alice@Example.COM"),
        std::string("alice@example.com.MM--MDDK-7N6A-727A-JZNO-STRX")}) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(StrongAddress::looks_strong(text));
    StrongAddress parsed = StrongAddress::parse(text);
    EXPECT_EQ(parsed.address.str(), "alice@example.com");
    EXPECT_TRUE(parsed.fingerprint.matches(fingerprint));
  }
  EXPECT_FALSE(StrongAddress::looks_strong("alice@example.com"));
}

TEST(StrongAddress, RefusesMalformedOnes) {
  for (const char* text :
       {"alice@example.com", "?alice@example.com", "MDDK-7N6A-727A-JZNO-STRX?", "MDDK-7N6A?alice@example.com",
        "MDDK-7N6A-727A-JZNO-STRX?not-an-address",
        "alice@mm--mddk-7n6a-727a-jzno-strx.mm--mddk-7n6a-727a-jzno-strx.example.com", "alice@mm--.example.com",
        "alice@mm--zzzz-zzzz-zzzz-zzzz-zz1z.example.com", "alice@mm--mddk-7n6a-727a-jzno-strx"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(error_code_of([&] { StrongAddress::parse(text); }), ErrorCode::Malformed);
  }
  StrongAddress strong{EmailAddress::parse("alice@example.com"), data_value_sha2()};
  EXPECT_EQ(error_code_of([&] { strong.to_strong_name_form(260); }), ErrorCode::Usage);
}

}  // namespace
}  // namespace mailseal::udf
