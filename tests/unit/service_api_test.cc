// The key service's API handler (service::Api::handle) on hand-made
// requests against a temporary SQLite file: publishing and looking up,
// joining, deciding, bundles, invitations, and the refusals, each with its
// status and code, a refused request changing nothing stored.
// tests/service/hostile.py drives the same API over HTTP.

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/service/api.h"
#include "mailseal/service/claims.h"
#include "mailseal/service/server.h"
#include "mailseal/service/smimea.h"
#include "mailseal/udf/strong_address.h"
#include "service/storage.h"
#include "test_identities.h"

namespace mailseal::service {
namespace {

using namespace keyservice;

using namespace std::chrono_literals;

constexpr TimePoint kNow = from_unix_seconds(1800000000);

// A device's keys and certificates, issued by a person's root.
struct TestDevice {
  crypto::PrivateKey signature_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  crypto::PrivateKey agreement_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  DeviceId id = device_id_of(signature_key.public_key());

  profile::DeviceCertificates certificates(const test::Person& person) const {
    return profile::issue_device_certificates(person.root_key, person.root, "phone", signature_key.public_key(),
                                              agreement_key.public_key(), kNow);
  }
  DeviceEntry entry(const test::Person& person, std::string status = "active") const {
    auto issued = certificates(person);
    return DeviceEntry{id, "phone", "full", std::move(status), issued.signature, issued.agreement};
  }
  JoinRequest join_request() const {
    return JoinRequest{"phone",
                       signature_key.public_key().spki_der(),
                       agreement_key.public_key().spki_der(),
                       std::string(kNonceHexDigits, 'a'),
                       std::nullopt,
                       std::nullopt};
  }
};

// Every row of every table but the nonces (a valid signature may use one up).
std::map<std::string, std::vector<std::string>> snapshot(const std::filesystem::path& database) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open_v2(database.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> connection(raw, &sqlite3_close);
  auto rows_of = [&](const std::string& sql) {
    std::vector<std::string> rows;
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql.c_str(), -1, &statement, nullptr), SQLITE_OK) << sql;
    while (sqlite3_step(statement) == SQLITE_ROW) {
      std::string row;
      for (int column = 0; column < sqlite3_column_count(statement); ++column) {
        auto data = static_cast<const char*>(sqlite3_column_blob(statement, column));
        row += std::string(data ? data : "NULL", data ? sqlite3_column_bytes(statement, column) : 4) + "|";
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
    std::sort(rows.begin(), rows.end());
    return rows;
  };
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& table : rows_of("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'nonces'")) {
    std::string name = table.substr(0, table.size() - 1);
    out[name] = rows_of("SELECT * FROM " + name);
  }
  return out;
}

class ServiceApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = std::filesystem::temp_directory_path() /
                ("mailseal-api-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    remove_database();
    api_.emplace(database_);
  }
  void TearDown() override {
    api_.reset();
    remove_database();
  }
  void remove_database() {
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(database_.string() + suffix);
  }

  static const test::Person& alice() {
    static const test::Person person = test::make_person("alice@example.com", true);
    return person;
  }
  static const test::Person& mallory() {
    static const test::Person person = test::make_person("mallory@example.org", true);
    return person;
  }
  static Identity fingerprint(const test::Person& person) { return profile_fingerprint_of(person.root); }
  static std::string account(const test::Person& person) { return "/v1/accounts/" + fingerprint(person).str(); }

  // A request as it arrives at the service's clock (clock_), signed with
  // `key` under `key_id` when given, at `signed_at` (else by a client whose
  // clock agrees with the service's).
  HttpResponse call(const std::string& method, const std::string& target, const std::string& body = "",
                    const crypto::PrivateKey* key = nullptr, std::string_view key_id = kRootKey,
                    std::optional<TimePoint> signed_at = std::nullopt) {
    HttpRequest request{method, target, body.empty() ? "" : "application/json", "", body, client_};
    if (key != nullptr)
      request.authorization = authorize(*key, key_id, method, target, as_bytes(body), signed_at.value_or(clock_));
    return api_->handle(request, clock_);
  }
  HttpResponse as_root(const test::Person& person, const std::string& method, const std::string& target,
                       const std::string& body = "") {
    return call(method, target, body, &person.root_key, kRootKey);
  }

  // `device` asks to join Alice's profile with the PIN known by `pin_id`.
  HttpResponse join_with_pin(const TestDevice& device, std::string pin_id) {
    JoinRequest request = device.join_request();
    request.pin_id = std::move(pin_id);
    request.pin_mac = "MAC";
    return call("POST", account(alice()) + "/requests", request.to_json(), &device.signature_key, kJoiningDeviceKey);
  }

  Publication publication(const test::Person& person, std::vector<DeviceEntry> devices = {}) {
    return Publication{person.root, {person.signing, person.encryption}, "", {}, std::move(devices), std::nullopt};
  }
  void publish(const test::Person& person, std::vector<DeviceEntry> devices = {}) {
    HttpResponse response = as_root(person, "PUT", account(person), publication(person, std::move(devices)).to_json());
    ASSERT_EQ(response.status, 200) << response.body;
  }

  template <typename Document>
  Document answer(const HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.body;
    return read<Document>(response.body, "the answer");
  }

  // Refused with `status` and `code`, and nothing stored changed.
  void expect_refused(const std::function<HttpResponse()>& send, int status, std::string_view code) {
    auto before = snapshot(database_);
    HttpResponse response = send();
    EXPECT_EQ(response.status, status) << response.body;
    auto parsed = ErrorDocument::parse(response.body);
    ASSERT_TRUE(std::holds_alternative<ErrorDocument>(parsed)) << response.body;
    EXPECT_EQ(std::get<ErrorDocument>(parsed).code, code) << response.body;
    EXPECT_FALSE(std::get<ErrorDocument>(parsed).message.empty());
    EXPECT_EQ(snapshot(database_), before) << "a refused request (" << code << ") changed what is stored";
  }

  std::filesystem::path database_;
  std::optional<Api> api_;
  TimePoint clock_ = kNow;  // the service's clock: a test moves it instead of waiting
  std::string client_ = "192.0.2.1";  // the address requests come from
};

// --- Verified addresses: the rules (claims.h), with `now` passed in --------

Claim claim_of(const char* account, ClaimState state, TimePoint at = kNow, ClaimLifetimes lifetimes = {}) {
  Claim claim = pending_claim("bob@example.org", Identity(account), at, lifetimes);
  claim.state = state;
  return claim;
}

TEST(ServiceClaims, OnlyAVerifiedOrListedClaimIsServed) {
  std::vector<Claim> claims = {claim_of("A", ClaimState::Pending), claim_of("B", ClaimState::Pending)};
  EXPECT_EQ(served_claim(claims), std::nullopt) << "pending claims are never served";
  claims.push_back(claim_of("C", ClaimState::Listed));
  EXPECT_EQ(served_claim(claims), 2u);
  claims.push_back(claim_of("D", ClaimState::Verified, kNow - 1h));
  EXPECT_EQ(served_claim(claims), 3u) << "proof beats a listing, even an older proof";
  claims.push_back(claim_of("E", ClaimState::Verified, kNow + 1h));
  EXPECT_EQ(served_claim(claims), 4u) << "among proofs, the newest";
  EXPECT_EQ(served_claim({}), std::nullopt);
}

TEST(ServiceClaims, APublicationChallengesUnlessItsClaimStands) {
  const Identity bob("B");
  const auto step = [&](std::vector<Claim> claims, TimePoint now, Verification mode = Verification::Mail) {
    return on_publish(claims, bob, mode, now);
  };
  EXPECT_EQ(step({}, kNow), PublishStep::Challenge);
  EXPECT_EQ(step({claim_of("B", ClaimState::Pending)}, kNow + 1h), PublishStep::Keep) << "the link still works";
  EXPECT_EQ(step({claim_of("B", ClaimState::Pending)}, kNow + kDefaultTokenLifetime), PublishStep::Challenge)
      << "the link expired: a new mail";
  EXPECT_EQ(step({claim_of("B", ClaimState::Pending)}, kNow + kDefaultClaimLifetime + 1h), PublishStep::Challenge);
  EXPECT_EQ(step({claim_of("B", ClaimState::Verified)}, kNow + 1000h), PublishStep::Keep) << "a proof does not expire";
  EXPECT_EQ(step({claim_of("B", ClaimState::Listed)}, kNow), PublishStep::Keep);
  EXPECT_EQ(step({claim_of("M", ClaimState::Verified), claim_of("N", ClaimState::Pending)}, kNow),
            PublishStep::Challenge)
      << "nobody's claim blocks another profile's";
  // An unverified service: first come, first served, as before.
  EXPECT_EQ(step({}, kNow, Verification::None), PublishStep::List);
  EXPECT_EQ(step({claim_of("M", ClaimState::Pending)}, kNow, Verification::None), PublishStep::List);
  EXPECT_EQ(step({claim_of("M", ClaimState::Listed)}, kNow, Verification::None), PublishStep::Taken);
  EXPECT_EQ(step({claim_of("M", ClaimState::Verified)}, kNow, Verification::None), PublishStep::Taken);
  EXPECT_EQ(step({claim_of("B", ClaimState::Listed)}, kNow, Verification::None), PublishStep::Keep);
}

TEST(ServiceClaims, ALinkNeverReplacesAnotherProfilesServedAddress) {
  const Claim mine = claim_of("B", ClaimState::Pending);
  EXPECT_EQ(served_for_another(mine, std::vector<Claim>{mine}), std::nullopt);
  EXPECT_EQ(served_for_another(mine, std::vector<Claim>{claim_of("M", ClaimState::Pending), mine}), std::nullopt)
      << "another pending claim is not served";
  const Claim verified = claim_of("M", ClaimState::Verified);
  std::optional<Claim> other = served_for_another(mine, std::vector<Claim>{verified, mine});
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->account, verified.account);
  EXPECT_TRUE(served_for_another(mine, std::vector<Claim>{claim_of("M", ClaimState::Listed), mine}).has_value());
  EXPECT_EQ(served_for_another(claim_of("B", ClaimState::Verified), std::vector<Claim>{claim_of("B", ClaimState::Verified)}),
            std::nullopt)
      << "its own served claim is no other profile's";
}

TEST(ServiceClaims, AChallengeIsAnsweredOnceBeforeItExpires) {
  const ClaimLifetimes lifetimes{10h, 2h};
  const Claim pending = claim_of("B", ClaimState::Pending, kNow, lifetimes);
  EXPECT_EQ(pending.token_expires_at, kNow + 2h);
  EXPECT_EQ(pending.expires_at, kNow + 10h);
  EXPECT_EQ(answer_challenge(pending, kNow), ChallengeAnswer::Confirm);
  EXPECT_EQ(answer_challenge(pending, kNow + 2h - 1s), ChallengeAnswer::Confirm);
  EXPECT_EQ(answer_challenge(pending, kNow + 2h), ChallengeAnswer::Expired) << "the link's last second is before";
  EXPECT_EQ(answer_challenge(pending, kNow + 11h), ChallengeAnswer::Expired);
  EXPECT_TRUE(is_stale(pending, kNow + 10h));
  EXPECT_FALSE(is_stale(pending, kNow + 10h - 1s));
  EXPECT_EQ(answer_challenge(claim_of("B", ClaimState::Verified), kNow), ChallengeAnswer::AlreadyConfirmed);
  EXPECT_EQ(answer_challenge(claim_of("B", ClaimState::Listed), kNow), ChallengeAnswer::Expired);
  // A link never outlives its claim.
  EXPECT_EQ(claim_of("B", ClaimState::Pending, kNow, {1h, 5h}).token_expires_at, kNow + 1h);
  for (ClaimState state : {ClaimState::Pending, ClaimState::Verified, ClaimState::Listed})
    EXPECT_EQ(claim_state_from(to_string(state)), state);
  EXPECT_EQ(claim_state_from("withdrawn"), std::nullopt);
}

// --- Verified addresses: the API, with the mails it would send kept -------

class VerifiedServiceTest : public ServiceApiTest {
 protected:
  void SetUp() override {
    ServiceApiTest::SetUp();
    api_.reset();
    ServiceSettings settings{Verification::Mail, "https://keys.test/", "keys@keys.test", {}, {}, {}, {}};
    settings.send_mail = [this](const OutgoingMail& mail) {
      if (mail_fails_)
        throw Error(ErrorCode::Io, "the relay is down");
      mails_.push_back(mail);
    };
    api_.emplace(database_, settings);
  }

  // The token in the newest mail to `address`.
  std::string token_for(const std::string& address) {
    for (auto mail = mails_.rbegin(); mail != mails_.rend(); ++mail) {
      if (mail->recipient != address)
        continue;
      auto at = mail->message.find("https://keys.test/verify/");
      EXPECT_NE(at, std::string::npos) << mail->message;
      return mail->message.substr(at + 25, kVerificationTokenDigits);
    }
    ADD_FAILURE() << "no mail to " << address;
    return "";
  }

  std::vector<OutgoingMail> mails_;
  bool mail_fails_ = false;
};

TEST_F(VerifiedServiceTest, AnAddressIsServedOnlyOnceItsLinkIsPressed) {
  auto receipt = answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()), 200);
  ASSERT_EQ(receipt.claims.size(), 1u);
  EXPECT_EQ(receipt.claims[0].state, kClaimPending);
  ASSERT_EQ(mails_.size(), 1u);
  const OutgoingMail& mail = mails_[0];
  EXPECT_EQ(mail.recipient, "alice@example.com");
  EXPECT_EQ(mail.reverse_path, "keys@keys.test");
  EXPECT_NE(mail.message.find("\r\nTo: <alice@example.com>\r\n"), std::string::npos);
  EXPECT_EQ(mail.message.find("keys.test//verify"), std::string::npos) << "the URL's trailing slash is dropped";
  EXPECT_EQ(mail.message.find('\n', 0), mail.message.find("\r\n") + 1) << "CRLF line endings";
  const std::string token = token_for("alice@example.com");
  ASSERT_TRUE(is_verification_token(token));
  EXPECT_NE(mail.message.find("mailseal address confirm " + token), std::string::npos);
  auto stored = snapshot(database_);
  for (const auto& row : stored["claims"])
    EXPECT_EQ(row.find(token), std::string::npos) << "only the token's hash is stored";

  expect_refused([&] { return call("GET", "/v1/addresses/alice%40example.com"); }, 404, "unknown_address");
  EXPECT_TRUE(answer<PublishedProfile>(call("GET", account(alice())), 200).addresses.empty())
      << "the profile's own answer lists no unproved address";
  auto before = snapshot(database_);
  HttpResponse shown = call("GET", "/verify/" + token);
  EXPECT_EQ(shown.status, 200);
  EXPECT_EQ(shown.content_type, "text/html; charset=utf-8");
  EXPECT_NE(shown.body.find("<form method=\"post\">"), std::string::npos) << shown.body;
  EXPECT_EQ(snapshot(database_), before) << "showing the page changes nothing";

  HttpResponse pressed = call("POST", "/verify/" + token);
  EXPECT_EQ(pressed.status, 200) << pressed.body;
  auto found = answer<PublishedProfile>(call("GET", "/v1/addresses/alice%40example.com"), 200);
  EXPECT_EQ(found.fingerprint, fingerprint(alice()));
  EXPECT_EQ(found.verified, true);
  EXPECT_EQ(answer<PublishedProfile>(call("GET", account(alice())), 200).addresses.size(), 1u);
  EXPECT_EQ(call("POST", "/verify/" + token).status, 409) << "a link works once";

  // Publishing again keeps the proof and mails nothing.
  receipt = answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()), 200);
  EXPECT_EQ(receipt.claims[0].state, kClaimVerified);
  EXPECT_EQ(mails_.size(), 1u);
}

// The pages for people (docs/service.md, "Pages"): a lookup by address
// shows only a served (verified) claim; the certificates download as PEM
// and as a certs-only PKCS#7 that read back to the same certificates.
TEST_F(VerifiedServiceTest, PagesShowOnlyAVerifiedAddressAndItsCertificates) {
  answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()), 200);
  const std::string fp = fingerprint(alice()).str();
  HttpResponse pending = call("GET", "/lookup?q=alice%40example.com");
  EXPECT_EQ(pending.status, 404) << "an unverified address has no page";
  EXPECT_EQ(pending.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(pending.body.find(fp), std::string::npos);
  EXPECT_EQ(call("POST", "/verify/" + token_for("alice@example.com")).status, 200);

  HttpResponse shown = call("GET", "/lookup?q=+alice%40example.com+");
  EXPECT_EQ(shown.status, 200) << shown.body;
  EXPECT_NE(shown.body.find("<code id=\"fingerprint\">" + fp + "</code>"), std::string::npos) << shown.body;
  EXPECT_NE(shown.body.find("The service proved"), std::string::npos);
  const std::string strong =
      udf::StrongAddress{EmailAddress::parse("alice@example.com"), udf::Fingerprint::parse(fp)}.to_strong_name_form();
  EXPECT_NE(shown.body.find("<li><code>alice@example.com</code><br>strong: <code class=\"strong\">" + strong +
                            "</code><br><svg class=\"qr\""),
            std::string::npos)
      << shown.body;
  for (const std::string& typed : {strong, fp.substr(0, 34) + "?alice@example.com"}) {
    HttpResponse by_strong = call("GET", "/lookup?q=" + typed);
    EXPECT_EQ(by_strong.status, 200) << typed << by_strong.body;
    EXPECT_NE(by_strong.body.find(fp), std::string::npos) << typed;
  }
  const std::string other = udf::StrongAddress{EmailAddress::parse("alice@example.com"),
                                               udf::Fingerprint::parse(fingerprint(mallory()).str())}
                                .to_strong_name_form();
  HttpResponse mismatched = call("GET", "/lookup?q=" + other);
  EXPECT_EQ(mismatched.status, 409) << "a strong address naming another profile";
  EXPECT_NE(mismatched.body.find("Does not match"), std::string::npos);
  EXPECT_EQ(mismatched.body.find("/certificates/"), std::string::npos) << "no certificates of the wrong profile";
  EXPECT_EQ(call("GET", "/lookup?q=alice%40mm--zz.example.com").status, 400) << "a malformed strong address";
  HttpResponse by_fingerprint = call("GET", "/lookup?q=" + fp);
  EXPECT_EQ(by_fingerprint.status, 200);
  EXPECT_NE(by_fingerprint.body.find("<li><code>alice@example.com</code><br>strong: "), std::string::npos);

  std::vector<crypto::Certificate> expected{alice().root};
  auto published = answer<PublishedProfile>(call("GET", account(alice())), 200);
  expected.insert(expected.end(), published.certificates.begin(), published.certificates.end());
  for (const std::string suffix : {".pem", ".p7c"}) {
    HttpResponse file = call("GET", "/certificates/" + fp + suffix);
    ASSERT_EQ(file.status, 200) << suffix;
    EXPECT_EQ(crypto::Certificate::read_all(as_bytes(file.body)), expected) << suffix;
  }
  EXPECT_EQ(call("GET", "/certificates/" + fp + ".p7c").content_type,
            "application/pkcs7-mime; smime-type=certs-only");
  EXPECT_EQ(call("GET", "/certificates/" + fp + ".txt").status, 404);
  EXPECT_EQ(call("GET", "/certificates/UNKNOWN.pem").status, 404);
  EXPECT_EQ(call("GET", "/lookup?q=nobody%40example.org").status, 404);
  EXPECT_EQ(call("GET", "/lookup?q=UNKNOWN").status, 404);
  EXPECT_EQ(call("GET", "/lookup?q=a%40%40b").status, 400);
  EXPECT_EQ(call("GET", "/lookup?q=%0a").status, 400);
  EXPECT_EQ(call("GET", "/lookup").status, 400);
  EXPECT_EQ(call("GET", "/").status, 200);
  EXPECT_EQ(call("GET", "/about").status, 200);
  EXPECT_EQ(call("POST", "/about").status, 405);
  // HEAD is GET without the body (the HTTP server drops the body): the same
  // status and header fields.
  HttpResponse head = call("HEAD", "/lookup?q=alice%40example.com");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_type, shown.content_type);
  EXPECT_EQ(head.headers, shown.headers);
  EXPECT_EQ(call("HEAD", "/verify/" + std::string(64, '0')).status, 404) << "HEAD reaches the verify page's GET";
}

TEST_F(VerifiedServiceTest, ASquatterNeitherBlocksNorWins) {
  test::Person squatter = test::make_person("alice@example.com", true);
  answer<PublishReceipt>(as_root(squatter, "PUT", account(squatter), publication(squatter).to_json()), 200);
  const std::string squatter_token = token_for("alice@example.com");
  answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()), 200);
  const std::string alice_token = token_for("alice@example.com");
  ASSERT_NE(squatter_token, alice_token);
  // The squatter cannot use Alice's token, signed by his own root.
  expect_refused(
      [&] {
        return as_root(squatter, "POST", account(squatter) + "/confirmations", Confirmation{alice_token}.to_json());
      },
      404, "unknown_token");
  auto confirmed = answer<AddressClaim>(
      as_root(alice(), "POST", account(alice()) + "/confirmations", Confirmation{alice_token}.to_json()), 200);
  EXPECT_EQ(confirmed.state, kClaimVerified);
  EXPECT_EQ(answer<PublishedProfile>(call("GET", "/v1/addresses/alice%40example.com"), 200).fingerprint,
            fingerprint(alice()));
  EXPECT_EQ(call("POST", "/verify/" + squatter_token).status, 404) << "the squatter's claim was dropped";
  expect_refused(
      [&] {
        return as_root(alice(), "POST", account(alice()) + "/confirmations", Confirmation{alice_token}.to_json());
      },
      409, "confirmed_already");
}

// The publication commits before its challenge mail is sent (the outbox):
// a relay that fails leaves the claim pending, not served, the failure
// recorded without the message (the token), and the next publication mails
// a new link.
TEST_F(VerifiedServiceTest, AFailedMailLeavesTheClaimPendingAndTheNextPublicationMailsAgain) {
  mail_fails_ = true;
  auto receipt = answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()), 200);
  ASSERT_EQ(receipt.claims.size(), 1u);
  EXPECT_EQ(receipt.claims[0].state, kClaimMailFailed);
  auto stored = snapshot(database_);
  ASSERT_EQ(stored["outbox"].size(), 1u);
  EXPECT_NE(stored["outbox"][0].find("|failed|the relay is down|"), std::string::npos) << stored["outbox"][0];
  EXPECT_EQ(stored["outbox"][0].find("verify/"), std::string::npos) << "the unsent message (its token) is dropped";
  ASSERT_EQ(stored["claims"].size(), 1u);
  EXPECT_NE(stored["claims"][0].find("|pending|"), std::string::npos);
  expect_refused([&] { return call("GET", "/v1/addresses/alice%40example.com"); }, 404, "unknown_address");

  mail_fails_ = false;
  receipt = answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()), 200);
  ASSERT_EQ(receipt.claims.size(), 1u);
  EXPECT_EQ(receipt.claims[0].state, kClaimPending);
  ASSERT_EQ(mails_.size(), 1u) << "the next publication mailed a new link";
  EXPECT_TRUE(snapshot(database_)["outbox"].empty()) << "a sent mail leaves nothing in the outbox, nor the failure";
  EXPECT_EQ(call("POST", "/verify/" + token_for("alice@example.com")).status, 200);
  EXPECT_EQ(answer<PublishedProfile>(call("GET", "/v1/addresses/alice%40example.com"), 200).fingerprint,
            fingerprint(alice()));
}

// RFC 8162 section 3 names the records by the local part's SHA2-256 digest
// truncated to 28 octets; RFC 7929 section 5.1 names OPENPGPKEY records the
// same way and gives hugh@example.com's as an example.
TEST(ServiceSmimea, TheOwnerIsTheLocalPartsTruncatedDigestUnderSmimecert) {
  EXPECT_EQ(smimea_owner("hugh", "example.com"),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._smimecert.example.com.");
  EXPECT_EQ(smimea_owner("hugh", "Example.COM"), smimea_owner("hugh", "example.com"));
}

TEST_F(VerifiedServiceTest, SmimeaRecordsAreTheMailCertificatesOfVerifiedAddressesOnly) {
  publish(alice());
  EXPECT_TRUE(smimea_records(database_.string(), "example.com").empty()) << "a pending address is not exported";
  ASSERT_EQ(call("POST", "/verify/" + token_for("alice@example.com")).status, 200);
  const test::Person bob = test::make_person("bob@example.com", true);
  publish(bob);  // never confirmed
  std::vector<SmimeaRecord> records = smimea_records(database_.string(), "EXAMPLE.com");
  ASSERT_EQ(records.size(), 2u) << "Alice's signing and encryption certificates, not Bob's";
  std::vector<Bytes> certificates;
  for (const auto& record : records) {
    EXPECT_EQ(record.address, "alice@example.com");
    EXPECT_EQ(record.owner, smimea_owner("alice", "example.com"));
    certificates.push_back(record.certificate);
  }
  std::vector<Bytes> expected{alice().signing.der(), alice().encryption.der()};
  std::sort(certificates.begin(), certificates.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(certificates, expected);
  EXPECT_EQ(smimea_zone_line(records[0], std::chrono::seconds(3600)),
            records[0].owner + " 3600 IN SMIMEA 3 0 0 " + to_hex(records[0].certificate));
  EXPECT_TRUE(smimea_records(database_.string(), "example.org").empty()) << "another domain";
  for (const char* bad : {"", "example..com", "-example.com", "exa mple.com", "example.com.;x"})
    EXPECT_THROW(smimea_records(database_.string(), bad), Error) << bad;
}

TEST_F(VerifiedServiceTest, ExpiredLinksChangeNothing) {
  publish(alice());
  const std::string token = token_for("alice@example.com");
  clock_ = kNow + kDefaultTokenLifetime;
  auto before = snapshot(database_);
  EXPECT_EQ(call("POST", "/verify/" + token).status, 410);
  EXPECT_EQ(call("GET", "/verify/" + token).status, 410);
  EXPECT_EQ(snapshot(database_), before);
  expect_refused(
      [&] { return as_root(alice(), "POST", account(alice()) + "/confirmations", Confirmation{token}.to_json()); }, 410,
      "expired");
  // A publication now sends a new link; the old one is forgotten.
  publish(alice());
  EXPECT_EQ(mails_.size(), 2u);
  EXPECT_EQ(call("GET", "/verify/" + token).status, 404);
  EXPECT_EQ(call("POST", "/verify/" + token_for("alice@example.com")).status, 200);
}

TEST_F(VerifiedServiceTest, AnOwnerWithdrawsAnAddress) {
  publish(alice());
  ASSERT_EQ(call("POST", "/verify/" + token_for("alice@example.com")).status, 200);
  const std::string target = account(alice()) + "/addresses/alice%40example.com";
  expect_refused([&] { return call("DELETE", target); }, 401, "unauthenticated");
  expect_refused([&] { return call("DELETE", target, "", &mallory().root_key); }, 401, "bad_signature");
  auto withdrawn = answer<AddressClaim>(as_root(alice(), "DELETE", target), 200);
  EXPECT_EQ(withdrawn.state, kClaimWithdrawn);
  expect_refused([&] { return call("GET", "/v1/addresses/alice%40example.com"); }, 404, "unknown_address");
  expect_refused([&] { return as_root(alice(), "DELETE", target); }, 404, "unknown_claim");
}

TEST_F(ServiceApiTest, AVersionOneDatabaseIsUpgradedAndItsAddressesStayListed) {
  publish(alice());
  api_.reset();
  {
    // Back to schema 1 by hand: the address index that claims replaced.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(database_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> connection(raw, &sqlite3_close);
    ASSERT_EQ(sqlite3_exec(raw,
                           "CREATE TABLE addresses (address TEXT PRIMARY KEY, account TEXT NOT NULL "
                           "REFERENCES accounts (fingerprint) ON DELETE CASCADE);"
                           "INSERT INTO addresses SELECT address, account FROM claims; DROP TABLE claims;"
                           "DROP INDEX requests_by_time; ALTER TABLE requests DROP COLUMN pin_bound;"
                           "DROP TABLE outbox; ALTER TABLE accounts DROP COLUMN generation;"
                           "DROP TABLE trust_records; PRAGMA user_version = 1;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  api_.emplace(database_);
  auto found = answer<PublishedProfile>(call("GET", "/v1/addresses/alice%40example.com"), 200);
  EXPECT_EQ(found.fingerprint, fingerprint(alice()));
  EXPECT_EQ(found.verified, false) << "listed before verification existed: served, not verified";
  api_.reset();
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(database_.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> connection(raw, &sqlite3_close);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99;", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  EXPECT_THROW(api_.emplace(database_), Error) << "a newer database is refused, not damaged";
}

// Lookups answer from a memo of rendered profiles (api.cc): a second Api on
// the same database (another `serve --reuse-port` process) must answer what
// the first one stored just now, even within the same second.
TEST_F(ServiceApiTest, ALookupAnswersWhatIsStoredNowWhicheverProcessStoredIt) {
  publish(alice());
  Api other(database_);
  auto lookup = [&](Api& api, const std::string& target) {
    return read<PublishedProfile>(api.handle({"GET", target, "", "", "", client_}, clock_).body, "the answer");
  };
  const std::string by_address = "/v1/addresses/alice%40example.com";
  ASSERT_EQ(lookup(other, by_address).certificates.size(), 2u);
  ASSERT_EQ(lookup(other, account(alice())).certificates.size(), 2u);
  Publication fewer = publication(alice());
  fewer.certificates.pop_back();
  ASSERT_EQ(as_root(alice(), "PUT", account(alice()), fewer.to_json()).status, 200);  // the same second
  EXPECT_EQ(lookup(other, by_address).certificates.size(), 1u);
  EXPECT_EQ(lookup(other, account(alice())).certificates.size(), 1u);
  EXPECT_TRUE(lookup(other, by_address).verified.has_value()) << "by address: says whether verified";
  EXPECT_FALSE(lookup(other, account(alice())).verified.has_value()) << "by fingerprint: does not";
  clock_ += std::chrono::seconds(5);
  publish(alice());
  auto republished = lookup(other, by_address);
  EXPECT_EQ(republished.certificates.size(), 2u);
  EXPECT_EQ(republished.updated_at, clock_) << "the new publication's time, not the memoized one";
}

TEST_F(ServiceApiTest, HealthAndUnknownPaths) {
  EXPECT_EQ(answer<Health>(call("GET", "/v1/health"), 200).status, "ok");
  expect_refused([&] { return call("GET", "/v1/nothing"); }, 404, "not_found");
  expect_refused([&] { return call("DELETE", "/v1/health"); }, 405, "method_not_allowed");
  HttpResponse refused = call("POST", "/v1/accounts/X");
  ASSERT_EQ(refused.status, 405);
  EXPECT_EQ(refused.headers, (std::vector<std::pair<std::string, std::string>>{{"Allow", "GET, HEAD, PUT"}}))
      << "a 405 says which methods the path takes (RFC 9110 section 15.5.6)";
  EXPECT_EQ(answer<Health>(call("HEAD", "/v1/health"), 200).status, "ok") << "HEAD answers as GET";
  expect_refused([&] { return call("GET", "/v1/addresses/a%00b"); }, 400, "bad_path");
  expect_refused([&] { return call("GET", "/v1/addresses/%4"); }, 400, "bad_path");
  expect_refused([&] { return call("GET", "relative"); }, 400, "bad_path");
}

TEST_F(ServiceApiTest, APublishedProfileIsFoundByAddressAndFingerprint) {
  TestDevice phone;
  Publication sent = publication(alice(), {phone.entry(alice())});
  sent.escrow = EscrowReference{"escrow-1", {1, 2, 3}};
  auto receipt = answer<PublishReceipt>(as_root(alice(), "PUT", account(alice()), sent.to_json()), 200);
  EXPECT_EQ(receipt.fingerprint, fingerprint(alice()));
  EXPECT_EQ(receipt.addresses, std::vector<std::string>{"alice@example.com"});
  EXPECT_EQ(receipt.updated_at, kNow);
  auto stored = snapshot(database_);
  EXPECT_EQ(stored["accounts"].size(), 1u) << "the snapshot that refusals are compared with sees what is stored";
  EXPECT_EQ(stored["devices"].size(), 1u);

  for (const std::string& target : {std::string("/v1/addresses/alice%40example.com"), account(alice())}) {
    auto found = answer<PublishedProfile>(call("GET", target), 200);
    EXPECT_EQ(found.fingerprint, fingerprint(alice())) << target;
    EXPECT_EQ(found.root, alice().root);
    ASSERT_EQ(found.certificates.size(), 2u);
    EXPECT_EQ(found.certificates[1], alice().encryption);
    ASSERT_EQ(found.devices.size(), 1u);
    EXPECT_EQ(found.devices[0].device_id, phone.id);
    EXPECT_EQ(found.updated_at, kNow);
  }
  auto escrow = answer<EscrowAnswer>(call("GET", "/v1/escrow/escrow-1"), 200);
  EXPECT_EQ(escrow.fingerprint, fingerprint(alice()));
  EXPECT_EQ(escrow.escrow, (Bytes{1, 2, 3}));

  expect_refused([&] { return call("GET", "/v1/addresses/nobody%40example.org"); }, 404, "unknown_address");
  expect_refused([&] { return call("GET", "/v1/addresses/not-an-address"); }, 400, "bad_address");
  expect_refused([&] { return call("GET", "/v1/accounts/UNKNOWN"); }, 404, "unknown_account");
  expect_refused([&] { return call("GET", "/v1/escrow/nothing"); }, 404, "no_escrow");
}

TEST_F(ServiceApiTest, PublishingRefusesWhatDoesNotHoldTogether) {
  publish(alice());
  const std::string body = publication(alice()).to_json();
  auto put = [&](const std::string& text, const crypto::PrivateKey* key = &alice().root_key,
                 std::string_view key_id = kRootKey, std::optional<TimePoint> at = std::nullopt) {
    return [=, this] { return call("PUT", account(alice()), text, key, key_id, at); };
  };
  expect_refused(put(body, nullptr), 401, "unauthenticated");
  expect_refused(put(body, &mallory().root_key), 401, "bad_signature");
  expect_refused(put(body, &alice().root_key, kJoiningDeviceKey), 401, "wrong_key");
  expect_refused(put(body, &alice().root_key, kRootKey, kNow - 2 * kMaxClockSkew), 401, "expired");
  expect_refused(put("{not json"), 400, "bad_json");
  expect_refused(put("[1, 2]"), 400, "bad_json");
  expect_refused(put(std::string(100, '[') + std::string(100, ']')), 400, "bad_json");
  expect_refused(put("{}"), 400, "missing_field");
  expect_refused(put(R"({"root": 5})"), 400, "bad_field");
  expect_refused(put(R"({"root": "AAAA"})"), 400, "bad_certificate");
  expect_refused([&] { return call("PUT", account(mallory()), body, &alice().root_key); }, 400, "bad_root");
  // A certificate, device or revocation that is not the root's.
  expect_refused(put(Publication{alice().root, {mallory().signing}, "", {}, {}, std::nullopt}.to_json()), 400,
                 "bad_certificate");
  TestDevice phone;
  expect_refused(put(publication(alice(), {phone.entry(mallory())}).to_json()), 400, "bad_device");
  DeviceEntry misnamed = phone.entry(alice());
  misnamed.device_id = DeviceId("AAAA-BBBB");
  expect_refused(put(publication(alice(), {misnamed}).to_json()), 400, "bad_device");
  expect_refused(put(publication(alice(), {phone.entry(alice()), phone.entry(alice())}).to_json()), 400, "bad_device");
  expect_refused(put(publication(alice(), {phone.entry(alice(), "lost")}).to_json()), 400, "bad_device");
  Publication revoked = publication(alice());
  revoked.revocations = {Bytes{1, 2, 3}};
  expect_refused(put(revoked.to_json()), 400, "bad_revocation");
  // Another profile cannot claim the address, nor its escrow id.
  test::Person impostor = test::make_person("alice@example.com", true);
  expect_refused([&] { return as_root(impostor, "PUT", account(impostor), publication(impostor).to_json()); }, 409,
                 "address_taken");
  Publication with_escrow = publication(alice());
  with_escrow.escrow = EscrowReference{"alice-escrow", {9}};
  publish(alice());
  ASSERT_EQ(as_root(alice(), "PUT", account(alice()), with_escrow.to_json()).status, 200);
  Publication stealing = publication(mallory());
  stealing.escrow = EscrowReference{"alice-escrow", {6}};
  expect_refused([&] { return as_root(mallory(), "PUT", account(mallory()), stealing.to_json()); }, 409, "bad_escrow");
}

TEST_F(ServiceApiTest, ARootIsReplacedOnlyByItsRenewalAndARequestCannotBeReplayed) {
  publish(alice());
  const std::string body = publication(alice()).to_json();
  HttpRequest request{"PUT", account(alice()), "application/json",
                      authorize(alice().root_key, kRootKey, "PUT", account(alice()), as_bytes(body), kNow), body, ""};
  ASSERT_EQ(api_->handle(request, kNow).status, 200);
  expect_refused([&] { return api_->handle(request, kNow); }, 401, "replayed");

  // The same key in a new self-signed certificate: the fingerprint matches, the root does not.
  auto reissued = [&](const std::string& name, TimePoint not_after) {
    return crypto::issue_certificate({.role = crypto::CertificateRole::ProfileRoot,
                                      .common_name = name,
                                      .permitted_addresses = {alice().address},
                                      .not_before = std::min(kNow, not_after - std::chrono::hours(1)),
                                      .not_after = not_after},
                                     alice().root_key.public_key(), alice().root_key, nullptr);
  };
  auto put_root = [&](const crypto::Certificate& root) {
    Publication replaced{root, {}, "", {}, {}, std::nullopt};
    return as_root(alice(), "PUT", account(alice()), replaced.to_json());
  };
  const TimePoint published_end = alice().root.not_after();
  expect_refused([&] { return put_root(reissued("Alice again", published_end + std::chrono::hours(24))); }, 409,
                 "root_changed");
  const std::string name = alice().root.common_name();
  expect_refused([&] { return put_root(reissued(name, published_end - std::chrono::hours(1))); }, 409, "root_outdated");
  // A renewal: the same key and name, lasting longer. It is served from then on.
  crypto::Certificate renewed = reissued(name, published_end + std::chrono::hours(24 * 365));
  ASSERT_EQ(put_root(renewed).status, 200);
  EXPECT_EQ(answer<PublishedProfile>(call("GET", account(alice())), 200).root, renewed);
  expect_refused([&] { return put_root(alice().root); }, 409, "root_outdated");
}

TEST_F(ServiceApiTest, ADeviceJoinsAndIsAcceptedWithItsCertificates) {
  publish(alice());
  TestDevice phone;
  auto join = [&](const JoinRequest& request) {
    return call("POST", account(alice()) + "/requests", request.to_json(), &phone.signature_key, kJoiningDeviceKey);
  };
  auto receipt = answer<JoinReceipt>(join(phone.join_request()), 201);
  EXPECT_EQ(receipt.service_nonce.size(), kNonceHexDigits);

  auto pending = answer<PendingRequests>(as_root(alice(), "GET", account(alice()) + "/requests"), 200);
  ASSERT_EQ(pending.requests.size(), 1u);
  EXPECT_EQ(pending.requests[0].request_id, receipt.request_id);
  EXPECT_EQ(pending.requests[0].service_nonce, receipt.service_nonce);
  EXPECT_EQ(pending.requests[0].request.signature_key, phone.join_request().signature_key);
  EXPECT_EQ(pending.requests[0].created_at, kNow);

  const std::string status_path = "/v1/requests/" + receipt.request_id.str();
  auto waiting = answer<RequestStatus>(call("GET", status_path, "", &phone.signature_key, kJoiningDeviceKey), 200);
  EXPECT_EQ(waiting.state, RequestState::Pending);
  EXPECT_FALSE(waiting.accepted);

  const std::string decide_path = account(alice()) + "/requests/" + receipt.request_id.str();
  TestDevice other;
  auto others = other.certificates(alice());
  expect_refused(
      [&] {
        return as_root(alice(), "POST", decide_path,
                       Decision{Acceptance{{7}, others.signature, others.agreement}}.to_json());
      },
      400, "bad_certificate");
  auto issued = phone.certificates(alice());
  auto decided = answer<DecisionReceipt>(
      as_root(alice(), "POST", decide_path, Decision{Acceptance{{7, 8}, issued.signature, issued.agreement}}.to_json()),
      200);
  EXPECT_EQ(decided.state, RequestState::Accepted);
  expect_refused([&] { return as_root(alice(), "POST", decide_path, Decision{}.to_json()); }, 409, "decided");

  auto accepted = answer<RequestStatus>(call("GET", status_path, "", &phone.signature_key, kJoiningDeviceKey), 200);
  ASSERT_EQ(accepted.state, RequestState::Accepted);
  ASSERT_TRUE(accepted.accepted);
  EXPECT_EQ(accepted.accepted->bundle, (Bytes{7, 8}));
  EXPECT_EQ(accepted.accepted->signature_certificate, issued.signature);
  EXPECT_TRUE(answer<PendingRequests>(as_root(alice(), "GET", account(alice()) + "/requests"), 200).requests.empty());

  // Only the requesting device reads its status.
  expect_refused([&] { return call("GET", status_path, "", &other.signature_key, kJoiningDeviceKey); }, 401,
                 "bad_signature");
  expect_refused([&] { return call("GET", "/v1/requests/0123", "", &phone.signature_key, kJoiningDeviceKey); }, 404,
                 "unknown_request");
  expect_refused([&] { return as_root(alice(), "POST", account(alice()) + "/requests/0123", Decision{}.to_json()); },
                 404, "unknown_request");
}

// More requests at once than the pool has SQLite connections (4), each
// writing (join requests, publications) or reading: the writers take turns
// (sql::WriteTurns) while requests wait for a connection, and a writer
// holding a turn never waits for another connection, so all are answered;
// none fails on a locked database.
TEST_F(ServiceApiTest, MoreWritersAtOnceThanPooledConnectionsAreAllAnswered) {
  publish(alice());
  constexpr int kThreads = 8;
  std::vector<TestDevice> devices(2 * kThreads);
  std::vector<std::vector<int>> statuses(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 2; ++n) {
        const TestDevice& device = devices[static_cast<std::size_t>(2 * t + n)];
        statuses[t].push_back(call("POST", account(alice()) + "/requests", device.join_request().to_json(),
                                   &device.signature_key, kJoiningDeviceKey)
                                  .status);
        statuses[t].push_back(
            as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()).status);
        statuses[t].push_back(call("GET", "/v1/addresses/alice%40example.com").status);
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(statuses[t], (std::vector<int>{201, 200, 200, 201, 200, 200})) << "thread " << t;
  auto pending = answer<PendingRequests>(as_root(alice(), "GET", account(alice()) + "/requests"), 200);
  EXPECT_EQ(pending.requests.size(), devices.size());
}

TEST_F(ServiceApiTest, ARejectedRequestSaysSo) {
  publish(alice());
  TestDevice phone;
  auto receipt = answer<JoinReceipt>(call("POST", account(alice()) + "/requests", phone.join_request().to_json(),
                                          &phone.signature_key, kJoiningDeviceKey),
                                     201);
  auto decided = answer<DecisionReceipt>(
      as_root(alice(), "POST", account(alice()) + "/requests/" + receipt.request_id.str(), Decision{}.to_json()), 200);
  EXPECT_EQ(decided.state, RequestState::Rejected);
  auto status = answer<RequestStatus>(
      call("GET", "/v1/requests/" + receipt.request_id.str(), "", &phone.signature_key, kJoiningDeviceKey), 200);
  EXPECT_EQ(status.state, RequestState::Rejected);
  EXPECT_FALSE(status.accepted);
}

TEST_F(ServiceApiTest, JoinRequestsAreRefusedWhenMalformedOrUnsigned) {
  publish(alice());
  TestDevice phone;
  const std::string path = account(alice()) + "/requests";
  auto post = [&](const std::string& body, const crypto::PrivateKey* key) {
    return [=, this] { return call("POST", path, body, key, kJoiningDeviceKey); };
  };
  expect_refused(post(phone.join_request().to_json(), nullptr), 401, "unauthenticated");
  TestDevice stranger;
  expect_refused(post(phone.join_request().to_json(), &stranger.signature_key), 401, "bad_signature");
  JoinRequest garbage = phone.join_request();
  garbage.signature_key = {1, 2, 3};
  expect_refused(post(garbage.to_json(), &phone.signature_key), 400, "bad_key");
  expect_refused(post(R"({"device_name": "phone"})", &phone.signature_key), 400, "missing_field");
  JoinRequest nameless = phone.join_request();
  nameless.device_name = "";
  expect_refused(post(nameless.to_json(), &phone.signature_key), 400, "bad_field");
  JoinRequest half_pin = phone.join_request();
  half_pin.pin_id = "PIN";
  expect_refused(post(half_pin.to_json(), &phone.signature_key), 400, "bad_field");
  expect_refused(
      [&] {
        return call("POST", account(mallory()) + "/requests", phone.join_request().to_json(), &phone.signature_key,
                    kJoiningDeviceKey);
      },
      404, "unknown_account");
}

TEST_F(ServiceApiTest, AnInvitationIsUsedOnceAndExpiresWithinAWeek) {
  publish(alice());
  const std::string invites = account(alice()) + "/invites";
  auto invite = [&](const Invitation& invitation) { return as_root(alice(), "POST", invites, invitation.to_json()); };
  auto made = answer<Invitation>(invite({"PIN-1", kNow + 10min}), 201);
  EXPECT_EQ(made.pin_id, "PIN-1");
  expect_refused([&] { return invite({"PIN-1", kNow + 10min}); }, 409, "duplicate");
  expect_refused([&] { return invite({"PIN-2", kNow}); }, 400, "bad_field");
  expect_refused([&] { return invite({"PIN-2", kNow + kMaxInvitationLifetime + 1s}); }, 400, "bad_field");
  ASSERT_EQ(invite({"PIN-3", kNow + kMaxInvitationLifetime}).status, 201) << "a week is allowed";
  expect_refused(
      [&] {
        return call("POST", invites, Invitation{"PIN-4", kNow + 1min}.to_json());
      },
      401, "unauthenticated");

  TestDevice phone, laptop;
  auto receipt = answer<JoinReceipt>(join_with_pin(phone, "PIN-1"), 201);
  auto pending = answer<PendingRequests>(as_root(alice(), "GET", account(alice()) + "/requests"), 200);
  ASSERT_EQ(pending.requests.size(), 1u);
  EXPECT_EQ(pending.requests[0].request.pin_id, "PIN-1");
  EXPECT_EQ(pending.requests[0].request.pin_mac, "MAC");
  expect_refused([&] { return join_with_pin(laptop, "PIN-1"); }, 403, "pin_used");
  expect_refused([&] { return join_with_pin(laptop, "PIN-UNKNOWN"); }, 403, "bad_pin");
}

TEST_F(ServiceApiTest, ARequestIsTakenOnlyWithinTheClockSkewOfTheService) {
  publish(alice());
  const std::string path = account(alice()) + "/requests";
  auto signed_at = [&](TimePoint at) {
    return [=, this] { return call("GET", path, "", &alice().root_key, kRootKey, at); };
  };
  EXPECT_EQ(signed_at(kNow - kMaxClockSkew)().status, 200) << "a client five minutes behind";
  EXPECT_EQ(signed_at(kNow + kMaxClockSkew)().status, 200) << "a client five minutes ahead";
  expect_refused(signed_at(kNow - kMaxClockSkew - 1s), 401, "expired");
  expect_refused(signed_at(kNow + kMaxClockSkew + 1s), 401, "expired");
  // The service's clock moves on: what was signed at kNow is too old then.
  clock_ = kNow + kMaxClockSkew + 1s;
  expect_refused(signed_at(kNow), 401, "expired");
  EXPECT_EQ(signed_at(clock_)().status, 200);
}

TEST_F(ServiceApiTest, AnInvitationExpiresByTheServicesClock) {
  publish(alice());
  const std::string invites = account(alice()) + "/invites";
  for (const char* pin : {"PIN-1", "PIN-2"})
    ASSERT_EQ(as_root(alice(), "POST", invites, Invitation{pin, kNow + 10min}.to_json()).status, 201);
  TestDevice phone, laptop;
  clock_ = kNow + 10min - 1s;
  EXPECT_EQ(join_with_pin(phone, "PIN-1").status, 201) << "the last second of the invitation";
  clock_ = kNow + 10min;
  expect_refused([&] { return join_with_pin(laptop, "PIN-2"); }, 403, "pin_expired");
  // New invitations are judged by the same clock: one that expires now is refused.
  EXPECT_EQ(as_root(alice(), "POST", invites, Invitation{"PIN-3", clock_ + 10min}.to_json()).status, 201);
  expect_refused(
      [&] {
        return as_root(alice(), "POST", invites, Invitation{"PIN-4", clock_}.to_json());
      },
      400, "bad_field");
}

TEST_F(ServiceApiTest, BundlesReachActiveDevicesOnly) {
  TestDevice phone;
  publish(alice(), {phone.entry(alice())});
  const std::string path = account(alice()) + "/devices/" + phone.id.str() + "/bundle";
  auto fetch = [&] { return call("GET", path, "", &phone.signature_key, phone.id.str()); };
  expect_refused(fetch, 404, "no_bundle");
  auto put = answer<BundleReceipt>(as_root(alice(), "PUT", path, BundleEnvelope{{4, 5}}.to_json()), 200);
  EXPECT_EQ(put.device_id, phone.id);
  EXPECT_EQ(answer<DeviceBundle>(fetch(), 200).bundle, (Bytes{4, 5}));
  expect_refused([&] { return call("GET", path, "", &phone.signature_key, kRootKey); }, 401, "wrong_key");
  TestDevice stranger;
  expect_refused([&] { return call("GET", path, "", &stranger.signature_key, phone.id.str()); }, 401, "bad_signature");
  expect_refused([&] { return as_root(alice(), "PUT", path, R"({"bundle": 5})"); }, 400, "bad_field");
  const std::string unknown = account(alice()) + "/devices/NOBODY/bundle";
  expect_refused([&] { return as_root(alice(), "PUT", unknown, BundleEnvelope{{1}}.to_json()); }, 404,
                 "unknown_device");

  publish(alice(), {phone.entry(alice(), "removed")});
  expect_refused(fetch, 403, kDeviceRemovedCode);
  expect_refused([&] { return as_root(alice(), "PUT", path, BundleEnvelope{{6}}.to_json()); }, 409, kDeviceRemovedCode);
}

TEST_F(ServiceApiTest, TheAnswersReadBackThroughTheClientsDocuments) {
  // What the service writes is exactly what its clients read: a round trip
  // through every document keeps every field.
  TestDevice phone;
  publish(alice(), {phone.entry(alice())});
  auto profile = answer<PublishedProfile>(call("GET", account(alice())), 200);
  auto again = read<PublishedProfile>(profile.to_json(), "the written profile");
  EXPECT_EQ(again.to_json(), profile.to_json());
}

TEST(ServeOptions, AServiceOthersReachVerifiesUnlessToldNotTo) {
  auto refused = [](ServeSettings settings, std::string_view why) {
    try {
      (void)serve_options(settings);
      ADD_FAILURE() << "accepted; expected: " << why;
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Usage) << error.what();
      EXPECT_NE(std::string(error.what()).find(why), std::string::npos) << error.what();
    }
  };
  ServeSettings loopback;
  loopback.listen = "127.0.0.1:0";
  EXPECT_FALSE(serve_options(loopback).smtp.has_value()) << "loopback without --smtp: unverified";
  ServeSettings open = loopback;
  open.listen = "0.0.0.0:443";
  refused(open, "must verify addresses");
  open.unverified = true;
  EXPECT_FALSE(serve_options(open).smtp.has_value()) << "--unverified, explicitly";
  ServeSettings verified = open;
  verified.unverified = false;
  verified.smtp = "smtp.example.org:587";
  verified.smtp_tls = "starttls";
  verified.public_url = "https://keys.example.org";
  verified.claim_hours = 10;
  verified.token_hours = 2;
  ServeOptions options = serve_options(verified);
  ASSERT_TRUE(options.smtp.has_value());
  EXPECT_EQ(options.smtp->host, "smtp.example.org");
  EXPECT_EQ(options.smtp->tls, smtp::RelayTls::StartTls);
  EXPECT_EQ(options.lifetimes.claim, 10h);
  EXPECT_EQ(options.lifetimes.token, 2h);
  ServeSettings no_url = verified;
  no_url.public_url.clear();
  refused(no_url, "give --public-url");  // the links would say http://0.0.0.0:443
  no_url.listen = "[::]:443";
  refused(no_url, "give --public-url");
  ServeSettings both = verified;
  both.unverified = true;
  refused(both, "give one of them");
  ServeSettings stray = loopback;
  stray.public_url = "https://keys.example.org";
  refused(stray, "need --smtp");
  ServeSettings bad_url = verified;
  bad_url.public_url = "javascript:alert(1)";
  refused(bad_url, "--public-url");
  ServeSettings longer_link = verified;
  longer_link.token_hours = 11;
  refused(longer_link, "no longer than its claim");
  ServeSettings clear_password = verified;
  clear_password.smtp_tls = "none";
  clear_password.smtp_user = "keys";
  clear_password.smtp_password_file = "/nonexistent";
  refused(clear_password, "in clear");
  ServeSettings bad_from = verified;
  bad_from.mail_from = "not an address";
  refused(bad_from, "--mail-from");
}

// --- Abuse (docs/service.md): limits, quotas, the join queue ----------------

TEST_F(VerifiedServiceTest, ChallengeMailsToOneAddressAreLimited) {
  api_.reset();
  ServiceSettings settings{Verification::Mail, "https://keys.test/", "keys@keys.test", {}, {}, {}, {}};
  settings.send_mail = [this](const OutgoingMail& mail) { mails_.push_back(mail); };
  settings.rates.address_mails = {2, std::chrono::hours(24)};
  api_.emplace(database_, settings);
  // Throwaway profiles that all claim Alice's address: each would mail her.
  std::vector<test::Person> squatters;
  for (int i = 0; i < 3; ++i)
    squatters.push_back(test::make_person("alice@example.com", true));
  publish(squatters[0]);
  publish(squatters[1]);
  EXPECT_EQ(mails_.size(), 2u);
  expect_refused([&] { return as_root(squatters[2], "PUT", account(squatters[2]), publication(squatters[2]).to_json()); },
                 429, "rate_limited");
  EXPECT_EQ(mails_.size(), 2u) << "no third mail to the same address";
  HttpResponse refused =
      as_root(squatters[2], "PUT", account(squatters[2]), publication(squatters[2]).to_json());
  ASSERT_EQ(refused.status, 429);
  ASSERT_EQ(refused.headers.size(), 1u);
  EXPECT_EQ(refused.headers[0].first, "Retry-After");
  EXPECT_EQ(refused.headers[0].second, std::to_string(12 * 3600));
  clock_ += 12h;
  publish(squatters[2]);
  EXPECT_EQ(mails_.size(), 3u);
}

class AbuseTest : public ServiceApiTest {
 protected:
  void with(const std::function<void(ServiceSettings&)>& change) {
    api_.reset();
    ServiceSettings settings;
    change(settings);
    api_.emplace(database_, settings);
  }
  HttpResponse stranger_joins(const TestDevice& device) {
    return call("POST", account(alice()) + "/requests", device.join_request().to_json(), &device.signature_key,
                kJoiningDeviceKey);
  }
  PendingRequests pending() {
    return answer<PendingRequests>(as_root(alice(), "GET", account(alice()) + "/requests"), 200);
  }
  RequestState state_of(const TestDevice& device, const RequestId& id) {
    return answer<RequestStatus>(call("GET", "/v1/requests/" + id.str(), "", &device.signature_key, kJoiningDeviceKey),
                                 200)
        .state;
  }
  static std::string retry_after(const HttpResponse& response) {
    for (const auto& [name, value] : response.headers) {
      if (name == "Retry-After")
        return value;
    }
    return "";
  }
};

TEST_F(AbuseTest, StrangersFillOnlyTheirOwnLaneAndTheOldestGo) {
  with([](ServiceSettings& settings) {
    settings.quotas.waiting_joins = 4;
    settings.rates.joins = {0, 1s};  // unlimited: a botnet of addresses
  });
  publish(alice());
  ASSERT_EQ(as_root(alice(), "POST", account(alice()) + "/invites", Invitation{"PIN-1", kNow + 10min}.to_json()).status,
            201);
  std::vector<TestDevice> strangers(10);
  std::vector<RequestId> ids;
  for (const auto& stranger : strangers) {
    ids.push_back(answer<JoinReceipt>(stranger_joins(stranger), 201).request_id);
    clock_ += 1s;
  }
  EXPECT_EQ(pending().requests.size(), 4u) << "four wait; the oldest six were evicted";
  EXPECT_EQ(state_of(strangers[0], ids[0]), RequestState::Rejected);
  EXPECT_EQ(state_of(strangers[9], ids[9]), RequestState::Pending);

  TestDevice own;
  auto mine = answer<JoinReceipt>(join_with_pin(own, "PIN-1"), 201);
  for (int i = 0; i < 20; ++i)
    answer<JoinReceipt>(stranger_joins(TestDevice()), 201);
  auto waiting = pending().requests;
  EXPECT_EQ(waiting.size(), 5u);
  EXPECT_EQ(std::count_if(waiting.begin(), waiting.end(), [&](const PendingRequest& r) { return r.request_id == mine.request_id; }),
            1)
      << "the request with the PIN is never evicted by strangers";
}

TEST_F(AbuseTest, JoinsWithoutAPinAreRateLimitedPerProfileButThePinLaneIsNot) {
  with([](ServiceSettings& settings) { settings.rates.joins = {3, 600s}; });
  publish(alice());
  ASSERT_EQ(as_root(alice(), "POST", account(alice()) + "/invites", Invitation{"PIN-1", kNow + 30min}.to_json()).status,
            201);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(stranger_joins(TestDevice()).status, 201) << i;
  expect_refused([&] { return stranger_joins(TestDevice()); }, 429, "rate_limited");
  EXPECT_EQ(retry_after(stranger_joins(TestDevice())), "200");
  // Wrong PINs count as joins without one; the right PIN gets in anyway.
  expect_refused([&] { return join_with_pin(TestDevice(), "PIN-WRONG"); }, 403, "bad_pin");
  TestDevice own;
  EXPECT_EQ(join_with_pin(own, "PIN-1").status, 201) << "the owner's PIN join is not limited by strangers";
  clock_ += 200s;  // the wrong PIN's token is still owed
  EXPECT_EQ(stranger_joins(TestDevice()).status, 429);
  clock_ += 200s;
  EXPECT_EQ(stranger_joins(TestDevice()).status, 201) << "tokens come back with time";
}

TEST_F(AbuseTest, PendingRequestsExpireAndTheOwnerRejectsThemAllAtOnce) {
  publish(alice());
  TestDevice early;
  auto old_id = answer<JoinReceipt>(stranger_joins(early), 201).request_id;
  clock_ += 3600s;  // an hour: the default lifetime
  EXPECT_TRUE(pending().requests.empty()) << "an hour-old request is gone";
  EXPECT_EQ(state_of(early, old_id), RequestState::Rejected);
  for (int i = 0; i < 3; ++i)
    answer<JoinReceipt>(stranger_joins(TestDevice()), 201);
  ASSERT_EQ(pending().requests.size(), 3u);
  expect_refused([&] { return call("DELETE", account(alice()) + "/requests"); }, 401, "unauthenticated");
  auto rejected = answer<Rejections>(as_root(alice(), "DELETE", account(alice()) + "/requests"), 200);
  EXPECT_EQ(rejected.rejected.size(), 3u);
  EXPECT_TRUE(pending().requests.empty());
  EXPECT_TRUE(answer<Rejections>(as_root(alice(), "DELETE", account(alice()) + "/requests"), 200).rejected.empty());
}

// Rejected and expired join requests are kept rejected_retention (their
// devices learn the rejection on sync), then deleted with their keys: by
// the request path, and by the housekeeping whichever request comes does.
TEST_F(AbuseTest, RejectedAndExpiredRequestsAreDeletedWithTheirKeysAfterTheirRetention) {
  with([](ServiceSettings& settings) { settings.quotas.rejected_retention = 24h; });
  publish(alice());
  TestDevice expired, rejected, later;
  const RequestId expired_id = answer<JoinReceipt>(stranger_joins(expired), 201).request_id;
  const RequestId rejected_id = answer<JoinReceipt>(stranger_joins(rejected), 201).request_id;
  answer<DecisionReceipt>(as_root(alice(), "POST", account(alice()) + "/requests/" + rejected_id.str(), Decision{}.to_json()),
                          200);
  clock_ += 1h;  // the first one expires
  EXPECT_EQ(state_of(expired, expired_id), RequestState::Rejected);
  EXPECT_EQ(state_of(rejected, rejected_id), RequestState::Rejected);
  const RequestId later_id = answer<JoinReceipt>(stranger_joins(later), 201).request_id;
  clock_ += 24h - 1s;
  EXPECT_EQ(call("GET", "/v1/health").status, 200);
  EXPECT_EQ(snapshot(database_)["requests"].size(), 3u) << "kept for the retention after they expired";
  EXPECT_EQ(state_of(expired, expired_id), RequestState::Rejected) << "its device still learns it was rejected";

  clock_ += 301s;  // past the retention, and the housekeeping is due again
  EXPECT_EQ(call("GET", "/v1/health").status, 200);
  auto rows = snapshot(database_)["requests"];
  ASSERT_EQ(rows.size(), 1u) << "the two old requests are deleted by a request that is not about them";
  EXPECT_NE(rows[0].find(later_id.str()), std::string::npos);
  const Bytes gone_key = expired.signature_key.public_key().spki_der();
  EXPECT_EQ(rows[0].find(std::string(gone_key.begin(), gone_key.end())), std::string::npos);
  for (const auto& [device, id] : {std::pair{&expired, expired_id}, std::pair{&rejected, rejected_id}}) {
    expect_refused(
        [&] { return call("GET", "/v1/requests/" + id.str(), "", &device->signature_key, kJoiningDeviceKey); }, 404,
        "unknown_request");
  }
  EXPECT_EQ(state_of(later, later_id), RequestState::Rejected) << "the later one, expired, is still kept";
}

TEST_F(AbuseTest, LookupsAreLimitedPerClientAndRecover) {
  with([](ServiceSettings& settings) { settings.rates.lookup = {2, 60s}; });
  EXPECT_EQ(call("GET", "/v1/health").status, 200);
  EXPECT_EQ(call("GET", "/v1/health").status, 200);
  HttpResponse limited = call("GET", "/v1/health");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(retry_after(limited), "30");
  EXPECT_NE(limited.body.find("rate_limited"), std::string::npos);
  client_ = "192.0.2.2";
  EXPECT_EQ(call("GET", "/v1/health").status, 200) << "another client has its own bucket";
  client_ = "192.0.2.1";
  clock_ += 30s;
  EXPECT_EQ(call("GET", "/v1/health").status, 200) << "and the first one is served again after Retry-After";
}

// The profile's own keys share one bucket (docs/service.md, "Abuse": a
// runaway client), whichever address they come from; a joining device's key
// is a stranger's and takes nothing from it.
TEST_F(AbuseTest, AProfilesRequestsAreLimitedPerProfileFromAnyAddress) {
  with([](ServiceSettings& settings) {
    settings.rates.account = {3, 60s};
    settings.rates.signed_request = {0, 60s};  // unlimited: only the profile's bucket counts here
  });
  publish(alice());  // the first of three
  const std::string requests = account(alice()) + "/requests";
  client_ = "192.0.2.2";
  EXPECT_EQ(as_root(alice(), "GET", requests).status, 200);
  client_ = "192.0.2.3";
  EXPECT_EQ(as_root(alice(), "GET", requests).status, 200);
  client_ = "192.0.2.4";
  HttpResponse limited = as_root(alice(), "GET", requests);
  EXPECT_EQ(limited.status, 429) << "a fourth request from a fourth address";
  EXPECT_EQ(retry_after(limited), "20");
  EXPECT_NE(limited.body.find("requests for this profile"), std::string::npos) << limited.body;
  TestDevice stranger;
  EXPECT_EQ(stranger_joins(stranger).status, 201) << "a joining device's request is not the profile's";
  EXPECT_EQ(as_root(mallory(), "PUT", account(mallory()), publication(mallory()).to_json()).status, 200)
      << "another profile has its own bucket";
  clock_ += 20s;
  EXPECT_EQ(as_root(alice(), "GET", requests).status, 200) << "served again after Retry-After";
  EXPECT_EQ(as_root(alice(), "GET", requests).status, 429);
}

TEST_F(AbuseTest, NewProfilesAreLimitedPerClient) {
  with([](ServiceSettings& settings) { settings.rates.new_profile = {1, 3600s}; });
  publish(alice());
  publish(alice());  // publishing again is no new profile
  expect_refused([&] { return as_root(mallory(), "PUT", account(mallory()), publication(mallory()).to_json()); },
                 429, "rate_limited");
  client_ = "198.51.100.7";
  publish(mallory());
}

TEST_F(AbuseTest, QuotasRefuseWhatAProfileMayNotKeep) {
  with([](ServiceSettings& settings) {
    settings.quotas.certificates = 1;
    settings.quotas.document_bytes = 16 * 1024;
  });
  expect_refused([&] { return as_root(alice(), "PUT", account(alice()), publication(alice()).to_json()); }, 400,
                 "over_quota");
  with([](ServiceSettings& settings) { settings.quotas.document_bytes = 16 * 1024; });
  Publication big = publication(alice());
  big.escrow = EscrowReference{"escrow-1", Bytes(20 * 1024, 0x41)};
  expect_refused([&] { return as_root(alice(), "PUT", account(alice()), big.to_json()); }, 413, "over_quota");
  publish(alice());
}

// Two claimants confirm the same address, each having read its claim as
// pending (two requests, maybe to two processes): the second finds its
// claim gone and changes nothing.
TEST(ServiceStore, OfTwoConfirmationsOfOneAddressTheSecondLoses) {
  const auto path = std::filesystem::temp_directory_path() / ("mailseal-store-" + std::to_string(::getpid()) + ".db");
  {
    ServiceStore store(path.string());
    for (const auto* person : {&test::alice(), &test::bob()}) {
      store.save_account({profile_fingerprint_of(person->root), person->root.der(), "{}", std::nullopt, std::nullopt, kNow}, {});
    }
    const Claim first = pending_claim("dave@example.com", profile_fingerprint_of(test::alice().root), kNow, {});
    const Claim second = pending_claim("dave@example.com", profile_fingerprint_of(test::bob().root), kNow, {});
    store.put_claim(first, std::string(128, 'a'));
    store.put_claim(second, std::string(128, 'b'));
    EXPECT_TRUE(store.confirm_claim(first, kNow + 10s));
    EXPECT_FALSE(store.confirm_claim(second, kNow + 11s)) << "read as pending, but dropped by the first";
    const auto claims = store.claims("dave@example.com");
    ASSERT_EQ(claims.size(), 1u);
    EXPECT_EQ(claims[0].account, profile_fingerprint_of(test::alice().root));
    EXPECT_EQ(claims[0].state, ClaimState::Verified);
    EXPECT_FALSE(store.confirm_claim(first, kNow + 12s)) << "a verified claim is not confirmed again";
  }
  for (const char* suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(path.string() + suffix);
}

TEST(ServiceDatabase, APostgresPasswordIsNeverShown) {
  EXPECT_EQ(database_for_display("service.db"), "service.db");
  EXPECT_EQ(database_for_display("postgresql://keys:s3cret@db.example:5432/keys"),
            "postgresql://keys:***@db.example:5432/keys");
  EXPECT_EQ(database_for_display("postgres://db.example/keys?user=keys&password=s3cret&sslmode=require"),
            "postgres://db.example/keys?user=keys&password=***&sslmode=require");
  EXPECT_EQ(database_for_display("postgresql:///keys?host=/run/postgresql"), "postgresql:///keys?host=/run/postgresql");
}

}  // namespace
}  // namespace mailseal::service
