// What a profile issues is dated by the `now` it is given, never by the
// clock (profile/issuing.h): certificates start an hour before it
// (kBackdating) and last their validity from it, and the store records it.
// The profile here is made in 2030, and re-issues a year after; renewal
// (docs/profile.md, "Renewal") is judged and dated by the time given too.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/profile/profile.h"
#include "mailseal/store/sqlite.h"
#include "scratch.h"
#include "test_identities.h"

namespace mailseal::profile {
namespace {

const TimePoint kCreated = from_unix_seconds(1893456000);  // 2030-01-01T00:00:00Z

Profile create_at(const std::filesystem::path& home, TimePoint now) {
  InitOptions options;
  options.addresses = {EmailAddress::parse("alice@example.com")};
  options.suite = store::Suite::Modern;
  options.device_name = "test";
  return Profile::create(home, options, now);
}

TEST(ProfileIssuing, WhatInitIssuesIsDatedByTheTimeGiven) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  crypto::Certificate root = profile.root_certificate();
  EXPECT_EQ(root.not_before(), kCreated - kBackdating);
  EXPECT_EQ(root.not_after(), kCreated + kDay * kRootValidityDays);
  ProfileStatus status = profile.status();
  ASSERT_EQ(status.mail_keys.size(), 2u);
  for (const auto& key : status.mail_keys) {
    EXPECT_EQ(key.certificate.not_before(), kCreated - kBackdating);
    EXPECT_EQ(key.certificate.not_after(), kCreated + kDay * kMailValidityDays);
  }
  store::DeviceRecord device = profile.store().devices().at(0);
  crypto::Certificate device_certificate = crypto::Certificate::from_der(device.signature_certificate);
  EXPECT_EQ(device_certificate.not_after(), kCreated + kDay * kDeviceValidityDays);
  EXPECT_EQ(device.created_at, kCreated);
  EXPECT_EQ(profile.store().profile().created_at, kCreated);
  for (const auto& key : profile.store().mail_keys())
    EXPECT_EQ(key.created_at, kCreated);
}

TEST(ProfileIssuing, WhatIsIssuedLaterIsDatedThen) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  const TimePoint later = kCreated + kDay * 365;
  auto reissued = profile.advertise_capabilities(smime::Capabilities::cbc_only(), KeyAccess::unencrypted(), later);
  ASSERT_EQ(reissued.size(), 1u) << "the one encryption certificate";
  EXPECT_EQ(reissued[0].not_before(), later - kBackdating);
  EXPECT_EQ(reissued[0].not_after(), later + kDay * kMailValidityDays);
  EXPECT_EQ(profile.store().mail_keys().back().created_at, later);

  crypto::Certificate statement = profile.rotation_statement(test::bob().root, KeyAccess::unencrypted(), later);
  EXPECT_EQ(statement.not_before(), later - std::chrono::hours(1));
  EXPECT_EQ(statement.not_after(), profile.root_certificate().not_after()) << "as long as the root lasts";
}

const TimePoint kMailEnd = kCreated + kDay * kMailValidityDays;
const TimePoint kTwoWeeksBefore = kMailEnd - kDay * 14;

// --- Renewal (docs/profile.md, "Renewal"): due once a third of the lifetime
// remains, the same keys, the old certificate archived and still decrypting,
// nothing issued on a device without the root, never past the root's end.

std::vector<store::MailKeyRecord> with_status(Profile& profile, store::KeyStatus status) {
  std::vector<store::MailKeyRecord> out;
  for (auto& key : profile.store().mail_keys()) {
    if (key.status == status)
      out.push_back(std::move(key));
  }
  return out;
}

TEST(ProfileRenewal, ACertificateIsDueOnceAThirdOfItsLifetimeRemains) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  crypto::Certificate signing = profile.current_mail_certificates().at(0);
  const TimePoint due = renewal_due_at(signing.validity());
  const auto lifetime = signing.not_after() - signing.not_before();
  EXPECT_EQ(signing.not_after() - due, lifetime / kRenewalFraction);
  EXPECT_GT(signing.not_after() - due, kDay * 200) << "months before the end, not days";
  EXPECT_EQ(renewal_state(signing.validity(), due - std::chrono::seconds(1)), RenewalState::Valid);
  EXPECT_EQ(renewal_state(signing.validity(), due), RenewalState::Due);
  EXPECT_EQ(renewal_state(signing.validity(), signing.not_after()), RenewalState::Expired);
  EXPECT_FALSE(profile.renewal_due(due - std::chrono::seconds(1)));
  EXPECT_TRUE(profile.renewal_due(due));
  EXPECT_TRUE(profile.renew_certificates(KeyAccess::unencrypted(), due - std::chrono::seconds(1)).empty())
      << "nothing is renewed before it is due";
}

TEST(ProfileRenewal, RenewalKeepsTheKeysAndArchivesTheOldCertificates) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  auto before = profile.current_mail_certificates();
  ASSERT_EQ(before.size(), 2u);
  auto renewed = profile.renew_certificates(KeyAccess::unencrypted(), kTwoWeeksBefore);
  ASSERT_EQ(renewed.size(), 2u) << "the signing and the encryption certificate";
  auto after = profile.current_mail_certificates();
  ASSERT_EQ(after.size(), 2u);
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].public_key() == before[i].public_key()) << "the same key";
    EXPECT_FALSE(after[i] == before[i]);
    EXPECT_EQ(after[i].not_before(), kTwoWeeksBefore - kBackdating);
    EXPECT_EQ(after[i].not_after(), kTwoWeeksBefore + kDay * kMailValidityDays);
    EXPECT_TRUE(after[i].is_issued_by(profile.root_certificate()));
    EXPECT_EQ(after[i].smime_capabilities(), before[i].smime_capabilities()) << "what it advertises stays";
  }
  auto archived = with_status(profile, store::KeyStatus::Archived);
  ASSERT_EQ(archived.size(), 2u) << "the old certificates stay, archived";
  EXPECT_FALSE(profile.renewal_due(kTwoWeeksBefore));
  EXPECT_TRUE(profile.renew_certificates(KeyAccess::unencrypted(), kTwoWeeksBefore).empty()) << "once only";

  // Mail encrypted to the old certificate, read after it expired: the
  // archived record still names its key (the end-to-end test decrypts one).
  const crypto::Certificate& old_encryption = before[1];
  bool found = false;
  for (const auto& key : profile.decryption_keys(KeyAccess::unencrypted())) {
    if (key.certificate == old_encryption) {
      found = true;
      EXPECT_TRUE(key.key.public_key() == old_encryption.public_key());
    }
  }
  EXPECT_TRUE(found) << "the old certificate is among the decryption keys";
}

TEST(ProfileRenewal, ADeviceWithoutTheRootIssuesNothing) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  // As on a device that joined: the store names no root key file.
  profile.store().database().execute("UPDATE profile SET root_key_file = ''");
  ASSERT_FALSE(profile.holds_root());
  EXPECT_TRUE(profile.renewal_due(kTwoWeeksBefore));
  try {
    profile.renew_certificates(KeyAccess::unencrypted(), kTwoWeeksBefore);
    ADD_FAILURE() << "a device without the root renewed";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::RejectedByPolicy);
  }
  EXPECT_EQ(with_status(profile, store::KeyStatus::Archived).size(), 0u) << "nothing changed";
}

TEST(ProfileRenewal, AMailCertificateNeverOutlivesTheRoot) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  const crypto::Certificate root = profile.root_certificate();
  EXPECT_EQ(mail_certificate_end(root, root.not_after() - kDay * 100), root.not_after()) << "cut at the root's end";
  EXPECT_EQ(mail_certificate_end(root, kCreated), kCreated + kDay * kMailValidityDays);
}

TEST(ProfileRenewal, TheRootAndTheDevicesRenewWithTheSameKeys) {
  test::ScratchDirectory scratch;
  Profile profile = create_at(scratch / "home", kCreated);
  const crypto::Certificate old_root = profile.root_certificate();
  const auto old_mail = profile.current_mail_certificates();
  const store::DeviceRecord old_device = profile.store().devices().front();
  // Nine years on: the root is due, the device certificates (five years) and
  // the mail certificates (two) have expired.
  const TimePoint late = old_root.not_after() - kDay * 365;
  ASSERT_TRUE(profile.renewal_due(late));
  auto renewed = profile.renew_certificates(KeyAccess::unencrypted(), late);
  ASSERT_EQ(renewed.size(), 5u) << "the root, the device's two, the two mail certificates";

  const crypto::Certificate root = profile.root_certificate();
  EXPECT_EQ(root, renewed.front()) << "the root first";
  EXPECT_FALSE(root == old_root);
  EXPECT_TRUE(root.public_key() == old_root.public_key()) << "the same root key";
  EXPECT_EQ(keyservice::profile_fingerprint_of(root), keyservice::profile_fingerprint_of(old_root))
      << "so the same fingerprint: pins, strong addresses and endorsements stand";
  EXPECT_EQ(root.common_name(), old_root.common_name());
  EXPECT_EQ(crypto::permitted_email_constraints(root), crypto::permitted_email_constraints(old_root));
  EXPECT_EQ(root.not_after(), late + kDay * kRootValidityDays);
  for (const auto& certificate : old_mail)
    EXPECT_TRUE(certificate.is_issued_by(root)) << "what the old root issued verifies under the new one";

  const store::DeviceRecord device = profile.store().devices().front();
  const auto signature = crypto::Certificate::from_der(device.signature_certificate);
  EXPECT_TRUE(signature.public_key() == crypto::Certificate::from_der(old_device.signature_certificate).public_key())
      << "the device keeps its keys (and its id)";
  EXPECT_EQ(signature.not_after(), late + kDay * kDeviceValidityDays);
  EXPECT_TRUE(signature.is_issued_by(root));
  EXPECT_TRUE(crypto::Certificate::from_der(device.agreement_certificate).is_issued_by(root));

  for (const auto& certificate : profile.current_mail_certificates())
    EXPECT_EQ(certificate.not_after(), late + kDay * kMailValidityDays) << "not cut: the root lasts longer now";
  EXPECT_FALSE(profile.renewal_due(late));
  auto expiry = profile.certificate_expiry(late);
  ASSERT_EQ(expiry.size(), 3u);
  EXPECT_FALSE(expiry[0].address) << "the root first";
  EXPECT_EQ(expiry[0].state, RenewalState::Valid);
}

}  // namespace
}  // namespace mailseal::profile
