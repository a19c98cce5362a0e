// Trust evidence in a real store (a temporary SQLite home): continuity under
// one root, conflicts, replays, and imports that fail without leaving traces.
// The scenario suite (tests/trust/scenarios.py) covers whole networks
// through the command line.

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "common/openssl.h"

#include "mailseal/common/error.h"
#include "mailseal/contacts/client_trust.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/io.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/udf/udf.h"
#include "test_identities.h"

namespace mailseal::contacts {
namespace {

using namespace std::chrono_literals;

Bytes as_bytes_copy(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

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
    profile_.emplace(profile::Profile::create(home_, options, mailseal::now()));
    evaluator_ = Evaluator{Identity{profile_->root_certificate().key_fingerprint().to_string(udf::kFullBits)},
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
    return import_file(store(), as_bytes(pem), smime::Policy::standard(mailseal::now()));
  }

  // A small message Bob signed, as the reader reports it.
  static smime::ReadResult read_message_signed_by_bob() {
    std::string text = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
    smime::MemorySource source(as_bytes(text));
    smime::OutgoingMessage outgoing = smime::OutgoingMessage::read(source);
    smime::StringSink out;
    smime::sign_message(outgoing, out, test::bob().signer(), smime::SignatureForm::Detached, mailseal::now());
    std::string signed_message = out.take();
    return smime::read_message(as_bytes(signed_message), {}, smime::Policy::standard(mailseal::now()));
  }

  trust::Verdict bob_verdict() {
    auto report = evaluate_address(store(), evaluator_, EmailAddress::parse("bob@example.org"), mailseal::now());
    EXPECT_TRUE(report.has_value());
    return report ? report->verdict : trust::Verdict{};
  }

  std::filesystem::path home_;
  std::optional<profile::Profile> profile_;
  Evaluator evaluator_;
};

TEST_F(EvidenceTest, ACertificateEncryptsOnlyWithinItsValidity) {
  // test::bob()'s certificates are valid from an hour ago for thirty days.
  const test::Person& bob = test::bob();
  import_pem({&bob.signing, &bob.encryption, &bob.root});
  const TimePoint now = mailseal::now();
  auto at = [&](TimePoint time) { return choose_recipient(store(), evaluator_, bob.address, time); };
  ASSERT_TRUE(at(now));
  EXPECT_EQ(at(now)->contact.certificate, bob.encryption);
  EXPECT_FALSE(at(now - 2h)) << "not yet valid";
  EXPECT_FALSE(at(now + 24h * 31)) << "expired";
  EXPECT_TRUE(encryption_candidates(store(), bob.address, now + 24h * 31).empty());
  // An expired certificate is still judged, so that `trust` can say why.
  EXPECT_TRUE(evaluate_address(store(), evaluator_, bob.address, now + 24h * 31).has_value());
}

TEST_F(EvidenceTest, ANewCertificateUnderTheSameRootContinuesTheHistory) {
  const test::Person& bob = test::bob();
  import_pem({&bob.encryption, &bob.root});
  ASSERT_EQ(bob_verdict().level, trust::Level::Marginal);

  // Bob's root issues him a new encryption certificate (a key rotation).
  crypto::PrivateKey key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const auto now = mailseal::now();
  crypto::CertificateRequest request{.role = crypto::CertificateRole::MailEncryption,
                                     .common_name = "Bob",
                                     .addresses = {bob.address},
                                     .not_before = now - 1min,
                                     .not_after = now + 24h * 30};
  crypto::Certificate renewed = crypto::issue_certificate(request, key.public_key(), bob.root_key, &bob.root);
  import_pem({&renewed});
  trust::Verdict verdict = bob_verdict();
  EXPECT_EQ(verdict.level, trust::Level::Marginal) << "the same identity: no conflict";
  auto chosen = choose_recipient(store(), evaluator_, bob.address, mailseal::now());
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->contact.certificate, renewed) << "the newest certificate of the identity is used";
}

TEST_F(EvidenceTest, ARenewedCertificateFromAPinnedRootKeepsThePinWithoutAConflict) {
  // Bob's profile renews his encryption certificate before it expires (the
  // same key, a new certificate from the same root: docs/profile.md,
  // "Renewal"). Alice pinned Bob's root and has his old certificate.
  const test::Person& bob = test::bob();
  import_pem({&bob.encryption, &bob.root});
  pin(store(), bob.address, bob.root.key_fingerprint().to_string(), mailseal::now());
  ASSERT_EQ(bob_verdict().level, trust::Level::Full);

  const auto now = mailseal::now();
  crypto::CertificateRequest request{.role = crypto::CertificateRole::MailEncryption,
                                     .common_name = "Bob",
                                     .addresses = {bob.address},
                                     .not_before = now - 1h,
                                     .not_after = now + 24h * 60};
  crypto::Certificate renewed =
      crypto::issue_certificate(request, bob.encryption.public_key(), bob.root_key, &bob.root);
  import_pem({&renewed});
  trust::Verdict verdict = bob_verdict();
  EXPECT_EQ(verdict.level, trust::Level::Full) << "the pin covers the renewed certificate";
  EXPECT_FALSE(verdict.conflict_with) << "the same root: no conflict";
  auto chosen = choose_recipient(store(), evaluator_, bob.address, now);
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->contact.certificate, renewed) << "the newest certificate is used";
  EXPECT_EQ(encryption_candidates(store(), bob.address, now).size(), 2u) << "the old one still encrypts until it ends";
  // test::bob()'s own certificate ends after thirty days: then only the renewed one.
  auto later = choose_recipient(store(), evaluator_, bob.address, now + 24h * 45);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->contact.certificate, renewed);
  EXPECT_EQ(encryption_candidates(store(), bob.address, now + 24h * 45).size(), 1u);
}

TEST_F(EvidenceTest, ADifferentRootIsAConflictUntilAccepted) {
  const test::Person& bob = test::bob();
  import_pem({&bob.encryption, &bob.root});
  test::Person impostor = test::make_person("bob@example.org", true);
  import_pem({&impostor.encryption, &impostor.root});
  trust::Verdict verdict = bob_verdict();
  ASSERT_EQ(verdict.level, trust::Level::Conflict);
  ASSERT_TRUE(verdict.conflict_with);
  EXPECT_EQ(verdict.conflict_with->str(), bob.root.key_fingerprint().to_string(udf::kFullBits));
  EXPECT_THROW(accept(store(), bob.address, "MB2G-QXQK-DBHN-5W4D-3RTB-NOUN-GD5G", TimePoint{}), Error)
      << "accepting a fingerprint no certificate has";
  accept(store(), bob.address, bob.root.key_fingerprint().to_string(), TimePoint{});
  EXPECT_EQ(bob_verdict().level, trust::Level::Marginal);
  auto chosen = choose_recipient(store(), evaluator_, bob.address, mailseal::now());
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->contact.certificate, bob.encryption) << "encryption goes to the accepted key";
}

// A corporate mail CA made by OpenSSL (no name constraints; valid until 2126)
// with its key, to issue a CA-issued mail certificate in tests.
constexpr std::string_view kCorporateCa = R"(-----BEGIN CERTIFICATE-----
MIIB0zCCAXmgAwIBAgIUVrjsDXEgScYS6PiLGLwxkiigMxYwCgYIKoZIzj0EAwIw
NjEVMBMGA1UECgwMRXhhbXBsZSBDb3JwMR0wGwYDVQQDDBRFeGFtcGxlIENvcnAg
TWFpbCBDQTAgFw0yNjExMzAxOTMzNTJaGA8yMTI2MTEwNjE5MzM1MlowNjEVMBMG
A1UECgwMRXhhbXBsZSBDb3JwMR0wGwYDVQQDDBRFeGFtcGxlIENvcnAgTWFpbCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABM7V7o78Aol7CDESaE9Mtl7E1NdV
HxkC2eh9NunST00hZxKv+hp43EwyblEgyARAFgjoKHk1JVx0PQ8fTDHghROjYzBh
MB0GA1UdDgQWBBSXF+U//L/jm4tw+oOCByDl090O2zAfBgNVHSMEGDAWgBSXF+U/
/L/jm4tw+oOCByDl090O2zAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIB
BjAKBggqhkjOPQQDAgNIADBFAiBUrEwzrZ0zYC0khIv69OIDBdFI2FjCFtrWtiHJ
as+PwAIhAJEssMWyE4fJedo7wliUdXGqG3jfA70NF3T7VAjQ/R+R
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1kkEN4Bw/+LUR+gS
uxDPwVBwkrZNjkgYltgyTLDJUcKhRANCAATO1e6O/AKJewgxEmhPTLZexNTXVR8Z
AtnofTbp0k9NIWcSr/oaeNxMMm5RIMgEQBYI6Ch5NSVcdD0PH0wx4IUT
-----END PRIVATE KEY-----
)";

std::optional<ClientRoot> root_of(const std::vector<ClientRoot>& roots, const crypto::Certificate& root) {
  for (const auto& candidate : roots) {
    if (candidate.root == root)
      return candidate;
  }
  return std::nullopt;
}

TEST(AnchorRefusal, OnlyAProfileRootConstrainedToTrustedMailboxes) {
  const test::Person& bob = test::bob();
  const EmailAddress other = EmailAddress::parse("bob@example.net");
  EXPECT_EQ(anchor_refusal(bob.root, 1, {bob.address}), std::nullopt) << "constrained to exactly the trusted address";
  EXPECT_EQ(anchor_refusal(bob.root, 1, {other, bob.address}), std::nullopt) << "trusted for more than it permits";
  auto refusal = anchor_refusal(bob.root, 1, {other});
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->find("also permit bob@example.org"), std::string::npos) << *refusal;
  refusal = anchor_refusal(bob.root, 2, {bob.address});
  ASSERT_TRUE(refusal) << "a chain through an intermediate";
  EXPECT_NE(refusal->find("intermediate"), std::string::npos) << *refusal;
  EXPECT_TRUE(anchor_refusal(bob.signing, 1, {bob.address})) << "a mail certificate is no CA";
  crypto::Certificate corporate = crypto::Certificate::from_pem(kCorporateCa);
  refusal = anchor_refusal(corporate, 1, {bob.address});
  ASSERT_TRUE(refusal) << "a CA without name constraints";
  EXPECT_NE(refusal->find("no email name constraints"), std::string::npos) << *refusal;
}

TEST_F(EvidenceTest, ClientRootsFollowTheVerdicts) {
  const test::Person& bob = test::bob();
  import_pem({&bob.signing, &bob.encryption, &bob.root});
  auto roots = client_roots(store(), evaluator_, mailseal::now());
  ASSERT_EQ(roots.size(), 1u) << "one root for Bob's two certificates";
  EXPECT_EQ(roots[0].trust, ClientTrust::Untrusted) << "trust on first use alone is marginal";
  EXPECT_EQ(roots[0].level, trust::Level::Marginal);
  EXPECT_FALSE(roots[0].refusal);

  pin(store(), bob.address, bob.root.key_fingerprint().to_string(), mailseal::now());
  roots = client_roots(store(), evaluator_, mailseal::now());
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_EQ(roots[0].trust, ClientTrust::Anchor) << "pinned: the client trusts Bob's root";
  EXPECT_EQ(roots[0].addresses, std::vector<EmailAddress>{bob.address});

  test::Person impostor = test::make_person("bob@example.org", true);
  import_pem({&impostor.signing, &impostor.root});
  roots = client_roots(store(), evaluator_, mailseal::now());
  auto real = root_of(roots, bob.root);
  auto fake = root_of(roots, impostor.root);
  ASSERT_TRUE(real && fake);
  EXPECT_EQ(real->trust, ClientTrust::Anchor) << "the pin stands";
  EXPECT_EQ(fake->trust, ClientTrust::Distrusted) << "a different key for a pinned address: a conflict";
  EXPECT_EQ(fake->level, trust::Level::Conflict);

  accept(store(), bob.address, impostor.root.key_fingerprint().to_string(), mailseal::now());
  roots = client_roots(store(), evaluator_, mailseal::now());
  EXPECT_EQ(root_of(roots, bob.root)->trust, ClientTrust::Anchor) << "a pin outweighs a later acceptance";
  EXPECT_EQ(root_of(roots, impostor.root)->trust, ClientTrust::Distrusted);
}

TEST_F(EvidenceTest, AConflictWithoutAPinDistrustsTheNewcomerOnly) {
  const test::Person& bob = test::bob();
  import_pem({&bob.signing, &bob.root});
  test::Person impostor = test::make_person("bob@example.org", true);
  import_pem({&impostor.signing, &impostor.root});
  auto roots = client_roots(store(), evaluator_, mailseal::now());
  EXPECT_EQ(root_of(roots, bob.root)->trust, ClientTrust::Untrusted) << "first seen, marginal";
  EXPECT_EQ(root_of(roots, impostor.root)->trust, ClientTrust::Distrusted) << "the conflict";
  // Settling the conflict for the newcomer turns it round.
  accept(store(), bob.address, impostor.root.key_fingerprint().to_string(), mailseal::now());
  roots = client_roots(store(), evaluator_, mailseal::now());
  EXPECT_EQ(root_of(roots, bob.root)->trust, ClientTrust::Distrusted) << "no longer the key for the address";
  EXPECT_EQ(root_of(roots, impostor.root)->trust, ClientTrust::Untrusted) << "accepted, but not compared: marginal";
}

TEST_F(EvidenceTest, ACorporateRootIsNeverMadeAClientAnchor) {
  crypto::Certificate corporate = crypto::Certificate::from_pem(kCorporateCa);
  crypto::PrivateKey corporate_key = crypto::PrivateKey::from_pkcs8_pem(kCorporateCa, nullptr);
  const EmailAddress carol = EmailAddress::parse("carol@example.com");
  crypto::PrivateKey key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const TimePoint now = mailseal::now();
  crypto::Certificate leaf = crypto::issue_certificate({.role = crypto::CertificateRole::MailSigning,
                                                        .common_name = "Carol",
                                                        .addresses = {carol},
                                                        .not_before = now - 1h,
                                                        .not_after = now + 24h},
                                                       key.public_key(), corporate_key, &corporate);
  import_pem({&leaf, &corporate});
  pin(store(), carol, corporate.key_fingerprint().to_string(), now);
  auto roots = client_roots(store(), evaluator_, now);
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_EQ(roots[0].level, trust::Level::Full) << "mailseal itself trusts the pinned binding";
  EXPECT_EQ(roots[0].trust, ClientTrust::Untrusted) << "but the client must not trust the CA for everyone";
  ASSERT_TRUE(roots[0].refusal);
  EXPECT_NE(roots[0].refusal->find("no email name constraints"), std::string::npos) << *roots[0].refusal;
}

TEST_F(EvidenceTest, AReplayedMessageAddsNoHistory) {
  const test::Person& bob = test::bob();
  smime::ReadResult read = read_message_signed_by_bob();
  ASSERT_TRUE(read.signature && read.signature->valid);
  EXPECT_TRUE(learn(store(), read, mailseal::now()));
  EXPECT_FALSE(learn(store(), read, mailseal::now() + 24h * 3)) << "the same message, days later";
  auto observations = store::TrustRecords(store()).observations(bob.address);
  ASSERT_EQ(observations.size(), 1u);
  EXPECT_EQ(observations.front().messages, 1);
  EXPECT_EQ(observations.front().days, 1);
}

// A revoked signer's message teaches no certificate: it may carry an
// encryption certificate of a removed device's key (review of issue 14,
// second round, F1), which would become what mail to the address goes to.
TEST_F(EvidenceTest, ARevokedSignerTeachesNoCertificate) {
  const test::Person& bob = test::bob();
  smime::ReadResult read = read_message_signed_by_bob();
  ASSERT_TRUE(read.signature && read.signature->valid);
  store::TrustRecords(store()).add_revocation(Identity(bob.root.key_fingerprint().to_string(udf::kFullBits)),
                                              bob.signing.serial_hex(), "crl", mailseal::now());
  EXPECT_FALSE(learn(store(), read, mailseal::now()));
  EXPECT_TRUE(list(store()).empty()) << "no certificate of the revoked signer's message is kept";
}

// StoreGraph keeps TrustGraph's contract over the store: the endorsements
// an introducer made count until its root is revoked, and then none of them
// (nor any made of it) do. Alice -120/2-> Carol -120/1-> Dave -90/0-> Bob.
TEST_F(EvidenceTest, ARevokedIntroducerBreaksThePathThroughIt) {
  const Identity alice = evaluator_.root;
  const test::Person& dave_person = test::bob();  // any real root will do for Dave's identity
  const Identity carol("ICAROL");
  const Identity dave(dave_person.root.key_fingerprint().to_string(udf::kFullBits));
  const Identity bob("IBOB");
  store::TrustRecords records(store());
  records.add_identity(dave, dave_person.root.der(), from_unix_seconds(1));
  auto endorsement = [&](const Identity& issuer, const Identity& subject, int amount, int depth) {
    store::EndorsementRecord record;
    record.issuer = issuer;
    record.subject = subject;
    record.amount = amount;
    record.depth = depth;
    record.certificate = as_bytes_copy(issuer.str() + "->" + subject.str());
    EXPECT_TRUE(records.add_endorsement(record));
  };
  endorsement(alice, carol, 120, 2);
  endorsement(carol, dave, 120, 1);
  endorsement(dave, bob, 90, 0);
  trust::BindingFacts facts{EmailAddress::parse("bob@example.org"), bob, false, {}, {}, {}, trust::Discovery::None, {}, false, 128};

  StoreGraph before(store());
  trust::Verdict verdict = trust::evaluate(facts, before, evaluator_.root);
  EXPECT_EQ(verdict.level, trust::Level::Partial);
  EXPECT_EQ(verdict.amount, 90);
  ASSERT_EQ(verdict.paths.size(), 1u);
  ASSERT_EQ(verdict.paths[0].edges.size(), 3u);
  EXPECT_EQ(verdict.paths[0].edges[2].issuer, dave) << "the path runs through Dave";

  // Dave revokes his root (a self-issued CRL names its serial).
  EXPECT_TRUE(records.add_revocation(dave, dave_person.root.serial_hex(), "crl", from_unix_seconds(2)));
  StoreGraph after(store());
  EXPECT_TRUE(after.endorsements_by(Identity{dave}).empty()) << "nothing Dave endorsed counts";
  EXPECT_TRUE(after.endorsements_by(Identity{carol}).empty()) << "nor Carol's endorsement of Dave";
  verdict = trust::evaluate(facts, after, evaluator_.root);
  EXPECT_EQ(verdict.level, trust::Level::None);
  EXPECT_TRUE(verdict.paths.empty());
  EXPECT_EQ(after.endorsements_by(Identity{alice}).size(), 1u) << "Alice's endorsement of Carol stands";
}

// A copy of a root's name and key under another signature, with a serial
// number the root revoked (its revocation lists are public): it revokes
// nobody, and no chain ends at it.
crypto::Certificate forged_root(const crypto::Certificate& root, const crypto::PrivateKey& forger, long serial) {
  ossl::X509Cert forged(X509_new());
  X509* raw = forged.get();
  X509_set_version(raw, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(raw), serial);
  X509_set_subject_name(raw, X509_get_subject_name(root.native()));
  X509_set_issuer_name(raw, X509_get_subject_name(root.native()));
  X509_set1_notBefore(raw, X509_get0_notBefore(root.native()));
  X509_set1_notAfter(raw, X509_get0_notAfter(root.native()));
  X509_set_pubkey(raw, X509_get0_pubkey(root.native()));
  X509_sign(raw, forger.native(), EVP_sha256());
  return crypto::Certificate(std::move(forged));
}

TEST_F(EvidenceTest, AForgedCopyOfARootRevokesNobody) {
  const test::Person& bob = test::bob();
  import_pem({&bob.encryption, &bob.root});
  ASSERT_NE(bob_verdict().level, trust::Level::Revoked);
  const test::Person& mallory = test::make_person("mallory@example.net");
  crypto::Certificate forged = forged_root(bob.root, mallory.root_key, 4242);
  ASSERT_TRUE(forged.is_self_issued());
  ASSERT_FALSE(forged.is_issued_by(forged));
  const Identity bob_identity(bob.root.key_fingerprint().to_string(udf::kFullBits));
  store::TrustRecords records(store());
  ASSERT_TRUE(records.add_revocation(bob_identity, forged.serial_hex(), "crl", mailseal::now()));
  // As if a message had carried it before this check existed.
  store().add_contact_chain_certificate(forged.der(), mailseal::now());
  EXPECT_NE(bob_verdict().level, trust::Level::Revoked) << "the forged copy's serial is not Bob's root's";
  EXPECT_TRUE(crypto::build_chain(bob.encryption, {forged, bob.root}).back() == bob.root)
      << "the chain ends at the real root";
}

TEST_F(EvidenceTest, AFailedImportLeavesTheStoreAsItWas) {
  const test::Person& bob = test::bob();
  std::size_t chain_before = store().contact_chain_certificates().size();
  // A root with an endorsement no known key signed: nothing usable.
  test::Person stranger = test::make_person("stranger@example.net", true);
  crypto::EndorsementTerms terms;
  terms.addresses = {bob.address};
  auto now = mailseal::now();
  crypto::Certificate endorsement =
      crypto::issue_endorsement(bob.root, stranger.root_key, stranger.root, terms, now - 1min, now + 24h);
  EXPECT_THROW(import_pem({&bob.root, &endorsement}), Error);
  EXPECT_EQ(store().contact_chain_certificates().size(), chain_before) << "the root in the bundle was not kept";
  EXPECT_TRUE(store::TrustRecords(store())
                  .endorsements_by(Identity(stranger.root.key_fingerprint().to_string(udf::kFullBits)))
                  .empty());
}

}  // namespace
}  // namespace mailseal::contacts
