// Which key service a device talks to: one rule for the CLI (--service) and
// the gateway, tried on a real store in a temporary home. Joining by PIN
// against a real key service in this process, at times the test sets.

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "devices/internal/steps.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/profile/profile.h"
#include "mailseal/service/server.h"
#include "mailseal/smime/sealed.h"
#include "scratch.h"
#include "test_support.h"

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

// A key bundle is taken only when the profile root signed it: a device key
// of the profile (a removed device's, a read-only one's) is not enough.
TEST_F(ServiceChoiceTest, OnlyABundleTheRootSignedIsOpened) {
  profile::Profile profile = make_profile();
  const KeyAccess access = KeyAccess::unencrypted();
  const TimePoint now = mailseal::now();
  store::DeviceRecord self = internal::this_device(profile.store());
  const crypto::Certificate agreement = crypto::Certificate::from_der(self.agreement_certificate);
  const crypto::PrivateKey agreement_key = profile.load_key(self.agreement_key_file, access);
  internal::KeyBundle bundle = internal::bundle_for(profile, access, self, std::nullopt, now);

  Bytes by_root = internal::seal_bundle(profile, access, bundle, agreement, now);
  EXPECT_EQ(internal::open_bundle(by_root, agreement_key, agreement, profile.root_certificate()).fingerprint,
            profile.store().profile().fingerprint);

  const crypto::PrivateKey device_key = profile.load_key(self.signature_key_file, access);
  smime::SignerIdentity device_signer{&device_key,
                                      crypto::Certificate::from_der(self.signature_certificate),
                                      {profile.root_certificate()},
                                      smime::Capabilities::mailseal(),
                                      now};
  std::vector<crypto::Certificate> recipients{agreement};
  Bytes by_device = smime::seal(internal::encode_bundle(bundle), device_signer, recipients);
  try {
    internal::open_bundle(by_device, agreement_key, agreement, profile.root_certificate());
    ADD_FAILURE() << "a bundle a device key signed was opened";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::BadSignature);
  }
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

// An admin device and a key service on 127.0.0.1 (in this process). The
// service reads its own clock; the devices act at times the test sets, within
// the five minutes of skew the service allows (keyservice::kMaxClockSkew), so
// that nothing waits for the clock.
class PinJoinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service::ServeOptions options;
    options.port = 0;
    options.database = scratch_ / "service.db";
    server_.emplace(options);
    server_->bind();
    serving_ = std::thread([this] { server_->run(); });
    client_.emplace(server_->url());
    profile::InitOptions init;
    init.addresses = {EmailAddress::parse("alice@example.com")};
    init.suite = store::Suite::Modern;
    init.device_name = "admin";
    admin_.emplace(profile::Profile::create(scratch_ / "admin", init, start_));
    // Once this answer is back, the service is serving (and stop() ends it).
    publish(*admin_, *client_, KeyAccess::unencrypted(), start_);
  }
  void TearDown() override {
    if (server_)
      server_->stop();
    if (serving_.joinable())
      serving_.join();
  }

  // A new device asks to join with `pin`, at the start of the test.
  JoinTicket join_with(const std::string& name, const std::string& pin) {
    JoinOptions options{EmailAddress::parse("alice@example.com"), name, pin, KeyAccess::unencrypted()};
    return join(scratch_ / name, *client_, options, start_);
  }
  SyncReport sync_admin(TimePoint at) { return sync(scratch_ / "admin", *client_, KeyAccess::unencrypted(), at); }

  test::ScratchDirectory scratch_;
  const TimePoint start_ = mailseal::now();
  std::optional<service::Server> server_;
  std::thread serving_;
  std::optional<keyservice::Client> client_;
  std::optional<profile::Profile> admin_;
};

TEST_F(PinJoinTest, TheAdminDeviceAcceptsAPinRequestBeforeThePinExpires) {
  using namespace std::chrono_literals;
  Invitation invitation = invite(*admin_, *client_, KeyAccess::unencrypted(), 1min, store::DeviceRole::Read, start_);
  EXPECT_EQ(invitation.expires_at, start_ + 1min);
  JoinTicket ticket = join_with("phone", invitation.pin);
  SyncReport report = sync_admin(start_ + 59s);
  ASSERT_EQ(report.accepted.size(), 1u) << "the last second of the PIN";
  EXPECT_EQ(report.accepted[0].request_id, ticket.request_id);
  EXPECT_EQ(report.accepted[0].device_id, ticket.device_id);
  EXPECT_EQ(report.accepted[0].role, store::DeviceRole::Read);
  EXPECT_TRUE(report.refused.empty());
  SyncReport joined = sync(scratch_ / "phone", *client_, KeyAccess::unencrypted(), start_ + 59s);
  EXPECT_TRUE(joined.joined);
}

TEST_F(PinJoinTest, TheAdminDeviceRefusesAPinRequestOnceThePinHasExpired) {
  using namespace std::chrono_literals;
  Invitation invitation = invite(*admin_, *client_, KeyAccess::unencrypted(), 1min, store::DeviceRole::Full, start_);
  // The service takes the request (by its clock the PIN is still good); the
  // admin device syncs only when it has expired, and refuses it.
  JoinTicket ticket = join_with("phone", invitation.pin);
  SyncReport report = sync_admin(start_ + 1min);
  EXPECT_TRUE(report.accepted.empty());
  EXPECT_EQ(report.refused, std::vector<RequestId>{ticket.request_id});
  EXPECT_EQ(test::error_code_of([&] { sync(scratch_ / "phone", *client_, KeyAccess::unencrypted(), start_ + 1min); }),
            ErrorCode::RejectedByPolicy)
      << "the device learns it was refused";
  EXPECT_EQ(admin_->status().devices.size(), 1u) << "no device was added";
}

}  // namespace
}  // namespace mailseal::devices
