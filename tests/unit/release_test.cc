// Whether the content of a read message may be released (smime/release.h):
// each decision the CLI relies on, on real messages signed and encrypted by
// throw-away identities.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/smime/release.h"
#include "mailseal/smime/smime.h"
#include "mailseal/udf/udf.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

using test::alice;
using test::bob;

const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: Release\r\n"
    "\r\n"
    "Meet me by the old oak tree.\r\n";

std::string sign(const std::string& message) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), SignatureForm::Detached, mailseal::now());
  return out.take();
}

std::string encrypt(const std::string& message, bool with_signature) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = alice().signer();
  encrypt_message(outgoing, out,
                  {{bob().encryption}, with_signature ? &signer : nullptr, {ContentCipher::Aes256Cbc, false}},
                  mailseal::now());
  return out.take();
}

// A signed message whose signed text was changed afterwards.
std::string tampered(std::string signed_message) {
  signed_message[signed_message.find("old oak")] = 'b';
  return signed_message;
}

ReadResult read(const std::string& message) {
  std::vector<DecryptionKey> keys = {bob().decryption()};
  return read_message(as_bytes(message), keys, Policy::standard(mailseal::now()));
}

void expect_withheld(const Release& release, Withheld reason, ErrorCode code) {
  EXPECT_FALSE(release.released());
  ASSERT_TRUE(release.withheld().has_value());
  EXPECT_EQ(*release.withheld(), reason);
  try {
    (void)release.content();
    FAIL() << "withheld content was readable";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), code);
  }
}

TEST(Release, DecryptedUnderAValidSignatureIsReleased) {
  ReadResult result = read(encrypt(kMessage, true));
  ASSERT_TRUE(result.signature && result.signature->valid);
  Release release = Release::of_decrypted(result, BadSignature::Withhold);
  EXPECT_TRUE(release.released());
  EXPECT_NE(release.content().find("old oak tree"), std::string::npos);
}

TEST(Release, UnsignedCbcContentIsWithheld) {
  // Unauthenticated encryption and no signature: it may have been altered
  // (EFAIL's CBC gadgets), so it is released only when asked for.
  ReadResult result = read(encrypt(kMessage, false));
  ASSERT_FALSE(result.signature);
  expect_withheld(Release::of_decrypted(result, BadSignature::Withhold), Withheld::Unauthenticated,
                  ErrorCode::RejectedByPolicy);
}

TEST(Release, UnsignedCbcContentIsReleasedWhenAskedFor) {
  ReadResult result = read(encrypt(kMessage, false));
  Release release = Release::of_decrypted(result, BadSignature::Withhold, Unauthenticated::Release);
  EXPECT_TRUE(release.released());
  EXPECT_NE(release.content().find("old oak tree"), std::string::npos);
}

TEST(Release, DecryptedUnderABadSignatureIsWithheld) {
  // A signed message, tampered with, then encrypted: it decrypts, but the
  // signature inside does not hold.
  ReadResult result = read(encrypt(tampered(sign(kMessage)), false));
  ASSERT_TRUE(result.decrypted);
  ASSERT_TRUE(result.has_bad_signature());
  expect_withheld(Release::of_decrypted(result, BadSignature::Withhold), Withheld::BadSignature,
                  ErrorCode::BadSignature);
}

TEST(Release, DecryptedUnderABadSignatureIsReleasedWhenAskedFor) {
  ReadResult result = read(encrypt(tampered(sign(kMessage)), false));
  ASSERT_TRUE(result.has_bad_signature());
  Release release = Release::of_decrypted(result, BadSignature::Release);
  EXPECT_TRUE(release.released());
  EXPECT_NE(release.content().find("bld oak tree"), std::string::npos);
}

TEST(Release, VerifiedUnderAValidSignatureIsReleased) {
  ReadResult result = read(sign(kMessage));
  Release release = Release::of_verified(result);
  EXPECT_TRUE(release.released());
  EXPECT_NE(release.content().find("old oak tree"), std::string::npos);
}

TEST(Release, VerifiedUnderABadSignatureIsWithheld) {
  ReadResult result = read(tampered(sign(kMessage)));
  ASSERT_TRUE(result.has_bad_signature());
  expect_withheld(Release::of_verified(result), Withheld::BadSignature, ErrorCode::BadSignature);
}

TEST(Release, VerifiedWithoutASignatureIsWithheld) {
  ReadResult result = read(kMessage);
  ASSERT_FALSE(result.signature);
  expect_withheld(Release::of_verified(result), Withheld::NotSigned, ErrorCode::BadSignature);
}

TEST(Release, AFurtherRequirementWithholdsReleasedContent) {
  ReadResult result = read(sign(kMessage));
  Release release = Release::of_verified(result);
  ASSERT_TRUE(release.released());
  release.withhold(Withheld::TrustBelowRequired);
  expect_withheld(release, Withheld::TrustBelowRequired, ErrorCode::RejectedByPolicy);
}

TEST(Release, TheFirstReasonStays) {
  ReadResult result = read(tampered(sign(kMessage)));
  Release release = Release::of_verified(result);
  release.withhold(Withheld::TrustBelowRequired);
  expect_withheld(release, Withheld::BadSignature, ErrorCode::BadSignature);
}

TEST(Release, TheHeldContentIsFingerprintedWithoutReleasingIt) {
  ReadResult result = read(sign(kMessage));
  udf::Fingerprint fingerprint = result.content.fingerprint();
  Release release = Release::of_verified(result);
  EXPECT_EQ(fingerprint, udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, "message/rfc822",
                                                      as_bytes(release.content())));
  EXPECT_THROW((void)result.content.fingerprint(), Error) << "once taken, the held content is gone";
}

}  // namespace
}  // namespace mailseal::smime
