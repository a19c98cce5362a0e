// What a profile issues is dated by the `now` it is given, never by the
// clock (profile/issuing.h): certificates start an hour before it
// (kBackdating) and last their validity from it, and the store records it.
// The profile here is made in 2030, and re-issues a year after.

#include <gtest/gtest.h>

#include "mailseal/profile/issuing.h"
#include "mailseal/profile/profile.h"
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

}  // namespace
}  // namespace mailseal::profile
