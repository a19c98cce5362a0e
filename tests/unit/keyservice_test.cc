// The key service's typed documents (keyservice/documents.h): each reads
// back what it writes, and strict reading refuses every required field
// missing or of the wrong type with a Fault, and read() with
// Error(Malformed), that names the field. Also the protocol's shared rules,
// and the client's deadline against a loopback "service" that trickles.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mailseal/common/error.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/udf/udf.h"
#include "test_identities.h"

namespace mailseal::keyservice {
namespace {

using nlohmann::json;

const test::Person& person() {
  static const test::Person alice = test::make_person("alice@example.com", true);
  return alice;
}

DeviceEntry device() {
  static const crypto::PrivateKey signature = crypto::PrivateKey::generate(crypto::KeyType::P256);
  static const crypto::PrivateKey agreement = crypto::PrivateKey::generate(crypto::KeyType::P256);
  static const profile::DeviceCertificates issued = profile::issue_device_certificates(
      person().root_key, person().root, "phone", signature.public_key(), agreement.public_key(), mailseal::now());
  return DeviceEntry{
      device_id_of(signature.public_key()), "phone", "full", "active", issued.signature, issued.agreement};
}

Acceptance acceptance() {
  DeviceEntry entry = device();
  return Acceptance{{1, 2, 3}, entry.signature_certificate, entry.agreement_certificate};
}

JoinRequest join_request() {
  return JoinRequest{"phone", {4, 5}, {6, 7}, std::string(kNonceHexDigits, 'b'), "PIN", "MAC"};
}

PendingRequest pending_request() {
  return PendingRequest{RequestId("0011"),     join_request(), std::string(kNonceHexDigits, 'c'),
                        from_unix_seconds(42), std::nullopt,   std::nullopt};
}

// A field by its JSON pointer ("/devices/0/role") and the name a fault gives
// it ("devices[0].role").
struct Field {
  std::string pointer;
  std::string name;
};

// Every `required` field: removed, it is a MissingField fault; `true` in its
// place (a boolean is no document's type) is a BadField fault, and read()
// says Error(Malformed) naming it. `optional` fields may be removed but not
// be of the wrong type; `typed` ones (array items, fields that go in pairs)
// are checked for their type only.
template <typename Document>
void expect_strict(const std::string& valid, const std::vector<Field>& required,
                   const std::vector<Field>& optional = {}, const std::vector<Field>& typed = {}) {
  SCOPED_TRACE(valid);
  ASSERT_TRUE(std::holds_alternative<Document>(Document::parse(valid))) << "the sample reads";
  auto expect_fault = [](const json& document, FaultKind kind, const std::string& name) {
    auto parsed = Document::parse(document.dump());
    const Fault* fault = std::get_if<Fault>(&parsed);
    ASSERT_NE(fault, nullptr) << document.dump();
    EXPECT_EQ(fault->kind, kind) << fault->describe();
    EXPECT_EQ(fault->field, name) << fault->describe();
    try {
      (void)read<Document>(document.dump(), "the key service's answer");
      ADD_FAILURE() << "read() accepted " << document.dump();
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed);
      EXPECT_NE(std::string(error.what()).find("the key service's answer: '" + name + "'"), std::string::npos)
          << error.what();
    }
  };
  for (const Field& field : required) {
    SCOPED_TRACE(field.name);
    json missing = json::parse(valid);
    json::json_pointer pointer(field.pointer);
    missing[pointer.parent_pointer()].erase(pointer.back());
    expect_fault(missing, FaultKind::MissingField, field.name);
  }
  for (const auto& fields : {required, optional, typed}) {
    for (const Field& field : fields) {
      SCOPED_TRACE(field.name);
      json wrong = json::parse(valid);
      wrong[json::json_pointer(field.pointer)] = true;
      expect_fault(wrong, FaultKind::BadField, field.name);
    }
  }
  for (const Field& field : optional) {
    json without = json::parse(valid);
    json::json_pointer pointer(field.pointer);
    without[pointer.parent_pointer()].erase(pointer.back());
    EXPECT_TRUE(std::holds_alternative<Document>(Document::parse(without.dump()))) << field.name << " is optional";
  }
}

std::vector<Field> device_fields(const std::string& pointer, const std::string& name) {
  std::vector<Field> out;
  for (const char* field : {"device_id", "name", "role", "status", "signature_certificate", "agreement_certificate"})
    out.push_back({pointer + "/" + field, name + "." + field});
  return out;
}

std::vector<Field> join_fields(const std::string& pointer, const std::string& prefix) {
  std::vector<Field> out;
  for (const char* field : {"device_name", "signature_key", "agreement_key", "device_nonce"})
    out.push_back({pointer + "/" + field, prefix + field});
  return out;
}

TEST(KeyServiceDocuments, SmallDocumentsAreStrict) {
  expect_strict<Health>(Health{"ok"}.to_json(), {{"/status", "status"}});
  expect_strict<ErrorDocument>(
      ErrorDocument{"bad_field", "why"}.to_json(),
      {{"/error", "error"}, {"/error/code", "error.code"}, {"/error/message", "error.message"}});
  expect_strict<PublishReceipt>(
      PublishReceipt{Identity("FP"), {"alice@example.com"}, from_unix_seconds(1), {{"alice@example.com", "pending"}}}
          .to_json(),
      {{"/fingerprint", "fingerprint"},
       {"/addresses", "addresses"},
       {"/updated_at", "updated_at"},
       {"/claims/0/address", "claims[0].address"},
       {"/claims/0/state", "claims[0].state"}},
      {{"/claims", "claims"}}, {{"/addresses/0", "addresses[0]"}, {"/claims/0", "claims[0]"}});
  expect_strict<AddressClaim>(AddressClaim{"alice@example.com", "verified"}.to_json(),
                              {{"/address", "address"}, {"/state", "state"}});
  expect_strict<Confirmation>(Confirmation{std::string(kVerificationTokenDigits, 'a')}.to_json(),
                              {{"/token", "token"}});
  expect_strict<EscrowAnswer>(EscrowAnswer{Identity("FP"), {1}}.to_json(),
                              {{"/fingerprint", "fingerprint"}, {"/escrow", "escrow"}});
  expect_strict<Invitation>(Invitation{"PIN", from_unix_seconds(5)}.to_json(),
                            {{"/pin_id", "pin_id"}, {"/expires_at", "expires_at"}});
  expect_strict<JoinReceipt>(JoinReceipt{RequestId("0011"), std::string(kNonceHexDigits, 'd')}.to_json(),
                             {{"/request_id", "request_id"}, {"/service_nonce", "service_nonce"}});
  expect_strict<DecisionReceipt>(DecisionReceipt{RequestId("0011"), RequestState::Accepted}.to_json(),
                                 {{"/request_id", "request_id"}, {"/status", "status"}});
  expect_strict<BundleEnvelope>(BundleEnvelope{{1}}.to_json(), {{"/bundle", "bundle"}});
  expect_strict<BundleReceipt>(BundleReceipt{DeviceId("D"), from_unix_seconds(1)}.to_json(),
                               {{"/device_id", "device_id"}, {"/updated_at", "updated_at"}});
  expect_strict<DeviceBundle>(DeviceBundle{DeviceId("D"), {1}}.to_json(),
                              {{"/device_id", "device_id"}, {"/bundle", "bundle"}});
}

TEST(KeyServiceDocuments, PublicationsAndPublishedProfilesAreStrict) {
  Publication publication{person().root, {person().signing}, "", {{9}}, {device()}, EscrowReference{"E", {8}}};
  std::vector<Field> required = {
      {"/root", "root"},       {"/certificates", "certificates"}, {"/revocations", "revocations"},
      {"/devices", "devices"}, {"/escrow/id", "escrow.id"},       {"/escrow/data", "escrow.data"}};
  for (const auto& field : device_fields("/devices/0", "devices[0]"))
    required.push_back(field);
  const std::vector<Field> items = {
      {"/certificates/0", "certificates[0]"}, {"/revocations/0", "revocations[0]"}, {"/devices/0", "devices[0]"}};
  expect_strict<Publication>(publication.to_json(), required,
                             {{"/endorsements", "endorsements"}, {"/escrow", "escrow"}}, items);

  PublishedProfile profile{Identity("FP"), person().root, {person().address},   {person().signing}, "",
                           {{9}},          {device()},    from_unix_seconds(7), std::nullopt};
  std::vector<Field> published = {{"/fingerprint", "fingerprint"}, {"/root", "root"},
                                  {"/addresses", "addresses"},     {"/certificates", "certificates"},
                                  {"/revocations", "revocations"}, {"/devices", "devices"}};
  for (const auto& field : device_fields("/devices/0", "devices[0]"))
    published.push_back(field);
  std::vector<Field> published_items = items;
  published_items.push_back({"/addresses/0", "addresses[0]"});
  expect_strict<PublishedProfile>(profile.to_json(), published,
                                  {{"/endorsements", "endorsements"}, {"/updated_at", "updated_at"}}, published_items);

  // "verified" (lookups by address, on a service that says): optional, a
  // boolean, kept through a round trip; an old reader ignores it.
  EXPECT_FALSE(std::get<PublishedProfile>(PublishedProfile::parse(profile.to_json())).verified.has_value());
  profile.verified = true;
  PublishedProfile again = std::get<PublishedProfile>(PublishedProfile::parse(profile.to_json()));
  ASSERT_TRUE(again.verified.has_value());
  EXPECT_TRUE(*again.verified);
  json wrong = json::parse(profile.to_json());
  wrong["verified"] = "yes";
  const auto parsed = PublishedProfile::parse(wrong.dump());
  ASSERT_TRUE(std::holds_alternative<Fault>(parsed));
  EXPECT_EQ(std::get<Fault>(parsed).field, "verified");
}

TEST(KeyServiceRules, VerificationTokensAreFoundInLinksAndNothingElse) {
  const std::string token(kVerificationTokenDigits, 'c');
  EXPECT_TRUE(is_verification_token(token));
  EXPECT_FALSE(is_verification_token(std::string(kVerificationTokenDigits, 'C')));
  EXPECT_FALSE(is_verification_token(token.substr(1)));
  EXPECT_FALSE(is_verification_token(token + "c"));
  EXPECT_EQ(verification_token_in(token), token);
  EXPECT_EQ(verification_token_in(token + "\n"), token);
  EXPECT_EQ(verification_token_in("https://keys.example.org/verify/" + token), token);
  EXPECT_EQ(verification_token_in("https://keys.example.org/verify/" + token + "/?utm=x#top"), token);
  EXPECT_EQ(verification_token_in("https://keys.example.org/verify/" + token.substr(2)), std::nullopt);
  EXPECT_EQ(verification_token_in("https://keys.example.org/other/" + token), std::nullopt);
  EXPECT_EQ(verification_token_in(""), std::nullopt);
  EXPECT_EQ(verification_token_in("/verify/"), std::nullopt);
}

TEST(KeyServiceDocuments, RequestsAndDecisionsAreStrict) {
  // The PIN fields go together: one without the other is refused too.
  expect_strict<JoinRequest>(join_request().to_json(), join_fields("", ""), {},
                             {{"/pin_id", "pin_id"}, {"/pin_mac", "pin_mac"}});
  json half = json::parse(join_request().to_json());
  half.erase("pin_mac");
  auto half_parsed = JoinRequest::parse(half.dump());
  ASSERT_TRUE(std::holds_alternative<Fault>(half_parsed));
  EXPECT_EQ(std::get<Fault>(half_parsed).field, "pin_id");
  PendingRequest pending = pending_request();
  std::vector<Field> kept = join_fields("", "");
  for (Field field : {Field{"/request_id", "request_id"}, Field{"/service_nonce", "service_nonce"},
                      Field{"/created_at", "created_at"}})
    kept.push_back(field);
  expect_strict<PendingRequest>(pending.to_json(), kept);
  std::vector<Field> listed = {{"/requests", "requests"}};
  for (const auto& field : join_fields("/requests/0", "requests[0]."))
    listed.push_back(field);
  expect_strict<PendingRequests>(PendingRequests{{pending}}.to_json(), listed, {}, {{"/requests/0", "requests[0]"}});
  const std::vector<Field> accepted = {{"/bundle", "bundle"},
                                       {"/signature_certificate", "signature_certificate"},
                                       {"/agreement_certificate", "agreement_certificate"}};
  std::vector<Field> decision = accepted;
  decision.push_back({"/decision", "decision"});
  expect_strict<Decision>(Decision{acceptance()}.to_json(), decision);
  expect_strict<Decision>(Decision{}.to_json(), {{"/decision", "decision"}});
  std::vector<Field> status = accepted;
  status.push_back({"/request_id", "request_id"});
  status.push_back({"/status", "status"});
  expect_strict<RequestStatus>(RequestStatus{RequestId("0011"), RequestState::Accepted, acceptance()}.to_json(),
                               status);
}

TEST(KeyServiceDocuments, WhatIsWrittenReadsBack) {
  Publication publication{
      person().root, {person().signing, person().encryption}, "PEM", {{9}}, {device()}, EscrowReference{"E", {8}}};
  auto read_back = read<Publication>(publication.to_json(), "test");
  EXPECT_EQ(read_back.root, person().root);
  EXPECT_EQ(read_back.certificates.size(), 2u);
  EXPECT_EQ(read_back.endorsements, "PEM");
  EXPECT_EQ(read_back.devices[0].device_id, device().device_id);
  EXPECT_EQ(read_back.escrow->data, Bytes{8});
  EXPECT_EQ(read_back.to_json(), publication.to_json());

  auto join = read<JoinRequest>(join_request().to_json(), "test");
  EXPECT_EQ(join.pin_id, "PIN");
  EXPECT_EQ(join.agreement_key, (Bytes{6, 7}));
  JoinRequest plain = join_request();
  plain.pin_id.reset();
  plain.pin_mac.reset();
  EXPECT_EQ(plain.to_json().find("pin_"), std::string::npos) << "no PIN fields unless joining with a PIN";
  EXPECT_FALSE(read<JoinRequest>(plain.to_json(), "test").pin_id);

  auto kept = read<PendingRequest>(pending_request().to_json(), "test");
  EXPECT_EQ(kept.request.device_name, "phone");
  EXPECT_EQ(kept.created_at, from_unix_seconds(42));
  EXPECT_FALSE(read<Decision>(Decision{}.to_json(), "test").accepted);
  auto status =
      read<RequestStatus>(RequestStatus{RequestId("0011"), RequestState::Accepted, acceptance()}.to_json(), "test");
  ASSERT_TRUE(status.accepted);
  EXPECT_EQ(status.accepted->bundle, (Bytes{1, 2, 3}));
  auto waiting =
      read<RequestStatus>(RequestStatus{RequestId("0011"), RequestState::Pending, std::nullopt}.to_json(), "test");
  EXPECT_EQ(waiting.state, RequestState::Pending);
  EXPECT_FALSE(waiting.accepted);
}

TEST(KeyServiceDocuments, ValuesAreCheckedForWhatTheyClaimToBe) {
  auto fault_of = [](const std::string& text) {
    auto parsed = Publication::parse(text);
    return std::holds_alternative<Fault>(parsed) ? std::get<Fault>(parsed) : Fault{};
  };
  json valid = json::parse(Publication{person().root, {}, "", {}, {}, std::nullopt}.to_json());
  json garbage = valid;
  garbage["root"] = "AAAA";
  EXPECT_EQ(fault_of(garbage.dump()).kind, FaultKind::BadCertificate);
  EXPECT_EQ(fault_of(garbage.dump()).field, "root");
  json not_base64 = valid;
  not_base64["certificates"] = {"!!!"};
  EXPECT_EQ(fault_of(not_base64.dump()).kind, FaultKind::BadField);
  EXPECT_EQ(fault_of(not_base64.dump()).field, "certificates[0]");
  json too_many = valid;
  too_many["revocations"] = json::array();
  for (std::size_t i = 0; i <= kMaxRevocations; ++i)
    too_many["revocations"].push_back("AAAA");
  EXPECT_EQ(fault_of(too_many.dump()).field, "revocations");
  for (const std::string& text : {std::string("{not json"), std::string("[1]"), std::string(40, '[')}) {
    EXPECT_EQ(fault_of(text).kind, FaultKind::NotJson) << text;
    EXPECT_TRUE(fault_of(text).field.empty());
  }
  JoinRequest long_name = join_request();
  long_name.device_name = std::string(kMaxDeviceNameLength + 1, 'x');
  auto parsed = JoinRequest::parse(long_name.to_json());
  ASSERT_TRUE(std::holds_alternative<Fault>(parsed));
  EXPECT_EQ(std::get<Fault>(parsed).field, "device_name");
  JoinRequest short_nonce = join_request();
  short_nonce.device_nonce = "00";
  parsed = JoinRequest::parse(short_nonce.to_json());
  ASSERT_TRUE(std::holds_alternative<Fault>(parsed));
  EXPECT_EQ(std::get<Fault>(parsed).field, "device_nonce");
  json negative = json::parse(Invitation{"PIN", from_unix_seconds(1)}.to_json());
  EXPECT_EQ(negative["expires_at"], 1) << "a point in time is Unix seconds on the wire";
  negative["expires_at"] = 18446744073709551615u;
  EXPECT_TRUE(std::holds_alternative<Fault>(Invitation::parse(negative.dump()))) << "beyond a signed 64-bit integer";
}

TEST(KeyServiceRules, WrittenOnceForBothSides) {
  EXPECT_TRUE(is_profile_root(person().root));
  EXPECT_FALSE(is_profile_root(person().signing)) << "not a CA";
  EXPECT_FALSE(is_profile_root(device().signature_certificate));
  EXPECT_EQ(profile_fingerprint_of(person().root).str(), person().root.key_fingerprint().to_string(udf::kFullBits));
  const DeviceId id = device().device_id;
  EXPECT_EQ(id.str(), device().signature_certificate.public_key().fingerprint().to_string(kDeviceIdBits));
  EXPECT_FALSE(invitation_lifetime_allowed(std::chrono::seconds(0)));
  EXPECT_TRUE(invitation_lifetime_allowed(std::chrono::seconds(1)));
  EXPECT_TRUE(invitation_lifetime_allowed(kMaxInvitationLifetime));
  EXPECT_FALSE(invitation_lifetime_allowed(kMaxInvitationLifetime + std::chrono::seconds(1)));
  EXPECT_FALSE(device_name_allowed(""));
  EXPECT_TRUE(device_name_allowed(std::string(kMaxDeviceNameLength, 'x')));
  EXPECT_FALSE(device_name_allowed(std::string(kMaxDeviceNameLength + 1, 'x')));
}

// A "key service" on a loopback port that takes connections, reads what
// comes, and then sends one byte of an endless answer every 200 ms
// (Trickle), or nothing (Silent): every read of the client gets something
// in time, or waits, and no per-read timeout ever ends the request.
class HostileService {
 public:
  enum class Mode { Trickle, Silent };
  explicit HostileService(Mode mode) : mode_(mode) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (!listener_.valid() || ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_.get(), 8) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot listen on loopback");
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HostileService() {
    stop_ = true;
    thread_.join();
  }
  HostileService(const HostileService&) = delete;
  HostileService& operator=(const HostileService&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool accepted() const { return accepted_; }

 private:
  // Waits up to 50 ms for `fd` to be readable.
  static bool readable(int fd) {
    pollfd watched{fd, POLLIN, 0};
    return ::poll(&watched, 1, 50) > 0;
  }
  void serve() {
    std::vector<UniqueFd> connections;
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, ' ');
    std::size_t sent = 0;
    int ticks = 0;
    while (!stop_) {
      if (readable(listener_.get())) {
        connections.emplace_back(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        accepted_ = true;
      }
      for (UniqueFd& connection : connections) {
        char buffer[4096];
        if (connection.valid() && readable(connection.get()) &&
            ::recv(connection.get(), buffer, sizeof buffer, MSG_DONTWAIT) == 0)
          connection = UniqueFd();  // the client went
      }
      if (mode_ == Mode::Trickle && ++ticks % 4 == 0 && sent < answer.size()) {
        for (UniqueFd& connection : connections) {
          if (connection.valid())
            (void)::send(connection.get(), answer.data() + sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        ++sent;
      }
    }
  }

  Mode mode_;
  UniqueFd listener_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepted_{false};
  std::thread thread_;
};

// Sets an environment variable for one test, and puts the old value back.
class Environment {
 public:
  Environment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name))
      old_ = old;
    if (value != nullptr)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~Environment() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

const EmailAddress kBob = EmailAddress::parse("bob@example.org");

// What a call to the client threw: its code and message (nullopt: none).
std::optional<std::pair<ErrorCode, std::string>> failure_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return std::make_pair(error.code(), std::string(error.what()));
  }
  return std::nullopt;
}

TEST(KeyServiceClient, ARequestEndsAtItsDeadlineHoweverTheServiceTrickles) {
  for (auto mode : {HostileService::Mode::Trickle, HostileService::Mode::Silent}) {
    HostileService service(mode);
    Environment deadline(std::string(kServiceTimeoutVariable).c_str(), "1");
    Client client(service.url());
    EXPECT_EQ(client.request_deadline(), std::chrono::seconds(1));
    auto failure = failure_of([&] { client.profile_for(kBob); });
    ASSERT_TRUE(failure) << "the request ended only with an answer";
    EXPECT_EQ(failure->first, ErrorCode::Io);
    EXPECT_NE(failure->second.find("did not answer within 1 s"), std::string::npos) << failure->second;
    EXPECT_NE(failure->second.find(service.url()), std::string::npos) << "names the service: " << failure->second;
    EXPECT_TRUE(service.accepted()) << "the request reached the hostile service";
  }
}

TEST(KeyServiceClient, CancelEndsTheRequestUnderWayAndEveryLaterOne) {
  HostileService service(HostileService::Mode::Trickle);
  Environment deadline(std::string(kServiceTimeoutVariable).c_str(), nullptr);
  Client client(service.url());
  EXPECT_EQ(client.request_deadline(), kDefaultRequestDeadline);
  std::thread canceller([&] {
    while (!service.accepted())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    client.cancel();
  });
  auto failure = failure_of([&] { client.profile_for(kBob); });
  canceller.join();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->first, ErrorCode::Io);
  EXPECT_NE(failure->second.find("was cancelled"), std::string::npos) << failure->second;
  auto later = failure_of([&] { client.escrow("E"); });
  ASSERT_TRUE(later);
  EXPECT_NE(later->second.find("was cancelled"), std::string::npos) << later->second;
}

TEST(KeyServiceClient, ADeadlineSettingOutOfRangeIsAUsageError) {
  for (const char* setting : {"0", "-5", "3601", "30s", "soon"}) {
    Environment deadline(std::string(kServiceTimeoutVariable).c_str(), setting);
    auto failure = failure_of([] { Client client("http://127.0.0.1:1"); });
    ASSERT_TRUE(failure) << setting;
    EXPECT_EQ(failure->first, ErrorCode::Usage) << setting;
  }
  Environment deadline(std::string(kServiceTimeoutVariable).c_str(), "3600");
  EXPECT_EQ(Client("http://127.0.0.1:1").request_deadline(), std::chrono::seconds(3600));
}

}  // namespace
}  // namespace mailseal::keyservice
