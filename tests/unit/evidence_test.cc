// Trust evidence in a real store (a temporary SQLite home): continuity under
// one root, conflicts, replays, and imports that fail without leaving traces.
// The scenario suite (tests/trust/scenarios.py) covers whole networks
// through the command line.

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/io.h"
#include "mailseal/store/sqlite.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/udf/udf.h"
#include "test_identities.h"

namespace mailseal::contacts {
namespace {

using namespace std::chrono_literals;

class EvidenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() / ("mailseal-evidence-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(home_);
    profile::InitOptions options;
    options.addresses = {EmailAddress::parse("alice@example.com")};
    options.suite = store::Suite::Modern;
    options.device_name = "test";
    profile_.emplace(profile::Profile::create(home_, options));
    evaluator_ = Evaluator{trust::Identity{profile_->root_certificate().key_fingerprint().to_string(udf::kFullBits)},
                           profile_->addresses()};
  }
  void TearDown() override {
    profile_.reset();
    std::filesystem::remove_all(home_);
  }

  store::LocalStore& store() { return profile_->store(); }

  ImportResult import_pem(const std::vector<const crypto::Certificate*>& certificates) {
    std::string pem;
    for (const auto* certificate : certificates)
      pem += certificate->pem();
    return import_file(store(), as_bytes(pem), smime::Policy::standard());
  }

  trust::Verdict bob_verdict() {
    auto report = evaluate_address(store(), evaluator_, EmailAddress::parse("bob@example.org"), crypto::now());
    EXPECT_TRUE(report.has_value());
    return report ? report->verdict : trust::Verdict{};
  }

  std::filesystem::path home_;
  std::optional<profile::Profile> profile_;
  Evaluator evaluator_;
};

TEST_F(EvidenceTest, ANewCertificateUnderTheSameRootContinuesTheHistory) {
  const test::Person& bob = test::bob();
  import_pem({&bob.encryption, &bob.root});
  ASSERT_EQ(bob_verdict().level, trust::Level::Marginal);

  // Bob's root issues him a new encryption certificate (a key rotation).
  crypto::PrivateKey key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto now = crypto::now();
  crypto::CertificateRequest request{.role = crypto::CertificateRole::MailEncryption,
                                     .common_name = "Bob",
                                     .addresses = {bob.address},
                                     .not_before = now - 1min,
                                     .not_after = now + 24h * 30};
  crypto::Certificate renewed = crypto::issue_certificate(request, key.public_key(), bob.root_key, &bob.root);
  import_pem({&renewed});
  trust::Verdict verdict = bob_verdict();
  EXPECT_EQ(verdict.level, trust::Level::Marginal) << "the same identity: no conflict";
  auto chosen = choose_recipient(store(), evaluator_, bob.address, crypto::now());
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->contact.certificate, renewed) << "the newest certificate of the identity is used";
}

TEST_F(EvidenceTest, ADifferentRootIsAConflictUntilAccepted) {
  const test::Person& bob = test::bob();
  import_pem({&bob.encryption, &bob.root});
  test::Person impostor = test::make_person("bob@example.org", true);
  import_pem({&impostor.encryption, &impostor.root});
  trust::Verdict verdict = bob_verdict();
  ASSERT_EQ(verdict.level, trust::Level::Conflict);
  ASSERT_TRUE(verdict.conflict_with);
  EXPECT_EQ(verdict.conflict_with->fingerprint, bob.root.key_fingerprint().to_string(udf::kFullBits));
  EXPECT_THROW(accept(store(), bob.address, "MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G", 0), Error)
      << "accepting a fingerprint no certificate has";
  accept(store(), bob.address, bob.root.key_fingerprint().to_string(), 0);
  EXPECT_EQ(bob_verdict().level, trust::Level::Marginal);
  auto chosen = choose_recipient(store(), evaluator_, bob.address, crypto::now());
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->contact.certificate, bob.encryption) << "encryption goes to the accepted key";
}

TEST_F(EvidenceTest, AReplayedMessageAddsNoHistory) {
  const test::Person& bob = test::bob();
  std::string text = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
  smime::MemorySource source(as_bytes(text));
  smime::OutgoingMessage outgoing = smime::OutgoingMessage::read(source);
  smime::StringSink out;
  smime::sign_message(outgoing, out, bob.signer(), smime::SignatureForm::Detached);
  std::string signed_message = out.take();
  smime::ReadResult read = smime::read_message(as_bytes(signed_message), {}, smime::Policy::standard());
  ASSERT_TRUE(read.signature && read.signature->valid);
  EXPECT_TRUE(learn(store(), read, crypto::now()));
  EXPECT_FALSE(learn(store(), read, crypto::now() + 24h * 3)) << "the same message, days later";
  auto observations = store::TrustRecords(store()).observations(bob.address);
  ASSERT_EQ(observations.size(), 1u);
  EXPECT_EQ(observations.front().messages, 1);
  EXPECT_EQ(observations.front().days, 1);
}

TEST_F(EvidenceTest, AFailedImportLeavesTheStoreAsItWas) {
  const test::Person& bob = test::bob();
  std::size_t chain_before = store().contact_chain_certificates().size();
  // A root with an endorsement no known key signed: nothing usable.
  test::Person stranger = test::make_person("stranger@example.net", true);
  crypto::EndorsementTerms terms;
  terms.addresses = {bob.address};
  auto now = crypto::now();
  crypto::Certificate endorsement =
      crypto::issue_endorsement(bob.root, stranger.root_key, stranger.root, terms, now - 1min, now + 24h);
  EXPECT_THROW(import_pem({&bob.root, &endorsement}), Error);
  EXPECT_EQ(store().contact_chain_certificates().size(), chain_before) << "the root in the bundle was not kept";
  EXPECT_TRUE(
      store::TrustRecords(store()).endorsements_by(stranger.root.key_fingerprint().to_string(udf::kFullBits)).empty());
}

TEST_F(EvidenceTest, AnInnerTransactionRollsBackAloneInsideAnOuterOne) {
  store::Database& database = store().database();
  database.execute("CREATE TABLE scratch (value INTEGER);");
  {
    store::Transaction outer(database);
    database.execute("INSERT INTO scratch VALUES (1);");
    {
      store::Transaction inner(database);
      database.execute("INSERT INTO scratch VALUES (2);");
      // No commit: the savepoint is rolled back.
    }
    outer.commit();
  }
  auto count = database.prepare("SELECT COUNT(*), SUM(value) FROM scratch");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int(0), 1);
  EXPECT_EQ(count.column_int(1), 1);
}

}  // namespace
}  // namespace mailseal::contacts
