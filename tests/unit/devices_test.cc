// Which key service a device talks to: one rule for the CLI (--service) and
// the gateway, tried on a real store in a temporary home.

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/profile/profile.h"

namespace mailseal::devices {
namespace {

class ServiceChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() / ("mailseal-devices-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(home_);
  }
  void TearDown() override { std::filesystem::remove_all(home_); }

  profile::Profile make_profile() {
    profile::InitOptions options;
    options.addresses = {EmailAddress::parse("alice@example.com")};
    options.suite = store::Suite::Modern;
    options.device_name = "test";
    return profile::Profile::create(home_, options, mailseal::now());
  }

  std::filesystem::path home_;
};

TEST_F(ServiceChoiceTest, TheGivenServiceWinsOverTheRememberedOne) {
  profile::Profile profile = make_profile();
  remember_service(profile.store(), "http://remembered.example:8080");
  EXPECT_EQ(service_to_use("http://given.example:8080", profile.store()), "http://given.example:8080");
  EXPECT_EQ(service_client("http://given.example:8080", profile.store()).url(), "http://given.example:8080");
  EXPECT_EQ(service_client_for_home("http://given.example:8080", home_).url(), "http://given.example:8080");
}

TEST_F(ServiceChoiceTest, WithoutOneGivenTheRememberedServiceIsUsed) {
  profile::Profile profile = make_profile();
  remember_service(profile.store(), "http://remembered.example:8080");
  EXPECT_EQ(service_to_use("", profile.store()), "http://remembered.example:8080");
  EXPECT_EQ(service_client("", profile.store()).url(), "http://remembered.example:8080");
  EXPECT_EQ(service_client_for_home("", home_).url(), "http://remembered.example:8080");
}

TEST_F(ServiceChoiceTest, NoServiceKnownIsAUsageErrorNamingTheFlag) {
  profile::Profile profile = make_profile();
  EXPECT_EQ(service_to_use("", profile.store()), std::nullopt) << "the gateway then looks nothing up";
  try {
    (void)service_client("", profile.store());
    FAIL() << "no service is known";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Usage);
    EXPECT_NE(error.hint().find("--service"), std::string::npos) << error.hint();
  }
}

TEST_F(ServiceChoiceTest, AHomeWithOnlyAPendingJoinUsesTheServiceItJoinedOn) {
  std::filesystem::create_directories(home_);
  // The state `device join` leaves (docs/service.md, "Connecting a device").
  write_new_file(home_ / "join.json", as_bytes(std::string(R"({"service": "http://joined.example:8080"})")),
                 FileMode::Private);
  EXPECT_EQ(service_client_for_home("", home_).url(), "http://joined.example:8080");
  EXPECT_EQ(service_client_for_home("http://given.example:8080", home_).url(), "http://given.example:8080");
}

TEST_F(ServiceChoiceTest, AnEmptyHomeHasNoService) {
  try {
    (void)service_client_for_home("http://given.example:8080", home_);
    FAIL() << "the home holds no profile and no pending join";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NotFound);
  }
}

TEST_F(ServiceChoiceTest, ANewProfileWhoseServiceIsUnreachableStaysWorkingAndRemembersIt) {
  profile::Profile profile = make_profile();
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  FirstPublication outcome =
      publish_new_profile(profile, "http://127.0.0.1:1", KeyAccess::unencrypted(), mailseal::now());
  EXPECT_FALSE(outcome.published);
  ASSERT_TRUE(outcome.failure);
  EXPECT_NE(outcome.failure->find("cannot reach the key service"), std::string::npos) << *outcome.failure;
  EXPECT_EQ(remembered_service(profile.store()), "http://127.0.0.1:1") << "publish can finish the job later";
  EXPECT_FALSE(profile.addresses().empty()) << "the profile still works";
}

TEST_F(ServiceChoiceTest, ANewProfileWithSomethingThatIsNotAServiceUrlIsNotPublished) {
  profile::Profile profile = make_profile();
  FirstPublication outcome =
      publish_new_profile(profile, "ftp://keys.example", KeyAccess::unencrypted(), mailseal::now());
  EXPECT_FALSE(outcome.published);
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(remembered_service(profile.store()), std::nullopt) << "nothing is remembered for a URL that is not one";
}

}  // namespace
}  // namespace mailseal::devices
