// Which key service a device talks to: one rule for the CLI (--service) and
// the gateway, tried on a real store in a temporary home. Joining by PIN
// against a real key service in this process, at times the test sets.

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "devices/internal/merge.h"
#include "devices/internal/record_waits.h"
#include "devices/internal/records.h"
#include "devices/internal/roster.h"
#include "devices/internal/steps.h"
#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/profile/profile.h"
#include "mailseal/service/server.h"
#include "mailseal/smime/sealed.h"
#include "mailseal/store/trust_sync.h"
#include "scratch.h"
#include "test_identities.h"
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

// --- Trust records: the record format and the merge rules ---

using internal::Change;
using internal::Decision;
using internal::TrustRecord;

// The action throws Error(code) whose message contains `words`.
void expect_error(ErrorCode code, const std::function<void()>& action, const std::string& words) {
  try {
    action();
    ADD_FAILURE() << "no error; expected one saying '" << words << "'";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), code) << error.what();
    EXPECT_NE(std::string(error.what()).find(words), std::string::npos) << error.what();
  }
}

TrustRecord sample_record(const DeviceId& device, std::int64_t seq) {
  TrustRecord record;
  record.profile = Identity("MPROFILE");
  record.device = device;
  record.seq = seq;
  if (seq > 1)
    record.previous = Bytes(32, 0xab);
  record.lamport = 7;
  record.frontier = {{DeviceId("MOTHER"), 3}};
  Change pin;
  pin.kind = std::string(store::kChangePin);
  pin.address = EmailAddress::parse("bob@example.org");
  pin.fingerprint = "MB2G-QXQK-DBHN-5W4D-3RTB";
  pin.pin_kind = "pin";
  pin.at = from_unix_seconds(1700000000);
  Change observation;
  observation.kind = std::string(store::kChangeObservation);
  observation.address = EmailAddress::parse("bob@example.org");
  observation.fingerprint = "MIDENTITY";
  observation.certificate_fingerprint = "MCERT";
  observation.source = "message";
  observation.first_seen = from_unix_seconds(10);
  observation.last_seen = from_unix_seconds(20);
  observation.days = 2;
  observation.messages = 5;
  record.changes = {pin, observation};
  record.made_at = from_unix_seconds(1700000001);
  return record;
}

TEST(TrustRecordFormat, EncodesAndDecodesTheSameRecord) {
  TrustRecord record = sample_record(DeviceId("MDEVICE"), 2);
  std::string json = internal::encode_record(record);
  EXPECT_EQ(internal::decode_record(as_bytes(json)), record);
  EXPECT_EQ(json.find("\"kind\":\"pin\"") != std::string::npos, true) << json;
}

TEST(TrustRecordFormat, RemovalsEncodeAndDecode) {
  TrustRecord record = sample_record(DeviceId("MDEVICE"), 2);
  Change unpin;
  unpin.kind = std::string(store::kChangeUnpin);
  unpin.address = EmailAddress::parse("bob@example.org");
  unpin.fingerprint = std::string(store::kAllTargets);
  unpin.at = from_unix_seconds(1700000100);
  Change unanchor;
  unanchor.kind = std::string(store::kChangeUnanchor);
  unanchor.fingerprint = "MANCHOR";
  unanchor.at = from_unix_seconds(1700000101);
  Change withdrawal;
  withdrawal.kind = std::string(store::kChangeWithdrawal);
  withdrawal.issuer = "MROOT";
  withdrawal.subject = "MCAROL";
  withdrawal.at = from_unix_seconds(1700000102);
  record.changes = {unpin, unanchor, withdrawal};
  for (const auto& change : record.changes)
    EXPECT_TRUE(internal::is_decision(change)) << change.kind << ": a read-only device's is not taken";
  const std::string json = internal::encode_record(record);
  EXPECT_EQ(internal::decode_record(as_bytes(json)), record);
  auto decode = [](std::string text) { return internal::decode_record(as_bytes(text)); };
  std::string no_anchor = json;
  no_anchor.replace(no_anchor.find("\"MANCHOR\""), 9, "\"*\"");
  expect_error(
      ErrorCode::Malformed, [&] { decode(no_anchor); }, "'fingerprint' is not a fingerprint");
  std::string no_subject = json;
  no_subject.replace(no_subject.find("\"MCAROL\""), 8, "\"\"");
  expect_error(
      ErrorCode::Malformed, [&] { decode(no_subject); }, "'subject' is not a fingerprint");
  // A fingerprint that would smuggle another item into the decisions kept
  // ("VERB TARGET; VERB TARGET").
  std::string smuggled = internal::encode_record(sample_record(DeviceId("MDEVICE"), 2));
  smuggled.replace(smuggled.find("MB2G-QXQK-DBHN-5W4D-3RTB"), 24, "MB2G; unpin *");
  expect_error(
      ErrorCode::Malformed, [&] { decode(smuggled); }, "'fingerprint' is not a fingerprint");
}

TEST(TrustRecordFormat, RefusesWhatIsNotARecordOfThisVersion) {
  std::string json = internal::encode_record(sample_record(DeviceId("MDEVICE"), 2));
  auto decode = [](std::string text) { return internal::decode_record(as_bytes(text)); };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string out = json;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  expect_error(ErrorCode::Malformed, [&] { decode("[]"); }, "not a JSON object");
  expect_error(
      ErrorCode::Malformed, [&] { decode(replaced("\"kind\":\"pin\"", "\"kind\":\"forget\"")); }, "unknown kind");
  try {  // the writer's text stays out of the message (it reaches a warning naming who to remove)
    decode(replaced("\"kind\":\"pin\"", "\"kind\":\"remove MDESK\""));
    ADD_FAILURE() << "an unknown kind decoded";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()).find("MDESK"), std::string::npos) << error.what();
  }
  // A frontier naming something that is not a device id: its stored text
  // (separators ',' and '=') broke every later sync (review h, H1).
  for (const std::string name : {"x=", "MA,MB", ""}) {
    TrustRecord record = sample_record(DeviceId("MDEVICE"), 2);
    record.frontier = {{DeviceId(name), 0}};
    expect_error(
        ErrorCode::Malformed, [&] { decode(internal::encode_record(record)); }, "not a device id");
  }
  // A certificate a change carries is parsed when the record is: one that is
  // not DER makes the record its writer's fault, not a failure of the merge.
  for (const std::string kind : {"contact", "identity"}) {
    TrustRecord record = sample_record(DeviceId("MDEVICE"), 2);
    Change carrying;
    carrying.kind = kind;
    if (kind == "contact")
      carrying.address = EmailAddress::parse("carol@example.org");
    else
      carrying.fingerprint = "MIDENTITY";
    carrying.certificate = test::bob().signing.der();
    record.changes.push_back(carrying);
    EXPECT_EQ(decode(internal::encode_record(record)), record);
    record.changes.back().certificate = Bytes{0x30, 0x03, 0x02, 0x01, 0x01};
    expect_error(
        ErrorCode::Malformed, [&] { decode(internal::encode_record(record)); }, "not a DER certificate");
  }
  expect_error(ErrorCode::Malformed, [&] { decode(replaced("\"seq\":2", "\"seq\":1")); }, "previous record");
  expect_error(ErrorCode::Malformed, [&] { decode(replaced("\"seq\":2", "\"seq\":\"2\"")); }, "'seq'");
  expect_error(ErrorCode::Malformed, [&] { decode(replaced("\"pin_kind\":\"pin\"", "\"pin_kind\":\"trust\"")); },
               "neither");
  expect_error(ErrorCode::Malformed, [&] { decode(replaced("\"days\":2", "\"days\":-1")); }, "out of range");
  expect_error(
      ErrorCode::Unsupported, [&] { decode(replaced("\"version\":2", "\"version\":3")); }, "version");
  // A clock at the end of its range would stop every device that merges it
  // from writing (its next time would overflow).
  const std::string lamport = "\"lamport\":" + std::to_string(sample_record(DeviceId("MDEVICE"), 2).lamport);
  EXPECT_NO_THROW(decode(replaced(lamport, "\"lamport\":" + std::to_string(internal::kMaxLamport))));
  expect_error(
      ErrorCode::Malformed,
      [&] { decode(replaced(lamport, "\"lamport\":" + std::to_string(internal::kMaxLamport + 1))); }, "'lamport'");
  expect_error(
      ErrorCode::Malformed, [&] { decode(replaced(lamport, "\"lamport\":9223372036854775807")); }, "'lamport'");
}

TEST(TrustRecordFormat, ProofsEncodeAndDecodeAndBelongToTheFrontier) {
  TrustRecord record = sample_record(DeviceId("MDEVICE"), 2);
  record.proofs[DeviceId("MOTHER")] = {Bytes(32, 0x33), Bytes(70, 0x44)};
  const std::string json = internal::encode_record(record);
  EXPECT_EQ(internal::decode_record(as_bytes(json)), record);
  auto decode = [](std::string text) { return internal::decode_record(as_bytes(text)); };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string out = json;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  expect_error(
      ErrorCode::Malformed, [&] { decode(replaced("\"proofs\":{\"MOTHER\"", "\"proofs\":{\"MSTRANGER\"")); },
      "names no record of the frontier");
  expect_error(
      ErrorCode::Malformed, [&] { decode(replaced("\"digest\":\"3333", "\"digest\":\"33")); }, "possible size");
  expect_error(
      ErrorCode::Malformed, [&] { decode(replaced("\"proofs\":{", "\"proofless\":{")); }, "'proofs'");
  // Version 1: no proofs, and none smuggled in.
  TrustRecord old = sample_record(DeviceId("MDEVICE"), 2);
  old.version = internal::kUnprovenRecordVersion;
  const std::string old_json = internal::encode_record(old);
  EXPECT_EQ(old_json.find("proofs"), std::string::npos) << old_json;
  EXPECT_EQ(internal::decode_record(as_bytes(old_json)), old);
  std::string smuggled = old_json;
  smuggled.replace(smuggled.find("\"profile\""), 9, "\"proofs\":{},\"profile\"");
  expect_error(
      ErrorCode::Malformed, [&] { decode(smuggled); }, "version 1 carries proofs");
}

class SealedRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const test::Person& alice = test::alice();
    device_key_ = crypto::PrivateKey::generate(crypto::KeyType::P256);
    auto agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
    auto certificates = profile::issue_device_certificates(alice.root_key, alice.root, "laptop",
                                                           device_key_->public_key(), agreement.public_key(),
                                                           from_unix_seconds(1700000000));
    device_certificate_ = certificates.signature;
    device_ = keyservice::device_id_of(device_key_->public_key());
    record_ = sample_record(device_, 2);
    record_.profile = Identity("MPROFILE");
  }

  Bytes seal(const TrustRecord& record) {
    return internal::seal_record(record, *device_key_, *device_certificate_, key_id_, key_);
  }

  std::optional<crypto::PrivateKey> device_key_;
  std::optional<crypto::Certificate> device_certificate_;
  DeviceId device_;
  TrustRecord record_;
  Bytes key_ = Bytes(32, 0x11);
  Bytes key_id_ = Bytes(16, 0x22);
};

TEST_F(SealedRecordTest, OpensWhereItWasWritten) {
  Bytes sealed = seal(record_);
  EXPECT_EQ(internal::sealed_key_id(sealed), key_id_);
  internal::SignedRecord opened =
      internal::open_record(sealed, record_.profile, device_, 2, key_, test::alice().root);
  EXPECT_EQ(opened.record, record_);
}

TEST_F(SealedRecordTest, AlteredMovedOrForeignRecordsAreRefused) {
  Bytes sealed = seal(record_);
  const crypto::Certificate& root = test::alice().root;
  Bytes altered = sealed;
  altered[altered.size() - 20] ^= 1;
  expect_error(ErrorCode::BadSignature, [&] { internal::open_record(altered, record_.profile, device_, 2, key_, root); },
               "altered");
  expect_error(ErrorCode::BadSignature, [&] { internal::open_record(sealed, record_.profile, device_, 3, key_, root); },
               "not where it was written");
  expect_error(ErrorCode::BadSignature,
               [&] { internal::open_record(sealed, Identity("MOTHERPROFILE"), device_, 2, key_, root); },
               "not where it was written");
  expect_error(ErrorCode::BadSignature,
               [&] { internal::open_record(sealed, record_.profile, device_, 2, Bytes(32, 0x12), root); }, "altered");
  // Another profile's root did not issue the device certificate.
  expect_error(ErrorCode::BadSignature,
               [&] { internal::open_record(sealed, record_.profile, device_, 2, key_, test::bob().root); },
               "not signed by that device");
  // A device that signs as another device.
  TrustRecord other = record_;
  other.device = DeviceId("MSOMEONE-ELSE");
  expect_error(ErrorCode::BadSignature,
               [&] { internal::open_record(seal(other), record_.profile, other.device, 2, key_, root); },
               "not signed by that device");
}

// Bytes the device signs as record 2, wrapped and sealed as seal_record
// does, whatever they hold.
Bytes seal_signed_bytes(const std::string& text, const crypto::PrivateKey& key, const crypto::Certificate& certificate,
                        const Identity& profile, const DeviceId& device, ByteView key_id, ByteView records_key) {
  const ByteView signed_bytes = as_bytes(text);
  const Bytes statement = internal::head_statement(profile, device, 2, crypto::sha256(signed_bytes));
  const nlohmann::json wrapper = {{"record", encode_base64(signed_bytes)},
                                  {"signature", encode_base64(key.sign(signed_bytes))},
                                  {"certificate", encode_base64(certificate.der())},
                                  {"head", encode_base64(key.sign(statement))}};
  const std::string plaintext = wrapper.dump();
  Bytes sealed(key_id.begin(), key_id.end());
  const Bytes body = crypto::seal_symmetric(records_key, as_bytes(plaintext),
                                            internal::record_associated_data(profile, device, 2, key_id));
  sealed.insert(sealed.end(), body.begin(), body.end());
  return sealed;
}

// Who made a record that cannot be merged so (docs/service.md, "Records that
// do not open"): what the device's own key signed as a trust record is its
// doing alone; anything else may be the service's.
TEST_F(SealedRecordTest, ARefusalSaysWhetherTheDeviceItselfSignedWhatIsWrong) {
  const crypto::Certificate& root = test::alice().root;
  auto fault_of = [&](ByteView sealed) -> std::optional<internal::RecordFault> {
    try {
      internal::open_record(sealed, record_.profile, device_, 2, key_, root);
    } catch (const internal::RecordRefused& refused) {
      return refused.fault();
    }
    return std::nullopt;
  };
  auto signed_as_record = [&](const std::string& text) {
    return seal_signed_bytes(text, *device_key_, *device_certificate_, record_.profile, device_, key_id_, key_);
  };
  const nlohmann::json good = nlohmann::json::parse(internal::encode_record(record_));
  EXPECT_EQ(fault_of(signed_as_record(good.dump())), std::nullopt);

  nlohmann::json outside = good;  // a proof for a device its frontier does not name
  outside["proofs"]["MAAAA-AAAAA-AAAAA-AAAAA"] = {{"digest", std::string(64, '0')}, {"signature", "eHh4"}};
  EXPECT_EQ(fault_of(signed_as_record(outside.dump())), internal::RecordFault::Malformed);
  nlohmann::json crowded = good;  // more devices than a frontier holds
  for (int i = 0; i <= static_cast<int>(internal::kMaxFrontierDevices); ++i)
    crowded["frontier"][fmt::format("MZZZZ-ZZZZZ-ZZZZZ-{:05d}", i)] = 1;
  EXPECT_EQ(fault_of(signed_as_record(crowded.dump())), internal::RecordFault::Malformed);
  nlohmann::json later = good;
  later["version"] = internal::kRecordVersion + 1;
  EXPECT_EQ(fault_of(signed_as_record(later.dump())), internal::RecordFault::Newer);

  // Something else the device's key signed, replayed as a record: not its doing.
  const Bytes statement = internal::head_statement(record_.profile, device_, 2, Bytes(32, 0x33));
  EXPECT_EQ(fault_of(signed_as_record(std::string(statement.begin(), statement.end()))),
            internal::RecordFault::Unopened);
  nlohmann::json untyped = good;
  untyped.erase("type");
  EXPECT_EQ(fault_of(signed_as_record(untyped.dump())), internal::RecordFault::Unopened);
  // Altered, too short, or another device's: the device or the service.
  Bytes altered = seal(record_);
  altered[altered.size() - 20] ^= 1;
  EXPECT_EQ(fault_of(altered), internal::RecordFault::Unopened);
  EXPECT_EQ(fault_of(Bytes(10, 0x22)), internal::RecordFault::Unopened);
  EXPECT_EQ(fault_of(seal_signed_bytes(good.dump(), *device_key_, *device_certificate_, record_.profile, device_,
                                       key_id_, Bytes(32, 0x12))),
            internal::RecordFault::Unopened);
}

// Frontier proofs (docs/service.md, "Frontier proofs"): device_ wrote
// record 2; another device of the profile (the writer) names it.
class FrontierProofTest : public SealedRecordTest {
 protected:
  void SetUp() override {
    SealedRecordTest::SetUp();
    const test::Person& alice = test::alice();
    other_key_ = crypto::PrivateKey::generate(crypto::KeyType::P256);
    auto agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
    other_certificate_ =
        profile::issue_device_certificates(alice.root_key, alice.root, "phone", other_key_->public_key(),
                                           agreement.public_key(), from_unix_seconds(1700000000))
            .signature;
    named_ = internal::open_record(seal(record_), record_.profile, device_, 2, key_, alice.root);
    writer_ = sample_record(keyservice::device_id_of(other_key_->public_key()), 5);
    writer_.profile = record_.profile;
    writer_.frontier = {{device_, 2}};
    writer_.proofs = {{device_, *internal::head_proof_of(*named_)}};
  }

  internal::EntryProof judge(const TrustRecord& record, std::int64_t seq, bool named_signs_proofs = true) {
    return internal::judge_frontier_entry(record, device_, seq, &*device_certificate_, named_signs_proofs);
  }

  std::optional<crypto::PrivateKey> other_key_;
  std::optional<crypto::Certificate> other_certificate_;
  std::optional<internal::SignedRecord> named_;
  TrustRecord writer_;
};

TEST_F(FrontierProofTest, ARecordOfVersion2ProvesItselfForItsNumberOnly) {
  const internal::HeadProof proof = *internal::head_proof_of(*named_);
  EXPECT_EQ(proof.digest, crypto::sha256(named_->record_json));
  EXPECT_TRUE(internal::head_proof_holds(proof, record_.profile, device_, 2, *device_certificate_));
  EXPECT_FALSE(internal::head_proof_holds(proof, record_.profile, device_, 3, *device_certificate_))
      << "a proof of record 2 is no proof of record 3";
  EXPECT_FALSE(internal::head_proof_holds(proof, Identity("MOTHERPROFILE"), device_, 2, *device_certificate_));
  internal::HeadProof other_digest = proof;
  other_digest.digest[0] ^= 1;
  EXPECT_FALSE(internal::head_proof_holds(other_digest, record_.profile, device_, 2, *device_certificate_));
}

TEST_F(FrontierProofTest, AProvenEntryIsProvenAndAForgedSignatureIsForged) {
  EXPECT_EQ(judge(writer_, 2), internal::EntryProof::Proven);
  TrustRecord forged = writer_;
  forged.proofs.at(device_).signature.back() ^= 1;
  EXPECT_EQ(judge(forged, 2), internal::EntryProof::Forged);
  // The real proof of record 2 named as record 1000000.
  TrustRecord far = writer_;
  far.frontier[device_] = 1000000;
  EXPECT_EQ(judge(far, 1000000), internal::EntryProof::Forged);
}

TEST_F(FrontierProofTest, AWrongDigestIsForged) {
  TrustRecord wrong = writer_;
  wrong.proofs.at(device_).digest = crypto::sha256(as_bytes(std::string("another record")));
  EXPECT_EQ(judge(wrong, 2), internal::EntryProof::Forged);
}

TEST_F(FrontierProofTest, AProofSignedByAnotherDeviceARemovedOneIncludedIsForged) {
  // The writer (or a removed device whose key a thief holds) signs the head
  // statement of a record the named device never wrote.
  TrustRecord by_other = writer_;
  const Bytes digest = crypto::sha256(as_bytes(std::string("never written")));
  by_other.frontier[device_] = 9;
  by_other.proofs[device_] = {digest, other_key_->sign(internal::head_statement(record_.profile, device_, 9, digest))};
  EXPECT_EQ(judge(by_other, 9), internal::EntryProof::Forged);
  // Checked against the other device's certificate, it is still no proof
  // that the named device wrote it.
  EXPECT_FALSE(
      internal::head_proof_holds(by_other.proofs.at(device_), record_.profile, device_, 9, *other_certificate_));
  // A certificate renewed for the named device's own key verifies it.
  const test::Person& alice = test::alice();
  auto agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const crypto::Certificate renewed =
      profile::issue_device_certificates(alice.root_key, alice.root, "laptop", device_key_->public_key(),
                                         agreement.public_key(), from_unix_seconds(1760000000))
          .signature;
  EXPECT_TRUE(internal::head_proof_holds(writer_.proofs.at(device_), record_.profile, device_, 2, renewed));
}

TEST_F(FrontierProofTest, AMissingProofIsForgedOnlyWhereTheNamedDeviceSignsThem) {
  TrustRecord missing = writer_;
  missing.proofs.clear();
  EXPECT_EQ(judge(missing, 2, true), internal::EntryProof::Forged);
  EXPECT_EQ(judge(missing, 2, false), internal::EntryProof::Unproven)
      << "the named record may be of version 1, written before its device was upgraded";
  TrustRecord old = missing;
  old.version = internal::kUnprovenRecordVersion;
  EXPECT_EQ(judge(old, 2, false), internal::EntryProof::Unproven) << "a record of version 1 keeps today's verdict";
  EXPECT_EQ(judge(old, 2, true), internal::EntryProof::Forged)
      << "a writer of version 1 cannot have merged a record of a device that signs proofs (fifth round)";
}

TEST_F(FrontierProofTest, AnEntryNamingItsOwnWriterIsForgedWhateverItsProof) {
  // The writer names itself far ahead, with a proof its own key signed.
  TrustRecord self = writer_;
  self.device = device_;
  self.frontier = {{device_, 1000000}};
  self.proofs = {{device_, {crypto::sha256(as_bytes(std::string("x"))), {}}}};
  self.proofs.at(device_).signature =
      device_key_->sign(internal::head_statement(record_.profile, device_, 1000000, self.proofs.at(device_).digest));
  ASSERT_TRUE(
      internal::head_proof_holds(self.proofs.at(device_), record_.profile, device_, 1000000, *device_certificate_));
  EXPECT_EQ(judge(self, 1000000), internal::EntryProof::Forged);
}

TEST_F(FrontierProofTest, ARecordOfVersion1AfterOneOfVersion2IsADowngrade) {
  TrustRecord old = writer_;
  old.version = internal::kUnprovenRecordVersion;
  old.proofs.clear();
  EXPECT_TRUE(internal::downgrades(internal::kRecordVersion, old));
  EXPECT_FALSE(internal::downgrades(internal::kUnprovenRecordVersion, old)) << "a device not yet upgraded";
  EXPECT_FALSE(internal::downgrades(internal::kRecordVersion, writer_));
  EXPECT_FALSE(internal::downgrades(internal::kUnprovenRecordVersion, writer_)) << "the upgrade itself";
}

TEST_F(SealedRecordTest, ARecordOfVersion1SealsAndOpensWithoutAHeadStatement) {
  TrustRecord old = record_;
  old.version = internal::kUnprovenRecordVersion;
  internal::SignedRecord opened = internal::open_record(seal(old), old.profile, device_, 2, key_, test::alice().root);
  EXPECT_EQ(opened.record, old);
  EXPECT_TRUE(opened.head_signature.empty());
  EXPECT_FALSE(internal::head_proof_of(opened));
}

Decision decision(const std::string& device, std::int64_t seq, std::int64_t lamport, const std::string& value,
                  internal::Frontier frontier = {}) {
  return Decision{DeviceId(device), seq, lamport, value, std::move(frontier)};
}

// A wait is warned about only once it lasted longer than the bound, from
// the time it first began (docs/service.md, "A wait without end"); a wait
// that ended is forgotten and one that begins again starts anew.
TEST(RecordWaits, WarnedOnlyPastTheBoundFromTheFirstWait) {
  test::ScratchDirectory scratch;
  profile::InitOptions options;
  options.addresses = {EmailAddress::parse("alice@example.com")};
  options.suite = store::Suite::Modern;
  options.device_name = "test";
  const TimePoint start = from_unix_seconds(1'800'000'000);
  profile::Profile profile = profile::Profile::create(scratch / "home", options, start);
  const std::vector<internal::WaitingLog> waiting = {{DeviceId("MA"), 4, 2}, {DeviceId("MB"), 1, 1}};
  EXPECT_TRUE(internal::note_waits(profile.store(), waiting, start).empty());
  EXPECT_TRUE(internal::note_waits(profile.store(), waiting, start + internal::kLongWait).empty())
      << "at the bound itself, no warning";
  const TimePoint past = start + internal::kLongWait + std::chrono::seconds(1);
  auto long_waits = internal::note_waits(profile.store(), {{DeviceId("MA"), 4, 3}}, past);
  ASSERT_EQ(long_waits.size(), 1u) << "MB's wait ended: forgotten";
  EXPECT_EQ(long_waits[0].writer, DeviceId("MA"));
  EXPECT_EQ(long_waits[0].seq, 4);
  EXPECT_EQ(long_waits[0].waiting, 3);
  EXPECT_EQ(long_waits[0].since, start);
  EXPECT_EQ(long_waits[0].waited, past - start);
  const std::string warning = describe_long_wait(long_waits[0]);
  EXPECT_NE(warning.find("3 trust record(s) of device MA, from number 4, have waited here 7 days"), std::string::npos)
      << warning;
  EXPECT_EQ(warning.find("device remove"), std::string::npos) << "nobody is charged: " << warning;
  EXPECT_TRUE(internal::note_waits(profile.store(), {{DeviceId("MB"), 1, 1}}, past).empty())
      << "MB waits again: its wait starts anew";
}

TEST(TrustRecordMerge, ALaterDecisionCoversWhatItsDeviceHadMerged) {
  Decision a = decision("A", 1, 1, "pin X");
  Decision b = decision("B", 1, 2, "pin Y", {{DeviceId("A"), 1}});
  Decision c = decision("C", 1, 2, "pin Y");
  EXPECT_TRUE(internal::covers(b, a));
  EXPECT_FALSE(internal::covers(a, b));
  EXPECT_FALSE(internal::covers(c, a));
  EXPECT_TRUE(internal::covers(decision("A", 2, 1, "pin Z"), a)) << "its own later record";
}

TEST(TrustRecordMerge, ConcurrentDecisionsThatDisagreeAreAConflictUntilOneKnowsBoth) {
  Decision a = decision("A", 1, 1, "pin X");
  Decision b = decision("B", 1, 1, "pin Y");
  auto conflict = internal::conflict_of({a, b});
  ASSERT_TRUE(conflict.has_value());
  EXPECT_EQ(conflict->first.value, "pin X");
  EXPECT_EQ(conflict->second.value, "pin Y") << "(lamport, device): B wins over A";
  EXPECT_FALSE(internal::conflict_of({a, decision("B", 1, 1, "pin X")})) << "agreeing is no conflict";
  Decision settles = decision("A", 2, 2, "pin Y", {{DeviceId("B"), 1}});
  EXPECT_FALSE(internal::conflict_of({a, b, settles}));
  // Knowing only one side settles nothing.
  EXPECT_TRUE(internal::conflict_of({a, b, decision("C", 1, 2, "pin X", {{DeviceId("A"), 1}})}));
}

TEST(TrustRecordMerge, EveryOrderReachesTheSameState) {
  std::vector<Decision> decisions = {decision("A", 1, 1, "pin X"), decision("B", 1, 3, "pin Y"),
                                     decision("C", 1, 2, "accept Z", {{DeviceId("A"), 1}}),
                                     decision("A", 2, 4, "pin X", {{DeviceId("C"), 1}})};
  auto expected = internal::conflict_of(decisions);
  ASSERT_TRUE(expected.has_value());
  std::sort(decisions.begin(), decisions.end(),
            [](const Decision& a, const Decision& b) { return std::tie(a.device, a.seq) < std::tie(b.device, b.seq); });
  int orders = 0;
  do {
    auto conflict = internal::conflict_of(decisions);
    ASSERT_TRUE(conflict.has_value());
    EXPECT_EQ(conflict->first.device, expected->first.device);
    EXPECT_EQ(conflict->second.device, expected->second.device);
    EXPECT_EQ(internal::latest_decisions(decisions).size(), 2u);
    ++orders;
  } while (std::next_permutation(decisions.begin(), decisions.end(), [](const Decision& a, const Decision& b) {
    return std::tie(a.device, a.seq) < std::tie(b.device, b.seq);
  }));
  EXPECT_EQ(orders, 24);
}

TEST(TrustRecordMerge, DecisionItemsReadBackAsWritten) {
  auto items = internal::decision_items("unpin *; pin MX; anchor MA 60");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].verb, "unpin");
  EXPECT_EQ(items[0].target, "*");
  EXPECT_EQ(items[1].target, "MX");
  EXPECT_EQ(items[2].detail, "60");
  EXPECT_EQ(internal::decision_value(items), "unpin *; pin MX; anchor MA 60");
}

TEST(TrustRecordMerge, ARemovalConcurrentWithAPinIsAConflict) {
  Decision pin = decision("A", 1, 1, "pin X");
  Decision unpin = decision("B", 1, 1, "unpin X");
  ASSERT_TRUE(internal::conflict_of({pin, unpin}).has_value());
  EXPECT_FALSE(internal::conflict_of({pin, decision("B", 1, 2, "unpin X", {{DeviceId("A"), 1}})}))
      << "an unpin that knew the pin is no conflict";
  EXPECT_TRUE(internal::conflict_of({decision("A", 1, 1, "anchor F 60"), decision("B", 1, 1, "anchor F 90")}))
      << "two amounts of one anchor";
  EXPECT_TRUE(internal::conflict_of({decision("A", 1, 1, "endorse D1 120/0"), decision("B", 1, 1, "withdraw *")}));
  EXPECT_FALSE(
      internal::conflict_of({decision("A", 1, 1, "endorse D1 120/0"), decision("B", 1, 1, "endorse D2 120/0")}))
      << "two endorsements with the same terms agree";
}

TEST(TrustRecordMerge, WhatIsDecidedLaterInTheOrderOvertakesWhateverArrivesFirst) {
  // Device B's unpin knew A's pin: later in the order, it wins even when it
  // arrives first (A's record waited for a key bundle).
  Decision pin = decision("A", 1, 3, "pin X");
  Decision unpin = decision("B", 1, 4, "unpin X", {{DeviceId("A"), 1}});
  EXPECT_TRUE(internal::overtaken(pin, "X", {unpin})) << "the pin arriving late is not applied";
  EXPECT_FALSE(internal::overtaken(unpin, "X", {pin})) << "the unpin arriving late is applied";
  EXPECT_FALSE(internal::overtaken(pin, "Y", {unpin})) << "pins of other fingerprints stand";
  EXPECT_TRUE(internal::overtaken(pin, "X", {decision("C", 1, 4, "unpin *")})) << "'*' names every fingerprint";
  // A removal of everything leaves what was decided after it.
  Decision all = decision("A", 2, 5, "unpin *");
  Decision later = decision("B", 2, 6, "pin Y; pin Z");
  EXPECT_EQ(internal::decided_after(all, {pin, unpin, later}), (std::set<std::string>{"Y", "Z"}));
  // Ties in lamport time are broken by device, then by number.
  EXPECT_TRUE(internal::ordered_before(decision("A", 9, 4, "pin X"), decision("B", 1, 4, "pin X")));
  EXPECT_TRUE(internal::ordered_before(decision("A", 1, 4, "pin X"), decision("A", 2, 4, "pin X")));
}

TEST(TrustRecordMerge, FrontiersReadBackAsWritten) {
  internal::Frontier frontier = {{DeviceId("MAAA-BBBB"), 3}, {DeviceId("MCCC"), 12}};
  EXPECT_EQ(internal::frontier_text(frontier), "MAAA-BBBB=3,MCCC=12");
  EXPECT_EQ(internal::parse_frontier(internal::frontier_text(frontier)), frontier);
  EXPECT_TRUE(internal::parse_frontier("").empty());
  // Damaged text is an Error the merge can handle, never std::stoll's exception.
  for (const std::string damaged : {"x==0", "MA=", "MA=1x", "MA", "MA=99999999999999999999"})
    expect_error(
        ErrorCode::Malformed, [&] { internal::parse_frontier(damaged); }, "damaged");
}

// The clock rule: a record's time is exactly one more than the highest time
// of the records it names (its device's previous one and its frontier's).
using internal::TimeBound;

TimeBound exactly(std::int64_t lamport) {
  return TimeBound{lamport, lamport};
}

TEST(TrustRecordClock, ExactlyOneMoreThanTheHighestNamedIsKept) {
  EXPECT_EQ(internal::clock_breach(1, {}), std::nullopt) << "a first record that names nothing";
  EXPECT_EQ(internal::clock_breach(8, {exactly(3), exactly(7), exactly(5)}), std::nullopt);
  EXPECT_EQ(internal::clock_breach(4, {exactly(3), exactly(2)}), std::nullopt) << "its own previous one is highest";
}

TEST(TrustRecordClock, AJumpAheadIsRefused) {
  auto breach = internal::clock_breach(9, {exactly(3), exactly(7)});
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("jumps ahead"), std::string::npos) << *breach;
  EXPECT_NE(breach->find("it must be 8"), std::string::npos) << *breach;
  // The attack: the end of the range, to stop every other device writing.
  EXPECT_TRUE(internal::clock_breach(internal::kMaxLamport - 1, {exactly(7)}).has_value());
  EXPECT_TRUE(internal::clock_breach(internal::kMaxLamport, {}).has_value()) << "a first record is 1";
  EXPECT_TRUE(internal::clock_breach(2, {}).has_value());
}

TEST(TrustRecordClock, EqualToTheHighestNamedIsRefused) {
  auto breach = internal::clock_breach(7, {exactly(3), exactly(7)});
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("is not after"), std::string::npos) << *breach;
  EXPECT_NE(breach->find("it must be 8"), std::string::npos) << *breach;
}

TEST(TrustRecordClock, BelowTheHighestNamedIsRefused) {
  auto breach = internal::clock_breach(5, {exactly(3), exactly(7)});
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("is not after"), std::string::npos) << *breach;
  EXPECT_TRUE(internal::clock_breach(3, {exactly(3)}).has_value()) << "not after its own previous record";
  EXPECT_TRUE(internal::clock_breach(0, {}).has_value());
}

TEST(TrustRecordClock, ARecordWhoseTimeIsNotKnownExactlyIsBoundedByItsNeighbours) {
  const std::map<std::int64_t, std::int64_t> known = {{2, 5}, {6, 20}};
  EXPECT_EQ(internal::time_of(known, 2)->low, 5);
  EXPECT_EQ(internal::time_of(known, 2)->high, 5);
  // Times grow by at least one a record: record 4 is between 5 + 2 and 20 - 2.
  EXPECT_EQ(internal::time_of(known, 4)->low, 7);
  EXPECT_EQ(internal::time_of(known, 4)->high, 18);
  EXPECT_EQ(internal::time_of(known, 1)->low, 1);
  EXPECT_EQ(internal::time_of(known, 1)->high, 4);
  EXPECT_FALSE(internal::time_of(known, 7).has_value()) << "nothing known after it: no upper bound";
  // A record naming record 4 may carry any time from 8 to 19, never more.
  EXPECT_EQ(internal::clock_breach(19, {*internal::time_of(known, 4)}), std::nullopt);
  EXPECT_EQ(internal::clock_breach(8, {*internal::time_of(known, 4)}), std::nullopt);
  auto breach = internal::clock_breach(20, {*internal::time_of(known, 4)});
  ASSERT_TRUE(breach.has_value());
  EXPECT_NE(breach->find("between 8 and 19"), std::string::npos) << *breach;
  EXPECT_TRUE(internal::clock_breach(7, {*internal::time_of(known, 4)}).has_value());
}

TEST(TrustRecordClock, AReadOnlyDevicesTimeMayRaiseATimeButNeverRequiresIt) {
  // An older writer counted a read-only device's time (12); the writer now
  // leaves it out (4). Both are kept; more is not.
  const std::vector<TimeBound> named = {exactly(3), TimeBound{0, 11}};
  EXPECT_EQ(internal::clock_breach(4, named), std::nullopt);
  EXPECT_EQ(internal::clock_breach(12, named), std::nullopt);
  EXPECT_TRUE(internal::clock_breach(13, named).has_value());
  EXPECT_TRUE(internal::clock_breach(3, named).has_value());
}

// --- Two admin devices: merging what the other one knows (roster.h) ---

using internal::KeyStatuses;
using internal::MailCertificate;
using store::DeviceRole;
using store::DeviceStatus;
using store::KeyStatus;

store::DeviceRecord device_issued_at(const test::Person& person, const crypto::PrivateKey& signature,
                                     const crypto::PrivateKey& agreement, DeviceRole role, TimePoint at) {
  auto certificates = profile::issue_device_certificates(person.root_key, person.root, "device",
                                                         signature.public_key(), agreement.public_key(), at);
  store::DeviceRecord device;
  device.device_id = keyservice::device_id_of(signature.public_key());
  device.name = "device";
  device.role = role;
  device.signature_certificate = certificates.signature.der();
  device.agreement_certificate = certificates.agreement.der();
  return device;
}

store::DeviceRecord new_device(DeviceRole role) {
  return device_issued_at(test::alice(), crypto::PrivateKey::generate(crypto::KeyType::P256),
                          crypto::PrivateKey::generate(crypto::KeyType::P256), role, from_unix_seconds(1700000000));
}

store::DeviceRecord with_status(store::DeviceRecord device, DeviceStatus status) {
  device.status = status;
  return device;
}

store::DeviceRecord with_role(store::DeviceRecord device, DeviceRole role) {
  device.role = role;
  return device;
}

// The list after merging `other` into `held`, as apply_roster_changes does it.
std::vector<store::DeviceRecord> merged(std::vector<store::DeviceRecord> held,
                                       const std::vector<store::DeviceRecord>& other) {
  const internal::RosterChanges changes = internal::merge_roster(held, other, test::alice().root);
  auto find = [&](const DeviceId& id) {
    return std::find_if(held.begin(), held.end(), [&](const store::DeviceRecord& d) { return d.device_id == id; });
  };
  for (const auto& id : changes.removed)
    find(id)->status = DeviceStatus::Removed;
  for (const auto& [id, role] : changes.restricted)
    find(id)->role = role;
  for (const auto& device : changes.renewed)
    *find(device.device_id) = device;
  for (const auto& [id, cut] : changes.cuts)
    find(id)->removal_cut = cut;
  held.insert(held.end(), changes.added.begin(), changes.added.end());
  std::sort(held.begin(), held.end(),
            [](const store::DeviceRecord& a, const store::DeviceRecord& b) { return a.device_id < b.device_id; });
  return held;
}

std::string summary(const std::vector<store::DeviceRecord>& devices) {
  std::string out;
  for (const auto& device : devices) {
    out += device.device_id.str() + " " + std::string(store::to_string(device.role)) + " " +
           std::string(store::to_string(device.status)) + " " + to_hex(crypto::sha256(device.agreement_certificate)) +
           "\n";
  }
  return out;
}

TEST(RosterMerge, DevicesEitherAdminDeviceAddedAreKnownToBothInEitherOrder) {
  const auto laptop = new_device(DeviceRole::Admin);
  const auto desk = new_device(DeviceRole::Admin);
  const auto phone = new_device(DeviceRole::Full);
  const auto tablet = new_device(DeviceRole::Read);
  const std::vector<store::DeviceRecord> on_laptop = {laptop, desk, phone};
  const std::vector<store::DeviceRecord> on_desk = {laptop, desk, tablet};
  const auto a = merged(on_laptop, on_desk);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(summary(a), summary(merged(on_desk, on_laptop)));
  EXPECT_EQ(summary(a), summary(merged(a, on_desk))) << "merging again changes nothing";
  EXPECT_TRUE(internal::merge_roster(a, on_laptop, test::alice().root).empty());
}

TEST(RosterMerge, ARemovalIsFinalWhateverOrderTheListsArriveInOrAreServedAgain) {
  const auto laptop = new_device(DeviceRole::Admin);
  const auto phone = new_device(DeviceRole::Full);
  const std::vector<store::DeviceRecord> before = {laptop, phone};
  const std::vector<store::DeviceRecord> after = {laptop, with_status(phone, DeviceStatus::Removed)};
  const auto removed = merged(before, after);
  EXPECT_EQ(summary(removed), summary(merged(after, before)));
  EXPECT_EQ(summary(removed), summary(merged(merged(before, after), before))) << "the old list served again";
  const auto entry = std::find_if(removed.begin(), removed.end(),
                                  [&](const store::DeviceRecord& d) { return d.device_id == phone.device_id; });
  EXPECT_EQ(entry->status, DeviceStatus::Removed);
  // A device this one never knew, removed elsewhere: known as removed.
  const auto unknown = merged({laptop}, after);
  EXPECT_EQ(unknown.size(), 2u);
  EXPECT_TRUE(std::all_of(unknown.begin(), unknown.end(), [&](const store::DeviceRecord& d) {
    return d.device_id != phone.device_id || d.status == DeviceStatus::Removed;
  }));
}

TEST(RosterMerge, ARoleOnlyGoesDown) {
  const auto reader = new_device(DeviceRole::Read);
  const auto raised = with_role(reader, DeviceRole::Full);
  EXPECT_TRUE(internal::merge_roster({reader}, {raised}, test::alice().root).empty()) << "a read device stays read";
  const auto changes = internal::merge_roster({raised}, {reader}, test::alice().root);
  ASSERT_EQ(changes.restricted.size(), 1u);
  EXPECT_EQ(changes.restricted[0].second, DeviceRole::Read);
  EXPECT_EQ(internal::lesser_role(DeviceRole::Admin, DeviceRole::Full), DeviceRole::Full);
  EXPECT_EQ(internal::lesser_role(DeviceRole::Full, DeviceRole::Read), DeviceRole::Read);
}

TEST(RosterMerge, NoListLowersAnAdminDevicesRole) {
  // A stolen admin device's list taking the other admin device for read:
  // reported, never taken, on an admin device and on a phone alike.
  const auto laptop = new_device(DeviceRole::Admin);
  const auto phone = new_device(DeviceRole::Full);
  const auto changes =
      internal::merge_roster({laptop, phone}, {with_role(laptop, DeviceRole::Read), phone}, test::alice().root);
  EXPECT_TRUE(changes.restricted.empty());
  ASSERT_EQ(changes.admins_lowered.size(), 1u);
  EXPECT_EQ(changes.admins_lowered[0].first, laptop.device_id);
  EXPECT_EQ(changes.admins_lowered[0].second, DeviceRole::Read);
  EXPECT_EQ(summary(merged({laptop, phone}, {with_role(laptop, DeviceRole::Full), phone})),
            summary(merged({laptop, phone}, {})));
}

TEST(RosterMerge, OnlyTheRootsDeviceCertificatesForTheDevicesOwnKeysAreTaken) {
  const auto& root = test::alice().root;
  const auto phone = new_device(DeviceRole::Full);
  // Another agreement key for a device this one knows.
  auto swapped = phone;
  swapped.agreement_certificate =
      device_issued_at(test::alice(), crypto::PrivateKey::generate(crypto::KeyType::P256),
                       crypto::PrivateKey::generate(crypto::KeyType::P256), DeviceRole::Full,
                       from_unix_seconds(1700000000))
          .agreement_certificate;
  expect_error(ErrorCode::BadSignature, [&] { internal::merge_roster({phone}, {swapped}, root); }, "other keys");
  // A "device" made of the profile's own mail certificates.
  auto fake = phone;
  fake.signature_certificate = test::alice().signing.der();
  fake.agreement_certificate = test::alice().encryption.der();
  fake.device_id = keyservice::device_id_of(test::alice().signing.public_key());
  expect_error(ErrorCode::BadSignature, [&] { internal::merge_roster({}, {fake}, root); }, "device certificates");
  // A device of another profile, and an id that is not the signature key's.
  auto foreign = device_issued_at(test::bob(), crypto::PrivateKey::generate(crypto::KeyType::P256),
                                  crypto::PrivateKey::generate(crypto::KeyType::P256), DeviceRole::Full,
                                  from_unix_seconds(1700000000));
  expect_error(ErrorCode::BadSignature, [&] { internal::merge_roster({}, {foreign}, root); }, "device certificates");
  auto misnamed = phone;
  misnamed.device_id = new_device(DeviceRole::Full).device_id;
  expect_error(ErrorCode::BadSignature, [&] { internal::merge_roster({}, {misnamed}, root); }, "device certificates");
  expect_error(ErrorCode::BadSignature, [&] { internal::merge_roster({}, {phone, phone}, root); }, "twice");
}

// A removed entry's certificates are revoked: an entry carrying another
// device's certificate would revoke that device's (review of issue 14,
// fourth round: a thief's list revoked the victim's own agreement
// certificate through a device it made up).
TEST(RosterMerge, AnEntryCarryingAnotherDevicesCertificateIsRefused) {
  const auto& root = test::alice().root;
  auto laptop = new_device(DeviceRole::Admin);
  laptop.is_this_device = true;
  const auto phone = new_device(DeviceRole::Full);
  auto made_up = new_device(DeviceRole::Full);
  made_up.agreement_certificate = laptop.agreement_certificate;
  made_up.status = DeviceStatus::Removed;
  expect_error(
      ErrorCode::BadSignature,
      [&] {
        internal::merge_roster({laptop, phone}, {laptop, phone, made_up}, root);
      },
      "a certificate of device " + laptop.device_id.str());
  expect_error(
      ErrorCode::BadSignature,
      [&] {
        internal::merge_roster({}, {laptop, made_up}, root);
      },
      "a certificate of device " + laptop.device_id.str());
  EXPECT_TRUE(internal::merge_roster({laptop, phone}, {laptop, with_status(phone, DeviceStatus::Removed)}, root)
                  .revoked.size() == 2u)
      << "a removal revokes the removed device's own two certificates";
  // A device of another list carrying the certificate of a device held here
  // (not this one) is the later list's to refuse, not a reason to refuse
  // every list naming the true owner (fifth round: a thief's device, once
  // taken, wedged two honest admin devices).
  auto poisoned = new_device(DeviceRole::Full);
  poisoned.agreement_certificate = phone.agreement_certificate;
  EXPECT_NO_THROW(internal::merge_roster({laptop, poisoned}, {laptop, phone}, root));
}

TEST(RosterMerge, RenewedCertificatesForTheSameKeysAreTaken) {
  const auto signature = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto old = device_issued_at(test::alice(), signature, agreement, DeviceRole::Full, from_unix_seconds(1700000000));
  const auto renewed =
      device_issued_at(test::alice(), signature, agreement, DeviceRole::Full, from_unix_seconds(1750000000));
  const auto changes = internal::merge_roster({old}, {renewed}, test::alice().root);
  ASSERT_EQ(changes.renewed.size(), 1u);
  EXPECT_EQ(changes.renewed[0].agreement_certificate, renewed.agreement_certificate);
  EXPECT_TRUE(internal::merge_roster({renewed}, {old}, test::alice().root).empty());
}

TEST(RosterMerge, TwoRenewalsInTheSameSecondAgreeOnOneByDer) {
  // Two admin devices renewed one device's certificates in the same second:
  // the same end, different serials. Both keep the same pair (the greater
  // DER), so their escrows stop differing.
  const auto signature = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const TimePoint at = from_unix_seconds(1750000000);
  const auto one = device_issued_at(test::alice(), signature, agreement, DeviceRole::Full, at);
  const auto two = device_issued_at(test::alice(), signature, agreement, DeviceRole::Full, at);
  ASSERT_NE(one.signature_certificate, two.signature_certificate);
  EXPECT_EQ(summary(merged({one}, {two})), summary(merged({two}, {one})));
  const auto& greater = one.signature_certificate > two.signature_certificate ? one : two;
  EXPECT_EQ(merged({one}, {two}).front().signature_certificate, greater.signature_certificate);
  EXPECT_TRUE(internal::merge_roster({greater}, {one}, test::alice().root).renewed.empty());
  EXPECT_TRUE(internal::merge_roster({greater}, {two}, test::alice().root).renewed.empty());
}

TEST(RosterMerge, CertificatesRenewedForADeviceRemovedOnEitherSideAreRevokedNotTaken) {
  // The desk renewed the phone's certificates before it knew that the laptop
  // had removed the phone: the laptop does not take them, and both revoke them.
  const auto signature = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto old = device_issued_at(test::alice(), signature, agreement, DeviceRole::Full, from_unix_seconds(1700000000));
  const auto renewed =
      device_issued_at(test::alice(), signature, agreement, DeviceRole::Full, from_unix_seconds(1750000000));
  const auto removed = with_status(old, DeviceStatus::Removed);
  const auto expect_revoked = [&](const internal::RosterChanges& changes) {
    for (const Bytes* der : {&renewed.signature_certificate, &renewed.agreement_certificate}) {
      EXPECT_NE(std::find(changes.revoked.begin(), changes.revoked.end(), *der), changes.revoked.end());
    }
  };
  const auto on_laptop = internal::merge_roster({removed}, {renewed}, test::alice().root);
  EXPECT_TRUE(on_laptop.renewed.empty()) << "a removed device's renewed certificates are not taken";
  expect_revoked(on_laptop);
  const auto on_desk = internal::merge_roster({renewed}, {removed}, test::alice().root);
  ASSERT_EQ(on_desk.removed.size(), 1u);
  EXPECT_TRUE(on_desk.renewed.empty());
  expect_revoked(on_desk);
  EXPECT_TRUE(internal::merge_roster({removed}, {removed}, test::alice().root).empty());
}

TEST(RosterMerge, ARefusedListStillGivesItsRemovalsOfOtherDevicesAndNothingThatAddsOrRemovesThisOne) {
  // Review of issue 14, F3: the desk's list removes the laptop (on a stolen
  // admin device's word) and the phone (the person's wish). The laptop
  // refuses the list but must not lose the phone's removal.
  const auto desk_signature = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto desk_agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto desk =
      device_issued_at(test::alice(), desk_signature, desk_agreement, DeviceRole::Admin, from_unix_seconds(1700000000));
  const auto desk_renewed =
      device_issued_at(test::alice(), desk_signature, desk_agreement, DeviceRole::Admin, from_unix_seconds(1750000000));
  const auto laptop = new_device(DeviceRole::Admin);
  const auto spare = new_device(DeviceRole::Admin);
  const auto phone = new_device(DeviceRole::Full);
  const auto tablet = new_device(DeviceRole::Full);
  const auto watch = new_device(DeviceRole::Full);  // joined on the desk: unknown to the laptop
  const auto gone = new_device(DeviceRole::Full);   // joined and removed on the desk
  const std::vector<store::DeviceRecord> held = {laptop, desk, spare, phone, tablet};
  const std::vector<store::DeviceRecord> refused = {
      with_status(laptop, DeviceStatus::Removed), desk_renewed,
      with_role(spare, DeviceRole::Read),         with_status(phone, DeviceStatus::Removed),
      with_role(tablet, DeviceRole::Read),        watch,
      with_status(gone, DeviceStatus::Removed)};
  const auto& root = test::alice().root;
  ASSERT_EQ(internal::merge_roster(held, refused, root).removed.size(), 2u) << "merged whole, it removes the laptop";

  const auto changes = internal::shrinking_changes(held, refused, laptop.device_id, root);
  EXPECT_EQ(changes.removed, std::vector<DeviceId>{phone.device_id}) << "the phone's removal, not the laptop's";
  ASSERT_EQ(changes.restricted.size(), 1u) << "a device that is not an admin device goes down";
  EXPECT_EQ(changes.restricted[0].first, tablet.device_id);
  EXPECT_EQ(changes.restricted[0].second, DeviceRole::Read);
  EXPECT_TRUE(changes.admins_lowered.empty()) << "no admin device is lowered (F2)";
  EXPECT_TRUE(changes.added.empty()) << "a refused list adds no device: an added one would read every key";
  EXPECT_TRUE(changes.renewed.empty()) << "nor renews one";
  const auto revoked = [&](const Bytes& der) {
    return std::find(changes.revoked.begin(), changes.revoked.end(), der) != changes.revoked.end();
  };
  for (const auto* device : {&phone, &gone}) {
    EXPECT_TRUE(revoked(device->signature_certificate) && revoked(device->agreement_certificate))
        << "the certificates of a device removed there are revoked here";
  }
  EXPECT_FALSE(revoked(laptop.signature_certificate) || revoked(laptop.agreement_certificate))
      << "this device's own certificates are not";

  // Taken again, or with the list merged whole later, nothing more changes.
  std::vector<store::DeviceRecord> after = held;
  after[3] = with_status(phone, DeviceStatus::Removed);
  after[4] = with_role(tablet, DeviceRole::Read);
  const auto again = internal::shrinking_changes(after, refused, laptop.device_id, root);
  EXPECT_TRUE(again.removed.empty() && again.restricted.empty());
  // The same list on the desk, this device there: nothing of its own entry.
  EXPECT_TRUE(
      internal::shrinking_changes({laptop}, {with_status(laptop, DeviceStatus::Removed)}, laptop.device_id, root)
          .revoked.empty());
  // A refused list that is not a device list of the profile is still refused whole.
  auto foreign = device_issued_at(test::bob(), crypto::PrivateKey::generate(crypto::KeyType::P256),
                                  crypto::PrivateKey::generate(crypto::KeyType::P256), DeviceRole::Full,
                                  from_unix_seconds(1700000000));
  expect_error(
      ErrorCode::BadSignature,
      [&] {
        internal::shrinking_changes(held, {with_status(phone, DeviceStatus::Removed), foreign}, laptop.device_id, root);
      },
      "device certificates");
}

TEST(RosterMerge, AnEscrowCarriesItsRevocationsAndRosterClock) {
  internal::KeyBundle escrow;
  escrow.fingerprint = Identity("MPROFILE");
  escrow.name = "Alice";
  escrow.root = test::alice().root.der();
  escrow.revoked = {"0A1B", "00FF"};
  escrow.roster_clock = {{"MLAPTOP", 7}, {"MDESK", 5}};
  const SecretBytes encoded = internal::encode_bundle(escrow);
  const internal::KeyBundle decoded = internal::decode_bundle(ByteView(encoded.data(), encoded.size()));
  EXPECT_EQ(decoded.revoked, escrow.revoked);
  EXPECT_EQ(decoded.roster_clock, escrow.roster_clock);
  std::string text(encoded.begin(), encoded.end());
  const std::string clock = "\"MLAPTOP\":7";
  text.replace(text.find(clock), clock.size(), "\"MLAPTOP\":\"seven\"");
  expect_error(ErrorCode::Malformed, [&] { internal::decode_bundle(as_bytes(text)); }, "roster_clock");
}

store::DeviceRecord removed_at(store::DeviceRecord device, std::optional<store::RemovalCut> cut) {
  device.status = DeviceStatus::Removed;
  device.removal_cut = std::move(cut);
  return device;
}

store::RemovalCut cut_at(std::int64_t seq, std::string_view record) {
  return {seq, crypto::sha256(as_bytes(record))};
}

// docs/security.md, "The cut": two cuts that agree are kept, two that
// differ (in number or hash: they may lie on two forks) give none of the
// removed device's records, and a removal without a cut takes the other's;
// in either order, and merging again changes nothing.
TEST(RemovalCut, TwoCutsThatDifferKeepNone) {
  const store::RemovalCut low = cut_at(2, "two");
  const store::RemovalCut high = cut_at(5, "five");
  const store::RemovalCut none{};
  EXPECT_EQ(internal::agreed_cut(low, low), low);
  EXPECT_EQ(internal::agreed_cut(low, high), none) << "either may end on a thief's fork";
  EXPECT_EQ(internal::agreed_cut(high, low), none);
  EXPECT_EQ(internal::agreed_cut(internal::agreed_cut(low, high), high), none) << "merging again changes nothing";
  EXPECT_EQ(internal::agreed_cut(std::nullopt, low), low) << "a removal by an older mailseal names no cut";
  EXPECT_EQ(internal::agreed_cut(low, std::nullopt), low);
  EXPECT_EQ(internal::agreed_cut(std::nullopt, std::nullopt), std::nullopt);
  const store::RemovalCut fork_a = cut_at(5, "a");
  const store::RemovalCut fork_b = cut_at(5, "b");
  EXPECT_EQ(internal::agreed_cut(fork_a, fork_b), none) << "two forks at one number: a hash order can be ground";
  EXPECT_EQ(internal::agreed_cut(fork_b, fork_a), none);
}

TEST(RemovalCut, TwoAdminDevicesThatRemovedTheSameDeviceWithOtherCutsKeepNone) {
  const auto laptop = new_device(DeviceRole::Admin);
  const auto phone = new_device(DeviceRole::Full);
  const std::vector<store::DeviceRecord> on_laptop = {laptop, removed_at(phone, cut_at(3, "three"))};
  const std::vector<store::DeviceRecord> on_desk = {laptop, removed_at(phone, cut_at(7, "seven"))};
  for (const auto& [held, other] : {std::pair{on_laptop, on_desk}, std::pair{on_desk, on_laptop}}) {
    const auto list = merged(held, other);
    const auto entry = std::find_if(list.begin(), list.end(),
                                    [&](const store::DeviceRecord& d) { return d.device_id == phone.device_id; });
    EXPECT_EQ(entry->removal_cut, store::RemovalCut{});
  }
  EXPECT_TRUE(internal::merge_roster(merged(on_laptop, on_desk), on_desk, test::alice().root).empty())
      << "either cut served again changes nothing";
  EXPECT_TRUE(internal::merge_roster(merged(on_laptop, on_desk), on_laptop, test::alice().root).empty());
  // A removal learned from the other list brings its cut; a device never
  // known here comes with it; an older removal without one keeps the cut.
  const auto learned = merged({laptop, phone}, on_desk);
  EXPECT_EQ(learned[learned[0].device_id == phone.device_id ? 0 : 1].removal_cut, cut_at(7, "seven"));
  const auto added = merged({laptop}, on_desk);
  EXPECT_EQ(added[added[0].device_id == phone.device_id ? 0 : 1].removal_cut, cut_at(7, "seven"));
  EXPECT_TRUE(internal::merge_roster(on_desk, {laptop, removed_at(phone, std::nullopt)}, test::alice().root).empty());
  // What a refused escrow still gives (shrinking_changes) adds no records to merge.
  EXPECT_TRUE(internal::shrinking_changes({laptop, phone}, on_desk, laptop.device_id, test::alice().root).cuts.empty());
}

TEST(RemovalCut, BundlesCarryTheCutAndRefuseAMalformedOne) {
  const auto laptop = new_device(DeviceRole::Admin);
  const auto phone = new_device(DeviceRole::Full);
  const auto tablet = new_device(DeviceRole::Read);
  internal::KeyBundle escrow;
  escrow.fingerprint = Identity("MPROFILE");
  escrow.name = "Alice";
  escrow.root = test::alice().root.der();
  escrow.devices = {laptop, removed_at(phone, cut_at(4, "four")), removed_at(tablet, store::RemovalCut{})};
  escrow.roster = escrow.devices;
  const SecretBytes encoded = internal::encode_bundle(escrow);
  const internal::KeyBundle decoded = internal::decode_bundle(ByteView(encoded.data(), encoded.size()));
  for (const auto* list : {&decoded.devices, &decoded.roster}) {
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[0].removal_cut, std::nullopt);
    EXPECT_EQ((*list)[1].removal_cut, cut_at(4, "four"));
    EXPECT_EQ((*list)[2].removal_cut, store::RemovalCut{}) << "none of its records";
  }
  const std::string text(encoded.begin(), encoded.end());
  const auto refused = [&](const std::string& from, const std::string& to) {
    std::string changed = text;
    ASSERT_NE(changed.find(from), std::string::npos) << from;
    changed.replace(changed.find(from), from.size(), to);
    expect_error(
        ErrorCode::Malformed, [&] { internal::decode_bundle(as_bytes(changed)); }, "removal_cut");
  };
  refused("\"seq\":4", "\"seq\":-4");
  refused("\"seq\":4", "\"seq\":0");  // number 0 with a hash
  refused("\"seq\":4", "\"seq\":\"four\"");
  refused("\"hash\":\"\"", "\"hash\":\"AAAA\"");               // a hash that is no SHA-256
  refused("\"status\":\"removed\"", "\"status\":\"active\"");  // an active device with a cut
}

TEST(RecordsKeysMerge, TwoRotationsAtOnceAgreeOnOneCurrentKeyAndAnArchivedKeyStaysArchived) {
  const KeyStatuses laptop = {{"11", KeyStatus::Archived}, {"22", KeyStatus::Current}};
  const KeyStatuses desk = {{"11", KeyStatus::Archived}, {"33", KeyStatus::Current}};
  const KeyStatuses expected = {{"11", KeyStatus::Archived}, {"22", KeyStatus::Archived}, {"33", KeyStatus::Current}};
  EXPECT_EQ(internal::merge_records_keys(laptop, desk), expected);
  EXPECT_EQ(internal::merge_records_keys(desk, laptop), expected);
  EXPECT_EQ(internal::merge_records_keys(expected, laptop), expected) << "an older state served again";
  // One rotated (archiving the old key), the other had not heard of it.
  const KeyStatuses before = {{"99", KeyStatus::Current}};
  const KeyStatuses rotated = {{"99", KeyStatus::Archived}, {"55", KeyStatus::Current}};
  const KeyStatuses after = {{"99", KeyStatus::Archived}, {"55", KeyStatus::Current}};
  EXPECT_EQ(internal::merge_records_keys(before, rotated), after);
  EXPECT_EQ(internal::merge_records_keys(rotated, before), after);
}

TEST(MailKeysMerge, AnArchivedCertificateStaysArchivedAndOneCurrentPerAddressAndPurpose) {
  const test::Person& alice = test::alice();
  const auto address = alice.address;
  const auto older = alice.encryption.der();
  const test::Person other = test::make_person(alice.address.str(), true);
  const auto newer = other.encryption.der();  // begins no earlier
  const std::vector<MailCertificate> before = {
      {address, store::KeyPurpose::Encryption, store::KeyOrigin::Profile, older, KeyStatus::Current}};
  const std::vector<MailCertificate> rotated = {
      {address, store::KeyPurpose::Encryption, store::KeyOrigin::Profile, older, KeyStatus::Archived},
      {address, store::KeyPurpose::Encryption, store::KeyOrigin::Profile, newer, KeyStatus::Current}};
  for (const auto& result : {internal::merge_mail_certificates(before, rotated),
                             internal::merge_mail_certificates(rotated, before)}) {
    EXPECT_EQ(result.at(older), KeyStatus::Archived);
    EXPECT_EQ(result.at(newer), KeyStatus::Current);
  }
  // Both current on two devices (two rotations at once): the same one wins on both.
  const std::vector<MailCertificate> concurrent = {
      {address, store::KeyPurpose::Encryption, store::KeyOrigin::Profile, newer, KeyStatus::Current}};
  const auto one = internal::merge_mail_certificates(before, concurrent);
  const auto two = internal::merge_mail_certificates(concurrent, before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(std::count_if(one.begin(), one.end(), [](const auto& item) { return item.second == KeyStatus::Current; }),
            1);
}

TEST(MailKeysMerge, ASigningCertificateLosingTheTieBreakIsRevokedARenewedOneIsNot) {
  const test::Person& alice = test::alice();
  const auto address = alice.address;
  const auto older = alice.signing.der();
  const test::Person other = test::make_person(alice.address.str(), true);
  const auto newer = other.signing.der();
  const auto signing = [&](const Bytes& der, KeyStatus status) {
    return MailCertificate{address, store::KeyPurpose::Signing, store::KeyOrigin::Profile, der, status};
  };
  // Two rotations at once: both current where they were made; one loses.
  const std::vector<MailCertificate> laptop = {signing(older, KeyStatus::Current)};
  const std::vector<MailCertificate> desk = {signing(newer, KeyStatus::Current)};
  const auto merged = internal::merge_mail_certificates(laptop, desk);
  const auto superseded = internal::certificates_superseded(laptop, desk, merged);
  ASSERT_EQ(superseded.size(), 1U);
  EXPECT_EQ(merged.at(superseded.front()), KeyStatus::Archived);
  EXPECT_EQ(superseded, internal::certificates_superseded(desk, laptop, merged));
  // A renewal (the old one archived where it was renewed) revokes nothing.
  const std::vector<MailCertificate> renewed = {signing(older, KeyStatus::Archived), signing(newer, KeyStatus::Current)};
  EXPECT_TRUE(
      internal::certificates_superseded(laptop, renewed, internal::merge_mail_certificates(laptop, renewed)).empty());
  // (Two renewals of one key at once revoke nothing either:
  // devices.root_renewal_two_admins.)
}

TEST(MailKeysMerge, ARenewalOfAKeyRetiredElsewhereStaysArchivedAndIsRevoked) {
  // The laptop removed the phone: its signing key (A) retired, a new one (B)
  // current. The desk, not knowing, renewed A's key (A2, beginning after B).
  // The retired key stays retired on both, and A2 is revoked: the phone holds
  // that key.
  const test::Person& alice = test::alice();
  const auto address = alice.address;
  const test::Person other = test::make_person(alice.address.str(), true);
  const auto older = alice.signing.der();
  const auto newer = other.signing.der();
  const store::MailKeyRecord key{.address = address, .purpose = store::KeyPurpose::Signing};
  const auto renewed = profile::reissue_mail_certificate(
                           alice.root_key, alice.root, "Alice", key, alice.signing.public_key(),
                           other.signing.not_before() + std::chrono::hours(48), smime::Capabilities::mailseal())
                           .certificate;
  ASSERT_GT(crypto::Certificate::from_der(renewed).not_before(), other.signing.not_before());
  const auto signing = [&](const Bytes& der, KeyStatus status) {
    return MailCertificate{address, store::KeyPurpose::Signing, store::KeyOrigin::Profile, der, status};
  };
  const std::vector<MailCertificate> laptop = {signing(older, KeyStatus::Archived), signing(newer, KeyStatus::Current)};
  const std::vector<MailCertificate> desk = {signing(older, KeyStatus::Archived), signing(renewed, KeyStatus::Current)};
  const auto merged = internal::merge_mail_certificates(laptop, desk);
  EXPECT_EQ(merged, internal::merge_mail_certificates(desk, laptop));
  EXPECT_EQ(merged.at(newer), KeyStatus::Current) << "the rotation's key stays current";
  EXPECT_EQ(merged.at(renewed), KeyStatus::Archived) << "the retired key stays retired";
  EXPECT_EQ(merged.at(older), KeyStatus::Archived);
  EXPECT_EQ(internal::certificates_superseded(laptop, desk, merged), std::vector<Bytes>{renewed});
  // The desk, merging the laptop's escrow after the laptop merged its own.
  const std::vector<MailCertificate> laptop_after = {signing(older, KeyStatus::Archived),
                                                     signing(newer, KeyStatus::Current),
                                                     signing(renewed, KeyStatus::Archived)};
  EXPECT_EQ(internal::merge_mail_certificates(desk, laptop_after), merged);
  // A plain renewal (no rotation anywhere) still wins over the old certificate.
  const std::vector<MailCertificate> before = {signing(older, KeyStatus::Current)};
  const std::vector<MailCertificate> renewal = {signing(older, KeyStatus::Archived), signing(renewed, KeyStatus::Current)};
  EXPECT_EQ(internal::merge_mail_certificates(before, renewal).at(renewed), KeyStatus::Current);
  EXPECT_EQ(internal::merge_mail_certificates(renewal, before).at(renewed), KeyStatus::Current);
}

TEST(MailKeysMerge, ARenewedEncryptionCertificateOfARetiredKeyIsRevokedToo) {
  // As above for the encryption key (review of issue 14, F1): a
  // correspondent holding the desk's renewal would keep encrypting to a key
  // the removed phone holds unless the published CRL names it.
  const test::Person& alice = test::alice();
  const test::Person other = test::make_person(alice.address.str(), true);
  const auto older = alice.encryption.der();
  const auto newer = other.encryption.der();
  const store::MailKeyRecord key{.address = alice.address, .purpose = store::KeyPurpose::Encryption};
  const auto renewed = profile::reissue_mail_certificate(
                           alice.root_key, alice.root, "Alice", key, alice.encryption.public_key(),
                           other.encryption.not_before() + std::chrono::hours(48), smime::Capabilities::mailseal())
                           .certificate;
  const auto encryption = [&](const Bytes& der, KeyStatus status) {
    return MailCertificate{alice.address, store::KeyPurpose::Encryption, store::KeyOrigin::Profile, der, status};
  };
  const std::vector<MailCertificate> laptop = {encryption(older, KeyStatus::Archived),
                                               encryption(newer, KeyStatus::Current)};
  const std::vector<MailCertificate> desk = {encryption(older, KeyStatus::Archived),
                                             encryption(renewed, KeyStatus::Current)};
  const auto merged = internal::merge_mail_certificates(laptop, desk);
  EXPECT_EQ(merged.at(renewed), KeyStatus::Archived);
  EXPECT_EQ(internal::certificates_superseded(laptop, desk, merged), std::vector<Bytes>{renewed});
  EXPECT_EQ(internal::certificates_superseded(desk, laptop, merged), std::vector<Bytes>{renewed});
}

}  // namespace
}  // namespace mailseal::devices
