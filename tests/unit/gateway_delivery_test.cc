// The gateway's delivery planning (gateway::plan_delivery) with real profiles
// in temporary homes: which copies go upstream, signed or encrypted, to whom;
// what happens to Bcc recipients, to recipients without a key, to messages
// from elsewhere and to ones the client protected itself, under each policy.
// Each copy is read back with the recipient's own profile.
// tests/gateway/gateway.py runs the same decisions through SMTP.

#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mailseal/agent/agent.h"
#include "mailseal/common/error.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/gateway/gateway.h"
#include "mailseal/mime/mime.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/release.h"
#include "scratch.h"

namespace mailseal::gateway {
namespace {

using test::ScratchDirectory;

profile::Profile make_profile(const std::filesystem::path& home, const std::string& address) {
  profile::InitOptions options;
  options.addresses = {EmailAddress::parse(address)};
  options.suite = store::Suite::Modern;  // P-256: quick to make
  options.device_name = "test";
  return profile::Profile::create(home, options, mailseal::now());
}

// What `mailseal contact import` does with someone's exported certificates.
void introduce(profile::Profile& reader, profile::Profile& person) {
  std::string pem;
  for (const auto& certificate : person.current_mail_certificates())
    pem += certificate.pem();
  pem += person.root_certificate().pem();
  contacts::import_file(reader.store(), as_bytes(pem), smime::Policy::standard(mailseal::now()));
}

std::string header_block(const std::string& message) {
  return message.substr(0, message.find("\r\n\r\n"));
}

// The people of these tests, made once: Alice runs the gateway and knows Bob
// and Dave; nobody knows Carol.
class DeliveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDirectory();
    alice_.emplace(make_profile(*scratch_ / "alice", "alice@example.com"));
    bob_.emplace(make_profile(*scratch_ / "bob", "bob@example.org"));
    dave_.emplace(make_profile(*scratch_ / "dave", "dave@example.net"));
    introduce(*alice_, *bob_);
    introduce(*alice_, *dave_);
  }
  static void TearDownTestSuite() {
    alice_.reset();
    bob_.reset();
    dave_.reset();
    delete scratch_;
  }

  static DeliveryPlan plan(const std::vector<std::string>& recipients, const std::string& message,
                           EncryptionPolicy policy = EncryptionPolicy::Opportunistic,
                           const std::string& reverse_path = "alice@example.com",
                           const CredentialInfo& submitter = CredentialInfo{"test", {}, {}}) {
    return plan_delivery(*alice_, KeyAccess::unencrypted(), policy, submitter, Envelope{reverse_path, recipients},
                         message, mailseal::now(), nullptr);
  }

  // What `reader` gets out of a copy: decrypted (when encrypted) and verified.
  static smime::ReadResult read_as(profile::Profile& reader, const std::string& copy) {
    return agent::read(&reader, KeyAccess::unencrypted(), as_bytes(copy), smime::Policy::standard(mailseal::now()));
  }

  // The content of a read copy, released only under a valid signature.
  static std::string verified_content(smime::ReadResult& read) { return smime::Release::of_verified(read).content(); }

  static std::string message(const std::string& extra_headers, const std::string& body = "Meet at noon.\r\n") {
    return "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: plans\r\n" + extra_headers +
           "\r\n" + body;
  }

  static ScratchDirectory* scratch_;
  static std::optional<profile::Profile> alice_;
  static std::optional<profile::Profile> bob_;
  static std::optional<profile::Profile> dave_;
};

ScratchDirectory* DeliveryTest::scratch_ = nullptr;
std::optional<profile::Profile> DeliveryTest::alice_;
std::optional<profile::Profile> DeliveryTest::bob_;
std::optional<profile::Profile> DeliveryTest::dave_;

TEST_F(DeliveryTest, ARecipientWithAKeyGetsOneSignedAndEncryptedCopy) {
  DeliveryPlan result = plan({"bob@example.org"}, message(""));
  ASSERT_EQ(result.copies.size(), 1u);
  const Copy& copy = result.copies[0];
  EXPECT_EQ(copy.recipients, std::vector<std::string>{"bob@example.org"});
  EXPECT_TRUE(copy.signed_message);
  EXPECT_TRUE(copy.encrypted);
  EXPECT_TRUE(result.without_keys.empty());
  EXPECT_EQ(result.summary, "signed and encrypted for bob@example.org");
  EXPECT_NE(header_block(copy.message).find("application/pkcs7-mime"), std::string::npos);
  EXPECT_EQ(copy.message.find("Meet at noon"), std::string::npos) << "no plaintext upstream";
  EXPECT_EQ(header_block(copy.message).find("plans"), std::string::npos) << "the Subject is protected";

  smime::ReadResult read = read_as(*bob_, copy.message);
  EXPECT_TRUE(read.decrypted);
  ASSERT_TRUE(read.signature);
  EXPECT_TRUE(read.signature->valid);
  const std::string content = verified_content(read);
  EXPECT_NE(content.find("Subject: plans"), std::string::npos);
  EXPECT_NE(content.find("Meet at noon."), std::string::npos);
  EXPECT_NE(content.find("Message-ID: "), std::string::npos) << "the gateway completes the headers";
  EXPECT_NE(content.find("Date: "), std::string::npos);
  EXPECT_TRUE(read_as(*alice_, copy.message).decrypted) << "the sender can read her own copy";
}

TEST_F(DeliveryTest, EachBccRecipientGetsACopyOfTheirOwn) {
  DeliveryPlan result =
      plan({"bob@example.org", "Dave@Example.NET", "bob@example.org"}, message("Bcc: dave@example.net\r\n"));
  ASSERT_EQ(result.copies.size(), 2u) << result.summary;
  EXPECT_EQ(result.copies[0].recipients, std::vector<std::string>{"bob@example.org"}) << "each recipient once";
  EXPECT_EQ(result.copies[1].recipients, std::vector<std::string>{"dave@example.net"});
  EXPECT_EQ(result.summary, "signed and encrypted; 1 Bcc recipient(s) got a copy of their own");

  smime::ReadResult bobs = read_as(*bob_, result.copies[0].message);
  smime::ReadResult daves = read_as(*dave_, result.copies[1].message);
  ASSERT_TRUE(bobs.decrypted && daves.decrypted);
  const std::string bobs_content = verified_content(bobs);
  const std::string daves_content = verified_content(daves);
  EXPECT_EQ(bobs_content.find("dave@example.net"), std::string::npos) << "Bob's copy does not name Dave";
  EXPECT_EQ(daves_content.find("Bcc:"), std::string::npos) << "the Bcc header is gone from every copy";
  auto message_id = [](const std::string& text) {
    return mime::Entity::parse(text).headers.get("Message-ID").value_or("none");
  };
  EXPECT_EQ(message_id(bobs_content), message_id(daves_content)) << "every copy is the same message";
  EXPECT_THROW(read_as(*dave_, result.copies[0].message), Error) << "Dave cannot read Bob's copy";
}

TEST_F(DeliveryTest, WithoutAKeyOpportunisticSignsOnly) {
  DeliveryPlan result = plan({"bob@example.org", "carol@example.net"}, message("Cc: carol@example.net\r\n"));
  EXPECT_EQ(result.without_keys, std::vector<std::string>{"carol@example.net"});
  ASSERT_EQ(result.copies.size(), 1u);
  const Copy& copy = result.copies[0];
  EXPECT_EQ(copy.recipients, (std::vector<std::string>{"bob@example.org", "carol@example.net"}));
  EXPECT_TRUE(copy.signed_message);
  EXPECT_FALSE(copy.encrypted);
  EXPECT_EQ(result.summary, "signed, not encrypted: no usable certificate for carol@example.net");
  EXPECT_NE(header_block(copy.message).find("multipart/signed"), std::string::npos);
  smime::ReadResult read = read_as(*bob_, copy.message);
  EXPECT_FALSE(read.encrypted);
  ASSERT_TRUE(read.signature);
  EXPECT_TRUE(read.signature->valid);
  EXPECT_NE(verified_content(read).find("Meet at noon."), std::string::npos);
}

TEST_F(DeliveryTest, WithoutAKeyRequiredRefusesNamingOnlyThatRecipient) {
  try {
    plan({"bob@example.org", "carol@example.net"}, message(""), EncryptionPolicy::Required);
    FAIL() << "required encryption with a recipient without a key";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::RejectedByPolicy);
    std::string text = error.what();
    EXPECT_NE(text.find("carol@example.net"), std::string::npos) << text;
    EXPECT_EQ(text.find("bob@example.org"), std::string::npos) << text;
  }
  DeliveryPlan result = plan({"bob@example.org"}, message(""), EncryptionPolicy::Required);
  ASSERT_EQ(result.copies.size(), 1u);
  EXPECT_TRUE(result.copies[0].encrypted) << "everyone has a key: encrypted under required too";
}

TEST_F(DeliveryTest, MailFromElsewherePassesUnchangedUnlessRequired) {
  const std::string foreign = "From: mallory@example.com\r\nTo: bob@example.org\r\nSubject: x\r\n\r\nplain\r\n";
  DeliveryPlan result = plan({"bob@example.org"}, foreign, EncryptionPolicy::Opportunistic, "mallory@example.com");
  ASSERT_EQ(result.copies.size(), 1u);
  EXPECT_EQ(result.copies[0].message, foreign) << "byte for byte";
  EXPECT_FALSE(result.copies[0].signed_message);
  EXPECT_FALSE(result.copies[0].encrypted);
  EXPECT_EQ(result.summary, "mallory@example.com is not an address of this profile; relayed unchanged");
  EXPECT_THROW(plan({"bob@example.org"}, foreign, EncryptionPolicy::Required), Error);

  const std::string no_from = "To: bob@example.org\r\nSubject: x\r\n\r\nplain\r\n";
  result = plan({"bob@example.org"}, no_from);
  ASSERT_EQ(result.copies.size(), 1u);
  EXPECT_EQ(result.copies[0].message, no_from);
  EXPECT_EQ(result.summary, "the message has no single From address; relayed unchanged");
}

TEST_F(DeliveryTest, WhatTheClientProtectedIsNotWrappedAgain) {
  const std::string protected_message =
      "From: alice@example.com\r\nTo: bob@example.org\r\nSubject: x\r\n"
      "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n";
  DeliveryPlan result = plan({"bob@example.org"}, protected_message);
  ASSERT_EQ(result.copies.size(), 1u);
  EXPECT_EQ(result.copies[0].message, protected_message);
  EXPECT_FALSE(result.copies[0].encrypted);
  EXPECT_EQ(result.summary, "the message is already signed or encrypted by the client; relayed unchanged");
  EXPECT_THROW(plan({"bob@example.org"}, protected_message, EncryptionPolicy::Required), Error);
}

TEST_F(DeliveryTest, AConflictCountsAsNoUsableKey) {
  ScratchDirectory scratch;
  profile::Profile gateway_owner = make_profile(scratch / "alice2", "alice@example.com");
  profile::Profile impostor = make_profile(scratch / "impostor", "bob@example.org");
  introduce(gateway_owner, *bob_);
  introduce(gateway_owner, impostor);  // a second key for Bob's address: a conflict until settled
  DeliveryPlan result = plan_delivery(gateway_owner, KeyAccess::unencrypted(), EncryptionPolicy::Opportunistic,
                                      CredentialInfo{"t", {}, {}}, Envelope{"alice@example.com", {"bob@example.org"}},
                                      message(""), mailseal::now(), nullptr);
  EXPECT_EQ(result.without_keys, std::vector<std::string>{"bob@example.org"});
  ASSERT_EQ(result.copies.size(), 1u);
  EXPECT_FALSE(result.copies[0].encrypted) << "never encrypted to a key in conflict";
}

TEST(LookupSchedule, AFetchIsDueAgainOnlyAfterTheInterval) {
  using namespace std::chrono_literals;
  const EmailAddress bob = EmailAddress::parse("bob@example.org");
  const TimePoint noon = from_unix_seconds(1800000000);
  LookupSchedule hourly(1h);
  EXPECT_TRUE(hourly.due(bob, noon)) << "never fetched";
  hourly.fetched(bob, noon);
  EXPECT_FALSE(hourly.due(bob, noon));
  EXPECT_FALSE(hourly.due(bob, noon + 59min + 59s));
  EXPECT_TRUE(hourly.due(bob, noon + 1h)) << "an hour later";
  EXPECT_TRUE(hourly.due(bob, noon - 1s)) << "a clock set back does not stop the refreshes";
  EXPECT_TRUE(hourly.due(EmailAddress::parse("carol@example.net"), noon)) << "per address";
  hourly.fetched(bob, noon + 2h);
  EXPECT_FALSE(hourly.due(bob, noon + 2h + 30min)) << "counted from the last fetch";
  LookupSchedule always(0s);
  always.fetched(bob, noon);
  EXPECT_TRUE(always.due(bob, noon)) << "an interval of 0 fetches at every message";
}

TEST_F(DeliveryTest, CredentialsAreMadeCheckedAndRemoved) {
  NewCredential made = create_credential(*alice_, "unit-mutt", {}, mailseal::now());
  EXPECT_GE(made.secret.size(), 43u) << "256 bits in base64url";
  EXPECT_EQ(made.secret.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  for (const auto& record : alice_->store().gateway_credentials())
    EXPECT_EQ(as_string_view(record.secret_hash).find(made.secret), std::string_view::npos) << "only a hash is kept";
  EXPECT_TRUE(check_credential(*alice_, "unit-mutt", made.secret));
  EXPECT_FALSE(check_credential(*alice_, "unit-mutt", made.secret + "x"));
  EXPECT_FALSE(check_credential(*alice_, "unit-other", made.secret));
  EXPECT_THROW(create_credential(*alice_, "unit-mutt", {}, mailseal::now()), Error);
  EXPECT_THROW(create_credential(*alice_, "bad name", {}, mailseal::now()), Error);
  EXPECT_THROW(create_credential(*alice_, "x", {EmailAddress::parse("bob@example.org")}, mailseal::now()), Error);
  NewCredential again = create_credential(*alice_, "unit-mutt", {}, mailseal::now(), true);
  EXPECT_FALSE(check_credential(*alice_, "unit-mutt", made.secret)) << "replaced: the old secret is gone";
  EXPECT_TRUE(check_credential(*alice_, "unit-mutt", again.secret));
  remove_credential(*alice_, "unit-mutt");
  EXPECT_FALSE(check_credential(*alice_, "unit-mutt", again.secret));
  EXPECT_THROW(remove_credential(*alice_, "unit-mutt"), Error);
}

// What a session proved at AUTH stays valid only while the same secret is
// in the store under that name: a removal or a replacement ends it, and a
// credential added again under the name does not revive it.
TEST_F(DeliveryTest, AProvenCredentialEndsWhenRemovedOrReplaced) {
  NewCredential made = create_credential(*alice_, "unit-laptop", {}, mailseal::now());
  NewCredential bystander = create_credential(*alice_, "unit-phone", {}, mailseal::now());
  std::optional<ProvenCredential> proven = check_credential(*alice_, "unit-laptop", made.secret);
  std::optional<ProvenCredential> other = check_credential(*alice_, "unit-phone", bystander.secret);
  ASSERT_TRUE(proven && other);
  EXPECT_EQ(proven->info.name, "unit-laptop");
  EXPECT_TRUE(still_valid(*alice_, *proven));

  NewCredential replaced = create_credential(*alice_, "unit-laptop", {}, mailseal::now(), true);
  EXPECT_FALSE(still_valid(*alice_, *proven)) << "replaced by a new secret under the same name";
  std::optional<ProvenCredential> current = check_credential(*alice_, "unit-laptop", replaced.secret);
  ASSERT_TRUE(current);
  EXPECT_TRUE(still_valid(*alice_, *current));

  remove_credential(*alice_, "unit-laptop");
  EXPECT_FALSE(still_valid(*alice_, *current)) << "removed";
  create_credential(*alice_, "unit-laptop", {}, mailseal::now());
  EXPECT_FALSE(still_valid(*alice_, *current)) << "added again: a new secret, not the one proven";
  EXPECT_TRUE(still_valid(*alice_, *other)) << "another credential is untouched";
}

// A credential signs only for the addresses it was given.
TEST_F(DeliveryTest, ACredentialSignsOnlyForItsAddresses) {
  const EmailAddress other = EmailAddress::parse("alice@other.example");
  try {
    plan({"bob@example.org"}, message(""), EncryptionPolicy::Opportunistic, "alice@example.com",
         CredentialInfo{"narrow", {other}, {}});
    FAIL() << "signed for an address the credential may not use";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::RejectedByPolicy);
    EXPECT_NE(std::string(error.what()).find("alice@example.com"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("narrow"), std::string::npos) << error.what();
  }
  // Not even a message the client signed itself, which the gateway would pass unchanged.
  EXPECT_THROW(plan({"bob@example.org"},
                    message("MIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary=x; "
                            "protocol=\"application/pkcs7-signature\"\r\n",
                            "--x\r\n\r\nhi\r\n--x--\r\n"),
                    EncryptionPolicy::Opportunistic, "alice@example.com", CredentialInfo{"narrow", {other}, {}}),
               Error);
  EXPECT_EQ(plan({"bob@example.org"}, message(""), EncryptionPolicy::Opportunistic, "alice@example.com",
                 CredentialInfo{"mine", {EmailAddress::parse("alice@example.com")}, {}})
                .copies.size(),
            1u);
}

// Sender, Resent-From and MAIL FROM naming an address of the profile the
// credential may not use are refused like From, signed or not.
TEST_F(DeliveryTest, EveryIdentityFieldAndTheEnvelopeSenderAreChecked) {
  const CredentialInfo narrow{"narrow", {EmailAddress::parse("alice@other.example")}, {}};
  const std::string elsewhere = "From: mallory@elsewhere.example\r\nTo: bob@example.org\r\n";
  for (const std::string& text : {elsewhere + "Sender: alice@example.com\r\n\r\nx\r\n",
                                  elsewhere + "Resent-From: Alice <alice@example.com>\r\n\r\nx\r\n"}) {
    SCOPED_TRACE(text);
    try {
      plan({"bob@example.org"}, text, EncryptionPolicy::Opportunistic, "mallory@elsewhere.example", narrow);
      ADD_FAILURE() << "relayed";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::RejectedByPolicy);
      EXPECT_NE(std::string(error.what()).find("alice@example.com"), std::string::npos) << error.what();
    }
  }
  try {
    plan({"bob@example.org"}, elsewhere + "\r\nx\r\n", EncryptionPolicy::Opportunistic, "alice@example.com", narrow);
    ADD_FAILURE() << "relayed with MAIL FROM alice@example.com";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::RejectedByPolicy);
  }
  // An envelope sender that is not the profile's stays allowed (bounces
  // go where the client says; docs/gateway.md).
  EXPECT_EQ(plan({"bob@example.org"}, elsewhere + "\r\nx\r\n", EncryptionPolicy::Opportunistic,
                 "bounces@elsewhere.example", narrow)
                .copies.size(),
            1u);
}

// A From that is present but not one mailbox mailseal reads is refused, not
// passed unchanged: signed or not, and whoever the credential is.
TEST_F(DeliveryTest, AFromMailsealCannotReadIsRefused) {
  const std::string signed_body =
      "MIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary=x; "
      "protocol=\"application/pkcs7-signature\"\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n";
  for (const char* from : {"\"alice\"@work.example", "alice@[work.example]", "Alice"}) {
    SCOPED_TRACE(from);
    for (const std::string& rest : {std::string("\r\nx\r\n"), signed_body}) {
      try {
        plan({"bob@example.org"}, fmt::format("From: {}\r\nTo: bob@example.org\r\n", from) + rest);
        ADD_FAILURE() << "relayed";
      } catch (const Error& error) {
        EXPECT_EQ(error.code(), ErrorCode::Malformed);
        EXPECT_NE(std::string(error.what()).find("From field"), std::string::npos) << error.what();
      }
    }
  }
}

// What no submitter may send, signed or not: each refused naming why.
TEST(HeaderSection, AmbiguousHeadersAreRefused) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"From: a@example.com\r\nFrom: b@example.com\r\n\r\nx\r\n", "2 From fields"},
      {"from: a@example.com\r\nTo: c@example.com\r\nFROM : b@example.com\r\n\r\nx\r\n", "2 From fields"},
      {"From: a@example.com,\r\n b@example.com\r\n\r\nx\r\n", "more than one mailbox"},
      {std::string("From: a@example.com\r\nSubject: a\0b\r\n\r\nx\r\n", 38), "NUL"},
      {"From: a@example.com\r\nSubject: gr\xc3\xbc\xc3\x9f\r\n\r\nx\r\n", "8-bit"},
      {"From: a@example.com\nSubject: x\r\n\r\nx\r\n", "bare LF"},
      {"From: a@example.com\rBcc: x@example.com\r\n\r\nx\r\n", "bare CR"},
      {std::string("From: a@example.com\r\n\r\nbody \0 NUL\r\n", 35), "NUL"},
      {"From: a@example.com\r\nSender: a@example.com\r\nSender: b@example.com\r\n\r\nx\r\n", "2 Sender fields"},
      {"From: a@example.com\r\nSender: b@example.com (c@example.com)\r\n\r\nx\r\n", "Sender field"},
      {"From: a@example.com\r\nResent-From: g: b@example.com;\r\n\r\nx\r\n", "Resent-From field"},
  };
  for (const auto& [text, why] : refused) {
    try {
      check_header_section(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed);
      EXPECT_NE(std::string(error.what()).find(why), std::string::npos) << error.what();
    }
  }
  EXPECT_NO_THROW(
      check_header_section("From: Alice <a@example.com>\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9F?=\r\n\r\n"
                           "8-bit body \xc3\xbc\r\n"));
  EXPECT_NO_THROW(check_header_section("To: b@example.com\r\n\r\nno From at all\r\n"));
}

TEST(DeliveryRenewal, TheGatewayRenewsCertificatesThatAreDueBeforeSigning) {
  // Erin's gateway, two weeks before her first certificates expire
  // (docs/profile.md, "Renewal"); her profile has no key service, so there
  // is nothing to publish, and the message goes out signed with the new
  // certificate.
  ScratchDirectory scratch;
  profile::Profile erin = make_profile(scratch / "erin", "erin@example.com");
  const TimePoint later = mailseal::now() + profile::kDay * (profile::kMailValidityDays - 14);
  const std::string text = "From: Erin <erin@example.com>\r\nTo: Carol <carol@example.net>\r\nSubject: s\r\n\r\nHi\r\n";
  DeliveryPlan result = plan_delivery(erin, KeyAccess::unencrypted(), EncryptionPolicy::Opportunistic,
                                      CredentialInfo{"test", {}, {}}, Envelope{"erin@example.com", {"carol@example.net"}},
                                      text, later, nullptr);
  ASSERT_EQ(result.renewal.renewed.size(), 2u) << "the signing and the encryption certificate";
  EXPECT_FALSE(result.renewal.unpublished || result.renewal.published) << "no key service: nothing to publish";
  EXPECT_NE(result.summary.find("2 certificate(s) renewed"), std::string::npos) << result.summary;
  ASSERT_EQ(result.copies.size(), 1u);
  smime::ReadResult read = agent::read(nullptr, KeyAccess::unencrypted(), as_bytes(result.copies[0].message),
                                       smime::Policy::standard(later));
  // Not read.signature->valid: OpenSSL dates the CMS signingTime by the
  // process clock, not by `later` (tests/devices/renewal.py moves the whole
  // process's clock and checks the signatures).
  ASSERT_TRUE(read.signature && read.signature->signer);
  EXPECT_EQ(*read.signature->signer, result.renewal.renewed[0]) << "signed with the renewed certificate";

  DeliveryPlan next = plan_delivery(erin, KeyAccess::unencrypted(), EncryptionPolicy::Opportunistic,
                                    CredentialInfo{"test", {}, {}}, Envelope{"erin@example.com", {"carol@example.net"}},
                                    text, later, nullptr);
  EXPECT_TRUE(next.renewal.renewed.empty()) << "renewed once";
}

}  // namespace
}  // namespace mailseal::gateway
