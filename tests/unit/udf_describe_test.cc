// What `mailseal udf --parse` says about a UDF or strong address
// (udf/describe.h), the names of UDF types and digest algorithms, and the
// precision check `udf --bits` relies on.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/udf/describe.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/strong_address.h"
#include "mailseal/udf/udf.h"

namespace mailseal::udf {
namespace {

TEST(UdfTypes, EachTypeHasItsKind) {
  EXPECT_EQ(type_kind(0), "authenticator");
  EXPECT_EQ(type_kind(1), "authenticator");
  for (std::uint8_t type : {80, 84, 96, 100})
    EXPECT_EQ(type_kind(type), "content digest") << int(type);
  EXPECT_EQ(type_kind(32), "encryption key");
  EXPECT_EQ(type_kind(33), "encryption key");
  EXPECT_EQ(type_kind(104), "nonce");
  EXPECT_EQ(type_kind(112), "OID sequence");
  EXPECT_EQ(type_kind(144), "recovery share");
  EXPECT_EQ(type_kind(200), "secret seed");
  for (std::uint8_t type : {2, 79, 85, 95, 101, 255})
    EXPECT_EQ(type_kind(type), "unknown") << int(type);
}

TEST(UdfTypes, TheDigestAlgorithmFollowsTheType) {
  for (std::uint8_t type : {1, 80, 81, 84})
    EXPECT_EQ(digest_algorithm_of(type), DigestAlgorithm::Sha3_512) << int(type);
  for (std::uint8_t type : {0, 96, 97, 100})
    EXPECT_EQ(digest_algorithm_of(type), DigestAlgorithm::Sha2_512) << int(type);
  EXPECT_EQ(to_string(DigestAlgorithm::Sha2_512), "SHA-2-512");
  EXPECT_EQ(to_string(DigestAlgorithm::Sha3_512), "SHA-3-512");
}

TEST(UdfTypes, APrecisionIsAPositiveMultipleOfTwentyBits) {
  for (int bits : {20, 100, 140, 520})
    EXPECT_NO_THROW(check_precision(bits)) << bits;
  for (int bits : {0, -20, 30, 130}) {
    try {
      check_precision(bits);
      ADD_FAILURE() << bits << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Usage);
    }
  }
}

TEST(Describe, AFingerprint) {
  Fingerprint sha3 = Fingerprint::of_content(DigestAlgorithm::Sha3_512, "text/plain", as_bytes("UDF Data Value"));
  UdfDescription description = describe(sha3.to_string(200));
  EXPECT_EQ(description.kind, "content digest");
  EXPECT_EQ(digest_algorithm_of(description.type), DigestAlgorithm::Sha3_512);
  ASSERT_TRUE(description.fingerprint);
  EXPECT_EQ(description.fingerprint->precision_bits(), 200);
  EXPECT_TRUE(description.fingerprint->matches(sha3));
  EXPECT_FALSE(description.address);
  EXPECT_FALSE(description.bytes);
}

TEST(Describe, AStrongAddress) {
  Fingerprint fingerprint = Fingerprint::of_content(DigestAlgorithm::Sha2_512, "text/plain", as_bytes("x"));
  StrongAddress strong{EmailAddress::parse("alice@example.com"), fingerprint};
  for (const std::string& text : {strong.to_query_form(), strong.to_strong_name_form()}) {
    UdfDescription description = describe(text);
    EXPECT_EQ(description.kind, "strong address") << text;
    ASSERT_TRUE(description.address) << text;
    EXPECT_EQ(*description.address, strong.address);
    ASSERT_TRUE(description.fingerprint) << text;
    EXPECT_TRUE(description.fingerprint->matches(fingerprint));
  }
}

TEST(Describe, ANonceAndARecoveryShare) {
  UdfDescription nonce = describe(random_nonce(16));
  EXPECT_EQ(nonce.kind, "nonce");
  EXPECT_EQ(nonce.bytes, 16u);
  EXPECT_FALSE(nonce.fingerprint);
  EXPECT_FALSE(nonce.quorum);

  Bytes secret(16, 0x42);
  std::vector<Share> shares = split_secret(secret, 3, 2);
  UdfDescription share = describe(shares[1].to_string());
  EXPECT_EQ(share.kind, "recovery share");
  EXPECT_EQ(share.quorum, 2);
  EXPECT_EQ(share.share, shares[1].x);
}

TEST(Describe, NeitherIsTheFingerprintParsersError) {
  try {
    describe("not-a-udf");
    FAIL() << "garbage was described";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Malformed);
    EXPECT_NE(std::string(error.what()).find("is not a fingerprint"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace mailseal::udf
