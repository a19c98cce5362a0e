// The user agent's release decisions (agent.h): verify with a trust
// requirement, decrypt with and without --allow-bad-signature, learn. Two
// real profiles in temporary homes; the messages are made by agent::sign and
// agent::encrypt.

#include <gtest/gtest.h>

#include "agent/internal/rehearsal.h"
#include "mailseal/agent/agent.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/smime/io.h"
#include "test_support.h"

namespace mailseal::agent {
namespace {

using namespace std::chrono_literals;

// A released Release of `text`, as verify makes one under a valid signature.
smime::Release released(const std::string& text) {
  smime::ReadResult result;
  result.content = smime::HeldContent(text);
  result.signature = smime::SignatureReport{};
  result.signature->valid = true;
  return smime::Release::of_verified(result);
}

TEST(RequireTrust, NoRequirementReleases) {
  for (std::optional<trust::Level> level : {std::optional<trust::Level>(), std::optional(trust::Level::Conflict)}) {
    smime::Release release = released("content");
    require_trust(release, level, std::nullopt);
    EXPECT_TRUE(release.released());
  }
}

TEST(RequireTrust, ALevelAtOrAboveTheRequirementReleases) {
  using trust::Level;
  const std::pair<Level, Level> cases[] = {{Level::Full, Level::Full},       {Level::Full, Level::Partial},
                                           {Level::Partial, Level::Partial}, {Level::Partial, Level::Marginal},
                                           {Level::Marginal, Level::None},   {Level::None, Level::None}};
  for (const auto& [signer, required] : cases) {
    smime::Release release = released("content");
    require_trust(release, signer, required);
    EXPECT_TRUE(release.released()) << trust::to_string(signer) << " against " << trust::to_string(required);
    EXPECT_EQ(release.content(), "content");
  }
}

TEST(RequireTrust, ALevelBelowTheRequirementWithholds) {
  using trust::Level;
  const std::pair<Level, Level> cases[] = {{Level::Partial, Level::Full},
                                           {Level::Marginal, Level::Partial},
                                           {Level::None, Level::Marginal},
                                           {Level::Conflict, Level::None},
                                           {Level::Revoked, Level::None}};
  for (const auto& [signer, required] : cases) {
    smime::Release release = released("content");
    require_trust(release, signer, required);
    ASSERT_FALSE(release.released()) << trust::to_string(signer) << " against " << trust::to_string(required);
    EXPECT_EQ(release.withheld(), smime::Withheld::TrustBelowRequired);
    EXPECT_THROW((void)release.content(), Error);
  }
}

TEST(RequireTrust, ASignerNobodyJudgedWithholds) {
  smime::Release release = released("content");
  require_trust(release, std::nullopt, trust::Level::None);
  EXPECT_EQ(release.withheld(), smime::Withheld::TrustBelowRequired);
}

TEST(EncryptReport, NamesTheRecipientsNothingVouchesFor) {
  EncryptReport report;
  for (auto [address, level] : {std::pair{"bob@example.org", trust::Level::None},
                                {"carol@example.net", trust::Level::Marginal},
                                {"dave@example.com", trust::Level::Full},
                                {"erin@example.com", trust::Level::None}}) {
    trust::Verdict verdict;
    verdict.level = level;
    report.trust.push_back({EmailAddress::parse(address), verdict});
  }
  std::vector<EmailAddress> expected = {EmailAddress::parse("bob@example.org"),
                                        EmailAddress::parse("erin@example.com")};
  EXPECT_EQ(report.unvouched(), expected);
  EXPECT_TRUE(EncryptReport{}.unvouched().empty());
}

// Alice signs and encrypts to Bob; Bob's profile reads.
class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Bob gets Alice's certificates, so that she can be judged (marginal:
    // nothing but trust on first use vouches for her).
    learn_sender(*bob_, KeyAccess::unencrypted(), as_bytes(signed_by_alice()), mailseal::now());
  }

  std::string message() const {
    return "From: alice@example.com\r\nTo: bob@example.org\r\nSubject: plan\r\n\r\nMeet me by the old oak tree.\r\n";
  }

  std::string signed_by_alice() {
    std::string text = message();
    smime::MemorySource source(as_bytes(text));
    smime::OutgoingMessage outgoing = smime::OutgoingMessage::read(source);
    smime::StringSink out;
    sign(*alice_, KeyAccess::unencrypted(), outgoing, out, smime::SignatureForm::Detached, mailseal::now());
    return out.take();
  }

  // Alice learns Bob's certificates (and what he reads) from a signed message of his.
  void alice_learns_bob() {
    std::string from_bob = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhi\r\n";
    smime::MemorySource bob_source(as_bytes(from_bob));
    smime::OutgoingMessage bob_message = smime::OutgoingMessage::read(bob_source);
    smime::StringSink bob_signed;
    sign(*bob_, KeyAccess::unencrypted(), bob_message, bob_signed, smime::SignatureForm::Detached, mailseal::now());
    learn_sender(*alice_, KeyAccess::unencrypted(), as_bytes(bob_signed.take()), mailseal::now());
  }

  EncryptReport encrypt_to_bob(const std::string& text, const EncryptSettings& settings, std::string& encrypted) {
    smime::MemorySource source(as_bytes(text));
    smime::OutgoingMessage outgoing = smime::OutgoingMessage::read(source);
    smime::StringSink out;
    EncryptReport report = encrypt(*alice_, KeyAccess::unencrypted(), outgoing, out,
                                   {EmailAddress::parse("bob@example.org")}, settings, mailseal::now());
    encrypted = out.take();
    return report;
  }

  std::string encrypted_to_bob(const std::string& text) {
    alice_learns_bob();
    std::string encrypted;
    encrypt_to_bob(text, EncryptSettings{false}, encrypted);
    return encrypted;
  }

  test::TemporaryProfile alice_{"alice", "alice@example.com"};
  test::TemporaryProfile bob_{"bob", "bob@example.org"};
};

TEST_F(AgentTest, VerifyReleasesWhenTheSignerIsTrustedAsRequired) {
  VerifyOptions options;
  options.required_trust = trust::Level::Marginal;
  Verified verified = verify(&*bob_, KeyAccess::unencrypted(), as_bytes(signed_by_alice()), options, mailseal::now());
  ASSERT_TRUE(verified.sender);
  EXPECT_EQ(verified.sender->report.verdict.level, trust::Level::Marginal);
  ASSERT_TRUE(verified.content.released());
  EXPECT_NE(verified.content.content().find("old oak tree"), std::string::npos);
}

TEST_F(AgentTest, VerifyWithholdsWhenTheSignerIsTrustedLessThanRequired) {
  VerifyOptions options;
  options.required_trust = trust::Level::Full;
  Verified verified = verify(&*bob_, KeyAccess::unencrypted(), as_bytes(signed_by_alice()), options, mailseal::now());
  ASSERT_TRUE(verified.read.signature && verified.read.signature->valid) << "the signature itself is good";
  EXPECT_EQ(verified.content.withheld(), smime::Withheld::TrustBelowRequired);
  EXPECT_THROW((void)verified.content.content(), Error);
}

TEST_F(AgentTest, VerifyWithoutAProfileReleasesAValidSignatureButCannotJudgeTrust) {
  Verified verified = verify(nullptr, KeyAccess::unencrypted(), as_bytes(signed_by_alice()), {}, mailseal::now());
  EXPECT_TRUE(verified.content.released());
  EXPECT_FALSE(verified.sender);
  VerifyOptions options;
  options.required_trust = trust::Level::None;
  try {
    verify(nullptr, KeyAccess::unencrypted(), as_bytes(signed_by_alice()), options, mailseal::now());
    FAIL() << "a trust requirement without a profile was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NotFound);
  }
}

TEST_F(AgentTest, DecryptWithholdsContentUnderABadSignatureUnlessAskedFor) {
  std::string tampered = signed_by_alice();
  tampered[tampered.find("old oak")] = 'b';
  std::string encrypted = encrypted_to_bob(tampered);

  Decrypted withheld = decrypt(*bob_, KeyAccess::unencrypted(), as_bytes(encrypted), {}, mailseal::now());
  EXPECT_TRUE(withheld.read.has_bad_signature());
  EXPECT_EQ(withheld.content.withheld(), smime::Withheld::BadSignature);

  DecryptOptions asked;
  asked.bad_signature = smime::BadSignature::Release;
  Decrypted released = decrypt(*bob_, KeyAccess::unencrypted(), as_bytes(encrypted), asked, mailseal::now());
  ASSERT_TRUE(released.content.released());
  EXPECT_NE(released.content.content().find("bld oak tree"), std::string::npos);
}

TEST_F(AgentTest, DecryptRefusesAMessageThatIsNotEncrypted) {
  try {
    decrypt(*bob_, KeyAccess::unencrypted(), as_bytes(signed_by_alice()), {}, mailseal::now());
    FAIL() << "a signed message was decrypted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Malformed);
    EXPECT_NE(std::string(error.what()).find("mailseal verify"), std::string::npos) << error.what();
  }
}

TEST_F(AgentTest, LearnRefusesUnsignedAndBadlySignedMessages) {
  std::string unsigned_message = message();
  EXPECT_THROW(learn_sender(*bob_, KeyAccess::unencrypted(), as_bytes(unsigned_message), mailseal::now()), Error);
  std::string tampered = signed_by_alice();
  tampered[tampered.find("old oak")] = 'b';
  try {
    learn_sender(*bob_, KeyAccess::unencrypted(), as_bytes(tampered), mailseal::now());
    FAIL() << "a bad signature was learned from";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::BadSignature);
    EXPECT_NE(std::string(error.what()).find("does not match"), std::string::npos) << error.what();
  }
}

// The clock is the caller's: a test sets it instead of waiting for it.
TEST_F(AgentTest, VerifyJudgesTheSignatureAtTheTimeGiven) {
  const std::string signed_message = signed_by_alice();
  VerifyOptions options;
  options.learn = false;
  Verified early = verify(&*bob_, KeyAccess::unencrypted(), as_bytes(signed_message), options, mailseal::now() - 1h);
  ASSERT_TRUE(early.read.signature);
  EXPECT_FALSE(early.read.signature->valid) << "read an hour before it was made";
  ASSERT_FALSE(early.read.signature->problems.empty());
  EXPECT_NE(early.read.signature->problems.front().find("in the future"), std::string::npos)
      << early.read.signature->problems.front();
  EXPECT_FALSE(early.content.released());

  // Years later, after the certificates expired: the signer's certificate was
  // valid when the signature was made, and that is what counts.
  const TimePoint later = mailseal::now() + profile::kDay * (profile::kMailValidityDays + 1);
  Verified late = verify(&*bob_, KeyAccess::unencrypted(), as_bytes(signed_message), options, later);
  ASSERT_TRUE(late.read.signature);
  EXPECT_TRUE(late.read.signature->valid)
      << (late.read.signature->problems.empty() ? "" : late.read.signature->problems[0]);
}

// A signature made at an injected time (a test's clock, a renewal two weeks
// ahead) says that time, not the process clock's, and agrees with the Date.
TEST_F(AgentTest, TheSigningTimeIsTheTimeGiven) {
  const TimePoint later = std::chrono::floor<std::chrono::seconds>(mailseal::now() + profile::kDay * 30);
  std::string text = message();
  smime::MemorySource source(as_bytes(text));
  smime::OutgoingMessage outgoing = smime::OutgoingMessage::read(source);
  smime::StringSink out;
  sign(*alice_, KeyAccess::unencrypted(), outgoing, out, smime::SignatureForm::Opaque, later);
  VerifyOptions options;
  options.learn = false;
  Verified verified = verify(&*bob_, KeyAccess::unencrypted(), as_bytes(out.take()), options, later);
  ASSERT_TRUE(verified.read.signature);
  EXPECT_EQ(verified.read.signature->signing_time, later);
  EXPECT_TRUE(verified.read.signature->valid)
      << (verified.read.signature->problems.empty() ? "" : verified.read.signature->problems[0]);
}

TEST_F(AgentTest, EncryptingNeedsACertificateValidAtTheTimeGiven) {
  (void)encrypted_to_bob(message());  // Alice learns Bob's certificates and can encrypt to him now
  // Once they expired (two years on), she has none, and nothing is written.
  const TimePoint later = mailseal::now() + profile::kDay * (profile::kMailValidityDays + 1);
  const std::string text = message();
  smime::MemorySource source(as_bytes(text));
  smime::OutgoingMessage outgoing = smime::OutgoingMessage::read(source);
  smime::StringSink out;
  EXPECT_EQ(test::error_code_of([&] {
              encrypt(*alice_, KeyAccess::unencrypted(), outgoing, out, {EmailAddress::parse("bob@example.org")}, false,
                      later);
            }),
            ErrorCode::NoMatchingKey);
  EXPECT_TRUE(out.text().empty());
  EXPECT_TRUE(address_trust(*alice_, EmailAddress::parse("bob@example.org"), later).has_value())
      << "Bob is still known: his expired certificates are judged";
}

TEST_F(AgentTest, EncryptWritesCbcThatEveryClientReadsUnlessGcmIsAskedFor) {
  alice_learns_bob();  // Bob's mailseal certificates advertise AES-256-GCM and RSA-OAEP
  std::string encrypted;
  EncryptReport report = encrypt_to_bob(message(), {}, encrypted);
  EXPECT_EQ(report.choice.cipher, smime::ContentCipher::Aes256Cbc) << "issue 12: Thunderbird 153 reads no AES-GCM";
  EXPECT_FALSE(report.choice.rsa_oaep);
  EXPECT_TRUE(report.signed_message);
  EXPECT_FALSE(report.unauthenticated());
  EXPECT_NE(encrypted.find("smime-type=enveloped-data"), std::string::npos);
  Decrypted read = decrypt(*bob_, KeyAccess::unencrypted(), as_bytes(encrypted), {}, mailseal::now());
  EXPECT_TRUE(read.content.released()) << "the signature inside authenticates the CBC content";

  EncryptSettings gcm;
  gcm.cipher = smime::CipherPolicy::Authenticated;
  report = encrypt_to_bob(message(), gcm, encrypted);
  EXPECT_EQ(report.choice.cipher, smime::ContentCipher::Aes256Gcm);
  EXPECT_TRUE(report.choice.rsa_oaep);
  EXPECT_NE(encrypted.find("smime-type=authEnveloped-data"), std::string::npos);
}

TEST_F(AgentTest, UnsignedCbcIsReportedAndWithheldByTheReader) {
  std::string encrypted = encrypted_to_bob(message());
  EXPECT_NE(encrypted.find("smime-type=enveloped-data"), std::string::npos);
  Decrypted read = decrypt(*bob_, KeyAccess::unencrypted(), as_bytes(encrypted), {}, mailseal::now());
  ASSERT_FALSE(read.content.released());
  EXPECT_EQ(read.content.withheld(), smime::Withheld::Unauthenticated);
  DecryptOptions asked;
  asked.unauthenticated = smime::Unauthenticated::Release;
  EXPECT_TRUE(decrypt(*bob_, KeyAccess::unencrypted(), as_bytes(encrypted), asked, mailseal::now()).content.released());

  std::string again;
  EXPECT_TRUE(encrypt_to_bob(message(), EncryptSettings{false}, again).unauthenticated());
  EncryptSettings unsigned_gcm{false, smime::CipherPolicy::Authenticated};
  EXPECT_FALSE(encrypt_to_bob(message(), unsigned_gcm, again).unauthenticated());
}

TEST_F(AgentTest, GcmIsRefusedWhenARecipientDoesNotReadIt) {
  // Bob's certificates ask for CBC (as after 'setup thunderbird'), and Alice learns that.
  bob_->advertise_capabilities(smime::Capabilities::cbc_only(), KeyAccess::unencrypted(), mailseal::now());
  alice_learns_bob();
  EncryptSettings gcm;
  gcm.cipher = smime::CipherPolicy::Authenticated;
  std::string encrypted;
  try {
    encrypt_to_bob(message(), gcm, encrypted);
    FAIL() << "expected Unsupported";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(error.what()).find("bob@example.org"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(encrypted.empty());
}

// The idle child's rehearsal (agent::prepare_child): a throwaway signer,
// nobody's, that signs as a command does. A rehearsal that
// fails is swallowed by the resident process (it is only a head start), so
// only this test sees it fail.
TEST(Rehearsal, AThrowawaySignerUnderAnAddressThatCannotExist) {
  const TimePoint now = mailseal::now();
  const Rehearsal first = make_rehearsal(now);
  const Rehearsal second = make_rehearsal(now);
  const auto certificate = crypto::Certificate::from_der(first.certificate);
  EXPECT_EQ(certificate.email_addresses(), std::vector{EmailAddress::parse("rehearsal@mailseal.invalid")});
  EXPECT_TRUE(certificate.is_issued_by(crypto::Certificate::from_der(first.issuer)));
  // Made anew each time: no key is built into the program.
  EXPECT_NE(first.key_pem, second.key_pem);
  EXPECT_NE(first.certificate, second.certificate);
}

TEST(Rehearsal, StopsBetweenItsStepsOnceACommandCame) {
  const Rehearsal rehearsal = make_rehearsal(mailseal::now());
  int asked = 0;
  rehearse_a_signature(rehearsal, [&asked] { return ++asked == 2; });
  EXPECT_EQ(asked, 2);  // it asked again after each step until told, and no more
  asked = 0;
  rehearse_a_signature(rehearsal, [&asked] { return ++asked > 100; });
  EXPECT_EQ(asked, 3);  // three pauses between four steps
  // A damaged certificate is read in the second step: stopped before it, nothing fails.
  Rehearsal damaged = rehearsal;
  damaged.certificate.resize(damaged.certificate.size() / 2);
  EXPECT_NO_THROW(rehearse_a_signature(damaged, [] { return true; }));
  EXPECT_THROW(rehearse_a_signature(damaged, [] { return false; }), Error);
}

TEST(Rehearsal, SignsAsACommandDoesAndFailsOnWhatItCannotRead) {
  const Rehearsal rehearsal = make_rehearsal(mailseal::now());
  const auto never = [] { return false; };
  EXPECT_NO_THROW(rehearse_a_signature(rehearsal, never));
  EXPECT_NO_THROW(prepare_child());
  EXPECT_NO_THROW(rehearse(mailseal::now(), never));
  // It really reads what it was given: a damaged certificate or key fails.
  Rehearsal damaged = rehearsal;
  damaged.certificate.resize(damaged.certificate.size() / 2);
  EXPECT_THROW(rehearse_a_signature(damaged, never), Error);
  damaged = rehearsal;
  damaged.key_pem.resize(damaged.key_pem.size() / 2);
  EXPECT_THROW(rehearse_a_signature(damaged, never), Error);
}

}  // namespace
}  // namespace mailseal::agent
