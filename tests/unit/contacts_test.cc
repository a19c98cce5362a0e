// Decisions of the contacts part that `contact pin` and `endorse` rely on:
// reading a pin as a person gives it, and the terms an endorsement may carry.
// (evidence_test.cc weighs the evidence itself.)

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/contacts/contacts.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/profile/profile.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/udf/strong_address.h"
#include "test_identities.h"
#include "test_support.h"

namespace mailseal::contacts {
namespace {

using test::error_code_of;

const udf::Fingerprint& bob_root_fingerprint() {
  static const udf::Fingerprint fingerprint = test::bob().root.key_fingerprint();
  return fingerprint;
}

TEST(PinTarget, AnAddressAndAFingerprint) {
  PinTarget target = pin_target("bob@example.org", "MB2G-QXQK-DBHN-5W4D-3RTB");
  EXPECT_EQ(target.address, EmailAddress::parse("bob@example.org"));
  EXPECT_EQ(target.fingerprint, "MB2G-QXQK-DBHN-5W4D-3RTB") << "as given: pin() checks and normalises it";
}

TEST(PinTarget, AStrongAddressInEitherFormIsPinnedAtThePrecisionItShows) {
  udf::StrongAddress strong{EmailAddress::parse("bob@example.org"), bob_root_fingerprint()};
  for (const std::string& text : {strong.to_query_form(160), strong.to_strong_name_form(200)}) {
    PinTarget target = pin_target(text, "");
    EXPECT_EQ(target.address, strong.address) << text;
    udf::Fingerprint pinned = udf::Fingerprint::parse(target.fingerprint);
    EXPECT_EQ(pinned.precision_bits(), udf::StrongAddress::parse(text).fingerprint.precision_bits()) << text;
    EXPECT_TRUE(pinned.matches(bob_root_fingerprint())) << text;
  }
}

TEST(PinTarget, RefusesAnAddressWithoutAFingerprint) {
  EXPECT_EQ(error_code_of([] { pin_target("bob@example.org", ""); }), ErrorCode::Usage);
}

TEST(PinTarget, RefusesWhatIsNotAnAddress) {
  EXPECT_EQ(error_code_of([] { pin_target("bob", "MB2G-QXQK-DBHN-5W4D-3RTB"); }), ErrorCode::Usage);
  EXPECT_EQ(error_code_of([] { pin_target("NOT-A-FINGERPRINT?bob@example.org", ""); }), ErrorCode::Malformed);
}

// A profile that has imported Bob's certificates, ready to endorse him.
class EndorseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const test::Person& bob = test::bob();
    std::string pem = bob.encryption.pem() + bob.root.pem();
    import_file(alice_->store(), as_bytes(pem), smime::Policy::standard(mailseal::now()));
  }

  crypto::Certificate endorse_with(const EmailAddress& address, int amount, int depth) {
    EndorseOptions options;
    options.amount = amount;
    options.depth = depth;
    return endorse(alice_->store(), evaluator_, alice_->root_key(KeyAccess::unencrypted()), alice_->root_certificate(),
                   address, options, mailseal::now());
  }

  test::TemporaryProfile alice_{"alice", "alice@example.com"};
  Evaluator evaluator_{Identity{alice_->root_certificate().key_fingerprint().to_string(udf::kFullBits)},
                       alice_->addresses()};
};

TEST_F(EndorseTest, TheRangesOfAmountAndDepth) {
  const EmailAddress bob = test::bob().address;
  for (auto [amount, depth] :
       {std::pair{0, 0}, {-1, 0}, {trust::kFullAmount + 1, 0}, {120, -1}, {120, kMaxEndorsementDepth + 1}}) {
    EXPECT_EQ(error_code_of([&, amount = amount, depth = depth] { endorse_with(bob, amount, depth); }),
              ErrorCode::Usage)
        << "amount " << amount << ", depth " << depth;
  }
  EXPECT_TRUE(store::TrustRecords(alice_->store()).endorsements_by(evaluator_.root).empty())
      << "a refused endorsement leaves nothing behind";
  for (auto [amount, depth] : {std::pair{kMinEndorsementAmount, 0}, {trust::kFullAmount, kMaxEndorsementDepth}}) {
    auto terms = crypto::read_endorsement(endorse_with(bob, amount, depth));
    ASSERT_TRUE(terms);
    EXPECT_EQ(terms->amount, amount);
    EXPECT_EQ(terms->depth, depth);
  }
}

TEST_F(EndorseTest, NotOneOfYourOwnAddresses) {
  EXPECT_EQ(error_code_of([&] { endorse_with(EmailAddress::parse("alice@example.com"), 120, 0); }), ErrorCode::Usage);
}

}  // namespace
}  // namespace mailseal::contacts

namespace mailseal::contacts {
namespace {

// Two encryption certificates of one key issued within the same second (a
// re-issue right after a rotation, as when a client needing AES-CBC is set up
// at once): the one recorded last is the one to encrypt to.
TEST(EncryptionCertificate, OfTwoIssuedInTheSameSecondTheOneRecordedLastWins) {
  using namespace std::chrono_literals;
  test::TemporaryProfile reader("reader", "reader@example.com");
  const test::Person& bob = test::bob();
  const auto issued = mailseal::now() - 1h;
  auto reissue = [&] {
    return crypto::issue_certificate({.role = crypto::CertificateRole::MailEncryption,
                                      .common_name = bob.address.str(),
                                      .addresses = {bob.address},
                                      .not_before = issued,
                                      .not_after = issued + 24h * 30},
                                     bob.encryption_key.public_key(), bob.root_key, &bob.root);
  };
  const crypto::Certificate first = reissue();
  const crypto::Certificate second = reissue();
  ASSERT_FALSE(first == second) << "two certificates (new serial numbers) with the same dates";
  for (const crypto::Certificate* certificate : {&first, &second}) {
    ASSERT_EQ(add_certificate(reader->store(), *certificate, "import", issued).size(), 1u);
  }
  auto chosen = encryption_certificate(reader->store(), bob.address, mailseal::now());
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->certificate, second);
}

}  // namespace
}  // namespace mailseal::contacts
