// Certificate signatures verified once (crypto::Certificate::is_issued_by and
// its process-wide memo of verified issuances): what was remembered never
// answers for a certificate or an issuer that differs in any byte, a "no" is
// never remembered, and the memo stays within its bound.

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "crypto/internal/issuance_memo.h"
#include "mailseal/common/time.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::crypto {
namespace {

using namespace std::chrono_literals;
using internal::Issuance;
using internal::IssuanceMemo;
using internal::verified_issuances;

// A root named `name` under a key of its own (P-256: quick to make).
struct Root {
  PrivateKey key = PrivateKey::generate(KeyType::P256);
  Certificate certificate = issue_certificate(request(), key.public_key(), key, nullptr);

  static CertificateRequest request() {
    const auto now = mailseal::now();
    return {.role = CertificateRole::ProfileRoot,
            .common_name = "Carol",
            .permitted_addresses = {EmailAddress::parse("carol@example.net")},
            .not_before = now - 1h,
            .not_after = now + 24h};
  }
};

Certificate mail_certificate_under(const Root& root) {
  const auto now = mailseal::now();
  const PrivateKey key = PrivateKey::generate(KeyType::P256);
  const CertificateRequest request{.role = CertificateRole::MailSigning,
                                   .common_name = "Carol",
                                   .addresses = {EmailAddress::parse("carol@example.net")},
                                   .not_before = now - 1h,
                                   .not_after = now + 24h};
  return issue_certificate(request, key.public_key(), root.key, &root.certificate);
}

Issuance numbered(std::uint8_t number) {
  Issuance issuance;
  issuance.subject[0] = number;
  issuance.issuer[31] = number;
  return issuance;
}

TEST(VerifiedIssuances, AVerifiedSignatureIsRememberedOnce) {
  const Root root;
  const Certificate mail = mail_certificate_under(root);
  const std::size_t before = verified_issuances().size();
  EXPECT_TRUE(mail.is_issued_by(root.certificate));
  EXPECT_EQ(verified_issuances().size(), before + 1);
  EXPECT_TRUE(mail.is_issued_by(root.certificate));
  EXPECT_TRUE(Certificate::from_der(mail.der()).is_issued_by(Certificate::from_der(root.certificate.der())))
      << "the same certificates decoded again";
  EXPECT_EQ(verified_issuances().size(), before + 1) << "asked again: answered from the memo";
}

TEST(VerifiedIssuances, ASignatureAlteredAfterTheGenuineOneVerifiedIsRefused) {
  const Root root;
  const Certificate mail = mail_certificate_under(root);
  ASSERT_TRUE(mail.is_issued_by(root.certificate)) << "the genuine one first: now remembered";
  Bytes tampered = mail.der();
  // The last byte is the signature's (its BIT STRING ends the certificate).
  tampered.back() ^= 0x01;
  const Certificate altered = Certificate::from_der(tampered);
  EXPECT_EQ(altered.subject(), mail.subject()) << "same names, same signed part";
  const std::size_t before = verified_issuances().size();
  EXPECT_FALSE(altered.is_issued_by(root.certificate));
  EXPECT_FALSE(altered.is_issued_by(root.certificate)) << "asked twice";
  EXPECT_EQ(verified_issuances().size(), before) << "a refusal is not remembered";
  EXPECT_TRUE(mail.is_issued_by(root.certificate)) << "the genuine one still verifies";
}

TEST(VerifiedIssuances, TheSameSubjectUnderAnotherIssuerKeyIsRefused) {
  const Root root;
  const Root impostor;  // the same name and request, another key
  ASSERT_EQ(impostor.certificate.subject(), root.certificate.subject());
  const Certificate mail = mail_certificate_under(root);
  ASSERT_TRUE(mail.is_issued_by(root.certificate));
  EXPECT_FALSE(mail.is_issued_by(impostor.certificate));
  EXPECT_TRUE(mail_certificate_under(impostor).is_issued_by(impostor.certificate));
  EXPECT_FALSE(mail_certificate_under(impostor).is_issued_by(root.certificate));
}

TEST(VerifiedIssuances, ARootVerifiedItselfDoesNotVouchForAnotherRootOfTheSameName) {
  const Root root;
  const Root impostor;
  ASSERT_TRUE(root.certificate.is_issued_by(root.certificate));
  EXPECT_FALSE(root.certificate.is_issued_by(impostor.certificate));
  EXPECT_FALSE(impostor.certificate.is_issued_by(root.certificate));
}

TEST(IssuanceMemo, KeepsAtMostItsCapacityForgettingTheOldestFirst) {
  IssuanceMemo memo(3);
  for (std::uint8_t number = 1; number <= 5; ++number) {
    memo.remember(numbered(number));
    memo.remember(numbered(number));  // twice: still one entry
  }
  EXPECT_EQ(memo.size(), 3u);
  EXPECT_FALSE(memo.contains(numbered(1)));
  EXPECT_FALSE(memo.contains(numbered(2)));
  EXPECT_TRUE(memo.contains(numbered(3)));
  EXPECT_TRUE(memo.contains(numbered(5)));
  memo.remember(numbered(1));
  EXPECT_EQ(memo.size(), 3u);
  EXPECT_FALSE(memo.contains(numbered(3))) << "the oldest went to make room";
}

TEST(IssuanceMemo, SubjectAndIssuerAreBothPartOfTheKey) {
  IssuanceMemo memo(8);
  Issuance remembered = numbered(1);
  memo.remember(remembered);
  Issuance other_issuer = remembered;
  other_issuer.issuer[0] ^= 0x80;
  Issuance other_subject = remembered;
  other_subject.subject[31] ^= 0x80;
  EXPECT_TRUE(memo.contains(remembered));
  EXPECT_FALSE(memo.contains(other_issuer));
  EXPECT_FALSE(memo.contains(other_subject));
}

TEST(IssuanceMemo, TheProcessMemoIsBounded) {
  EXPECT_GT(verified_issuances().capacity(), 0u);
  EXPECT_LE(verified_issuances().capacity(), 100'000u) << "a long-running gateway must not grow without limit";
  EXPECT_LE(verified_issuances().size(), verified_issuances().capacity());
}

}  // namespace
}  // namespace mailseal::crypto
