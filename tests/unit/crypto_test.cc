// Keys, certificates and PKCS#12 round trips; the peers (openssl, NSS, gpgsm)
// check the same objects in tests/interop.

#include <chrono>
#include <filesystem>

#include <gtest/gtest.h>

#include "crypto/internal/gpgsm_compat.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/crypto/pkcs12.h"
#include "mailseal/crypto/symmetric.h"

namespace mailseal::crypto {
namespace {

using namespace std::chrono_literals;

ErrorCode error_code_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::Internal;
}

struct Pki {
  PrivateKey root_key = PrivateKey::generate(KeyType::P256);
  Certificate root;
  PrivateKey mail_key = PrivateKey::generate(KeyType::Rsa2048);
  Certificate mail;

  static Pki make() {
    auto now = mailseal::now();
    PrivateKey root_key = PrivateKey::generate(KeyType::P256);
    CertificateRequest root_request{.role = CertificateRole::ProfileRoot,
                                    .common_name = "Alice",
                                    .permitted_addresses = {EmailAddress::parse("alice@example.com")},
                                    .not_before = now - 1h,
                                    .not_after = now + 24h * 365};
    Certificate root = issue_certificate(root_request, root_key.public_key(), root_key, nullptr);
    PrivateKey mail_key = PrivateKey::generate(KeyType::Rsa2048);
    CertificateRequest mail_request{.role = CertificateRole::MailSigning,
                                    .common_name = "Alice",
                                    .addresses = {EmailAddress::parse("alice@example.com")},
                                    .not_before = now - 1h,
                                    .not_after = now + 24h * 30};
    Certificate mail = issue_certificate(mail_request, mail_key.public_key(), root_key, &root);
    return Pki{std::move(root_key), std::move(root), std::move(mail_key), std::move(mail)};
  }
};

const Pki& pki() {
  static const Pki instance = Pki::make();
  return instance;
}

TEST(Validity, ReadAloneItEqualsWhatOpenSslDecodes) {
  for (const Certificate* certificate : {&pki().root, &pki().mail}) {
    const Validity validity = read_validity(certificate->der());
    EXPECT_EQ(validity.not_before, certificate->not_before());
    EXPECT_EQ(validity.not_after, certificate->not_after());
  }
}

TEST(Validity, AGeneralizedTimeAfter2049IsRead) {
  const auto start = from_unix_seconds(2524608000);  // 2050-01-01: GeneralizedTime from here on
  PrivateKey key = PrivateKey::generate(KeyType::P256);
  CertificateRequest request{.role = CertificateRole::ProfileRoot,
                             .common_name = "Later",
                             .permitted_addresses = {EmailAddress::parse("later@example.com")},
                             .not_before = start,
                             .not_after = start + 24h * 365 * 20};
  Certificate certificate = issue_certificate(request, key.public_key(), key, nullptr);
  const Validity validity = read_validity(certificate.der());
  EXPECT_EQ(validity.not_before, start);
  EXPECT_EQ(validity.not_after, certificate.not_after());
}

TEST(Validity, EveryTruncationAndAWrongTagAreMalformed) {
  const Bytes der = pki().mail.der();
  for (std::size_t length = 0; length < der.size(); length += 7)
    EXPECT_EQ(error_code_of([&] { read_validity(ByteView(der.data(), length)); }), ErrorCode::Malformed) << length;
  Bytes tampered = der;
  tampered[0] = 0x31;  // a SET, not a SEQUENCE
  EXPECT_EQ(error_code_of([&] { read_validity(tampered); }), ErrorCode::Malformed);
  EXPECT_EQ(error_code_of([&] {
              read_validity(Bytes{0x30, 0x80, 0x00, 0x00});
            }),
            ErrorCode::Malformed)
      << "indefinite lengths are not DER";
}

TEST(Keys, Pkcs8RoundTripPlainAndEncrypted) {
  PrivateKey key = PrivateKey::generate(KeyType::P256);
  SecretBytes plain = key.to_pkcs8_pem();
  PrivateKey again =
      PrivateKey::from_pkcs8_pem(std::string_view(reinterpret_cast<const char*>(plain.data()), plain.size()), nullptr);
  EXPECT_TRUE(again.public_key() == key.public_key());

  Passphrase passphrase("correct horse battery staple");
  std::string encrypted = key.to_encrypted_pkcs8_pem(passphrase);
  EXPECT_NE(encrypted.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(PrivateKey::from_pkcs8_pem(encrypted, &passphrase).public_key() == key.public_key());
  Passphrase wrong("Correct horse battery staple");
  EXPECT_EQ(error_code_of([&] { PrivateKey::from_pkcs8_pem(encrypted, &wrong); }), ErrorCode::BadPassword);
  EXPECT_EQ(error_code_of([&] { PrivateKey::from_pkcs8_pem(encrypted, nullptr); }), ErrorCode::BadPassword);
  EXPECT_EQ(error_code_of([&] {
              PrivateKey::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", nullptr);
            }),
            ErrorCode::Malformed);
  EXPECT_EQ(error_code_of([&] { PrivateKey::from_pkcs8_pem("garbage", nullptr); }), ErrorCode::Malformed);
}

TEST(Keys, Rsa3072AndDescriptions) {
  PrivateKey key = PrivateKey::generate(KeyType::Rsa3072);
  EXPECT_EQ(key.public_key().description(), "RSA-3072");
  EXPECT_EQ(key.family(), KeyFamily::Rsa);
  EXPECT_EQ(PrivateKey::generate(KeyType::P256).public_key().description(), "P-256");
}

TEST(Keys, PublicKeyFingerprintIsTheUdfOfTheSpki) {
  PublicKey key = pki().root_key.public_key();
  auto expected =
      udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, "application/pkix-keyinfo", key.spki_der());
  EXPECT_EQ(key.fingerprint(), expected);
  EXPECT_EQ(key.fingerprint().to_string().front(), 'M');
  EXPECT_TRUE(PublicKey::from_spki_der(key.spki_der()) == key);
  Bytes truncated = key.spki_der();
  truncated.pop_back();
  EXPECT_EQ(error_code_of([&] { PublicKey::from_spki_der(truncated); }), ErrorCode::Malformed);
}

TEST(Keys, EcKeyFromScalar) {
  Bytes scalar(32, 0);
  scalar[31] = 7;
  PrivateKey key = PrivateKey::from_ec_scalar("P-256", scalar);
  EXPECT_EQ(key.public_key().description(), "P-256");
  EXPECT_TRUE(PrivateKey::from_ec_scalar("P-256", scalar).public_key() == key.public_key());
  EXPECT_EQ(error_code_of([&] { PrivateKey::from_ec_scalar("P-256", Bytes(32, 0xff)); }), ErrorCode::Malformed);
}

TEST(Certificates, RootIsANameConstrainedCa) {
  const Certificate& root = pki().root;
  EXPECT_TRUE(root.is_ca());
  EXPECT_TRUE(root.is_self_issued());
  EXPECT_TRUE(root.is_issued_by(root));
  EXPECT_TRUE(root.key_usage().key_cert_sign);
  EXPECT_EQ(root.common_name(), "Alice");
}

// A restore compares the escrow's date with when the root made its newest
// revocation list (docs/service.md, "Recovery").
TEST(RevocationLists, ReadBackTheirIssuerSerialsAndDate) {
  const TimePoint made = from_unix_seconds(1'800'000'000);
  const RevocationList list =
      RevocationList::read(issue_revocation_list(pki().root_key, pki().root, {"0A1B", "FF"}, made).der());
  EXPECT_TRUE(list.is_issued_by(pki().root));
  EXPECT_FALSE(list.is_issued_by(pki().mail));
  EXPECT_EQ(list.revoked_serials(), (std::vector<std::string>{"FF", "0A1B"})) << "sorted by number";
  EXPECT_EQ(list.last_update(), made);
  const std::string pem = issue_revocation_list(pki().root_key, pki().root, {}, made + 1s).pem();
  EXPECT_EQ(RevocationList::read(as_bytes(pem)).last_update(), made + 1s) << "PEM too";
}

TEST(Certificates, MailCertificateHasTheSmimeExtensions) {
  const Certificate& mail = pki().mail;
  EXPECT_FALSE(mail.is_ca());
  EXPECT_TRUE(mail.is_issued_by(pki().root));
  EXPECT_FALSE(pki().root.is_issued_by(mail));
  EXPECT_TRUE(mail.allows_email_protection());
  EXPECT_TRUE(mail.can_sign_mail());
  EXPECT_FALSE(mail.can_encrypt_mail());
  ASSERT_EQ(mail.email_addresses().size(), 1u);
  EXPECT_EQ(mail.email_addresses().front().str(), "alice@example.com");
  EXPECT_NE(mail.subject().find("emailAddress=alice@example.com"), std::string::npos) << mail.subject();
  EXPECT_EQ(mail.serial_hex().size(), 32u);
  EXPECT_LT(mail.not_before(), mailseal::now());
}

TEST(Certificates, ChainVerifiesAndNameConstraintsBite) {
  auto now = mailseal::now();
  EXPECT_EQ(verify_chain(pki().mail, {}, {pki().root}, now), "");
  EXPECT_NE(verify_chain(pki().mail, {}, {}, now), "");
  EXPECT_NE(verify_chain(pki().mail, {}, {pki().root}, now + 24h * 400), "");

  PrivateKey other_key = PrivateKey::generate(KeyType::P256);
  CertificateRequest outside{.role = CertificateRole::MailSigning,
                             .common_name = "Mallory",
                             .addresses = {EmailAddress::parse("mallory@example.org")},
                             .not_before = now - 1h,
                             .not_after = now + 24h};
  Certificate forged = issue_certificate(outside, other_key.public_key(), pki().root_key, &pki().root);
  std::string reason = verify_chain(forged, {}, {pki().root}, now);
  EXPECT_NE(reason.find("subtree"), std::string::npos) << reason;
}

TEST(Certificates, ValidityIsJudgedAtTheTimeGiven) {
  // A root and a mail certificate of 2030, judged before, within and after
  // their validity: the time is the caller's, never the clock's.
  const TimePoint issued = from_unix_seconds(1893456000);  // 2030-01-01T00:00:00Z
  const EmailAddress alice = EmailAddress::parse("alice@example.com");
  PrivateKey root_key = PrivateKey::generate(KeyType::P256);
  Certificate root = issue_certificate({.role = CertificateRole::ProfileRoot,
                                        .common_name = "Alice 2030",
                                        .permitted_addresses = {alice},
                                        .not_before = issued,
                                        .not_after = issued + 24h * 3650},
                                       root_key.public_key(), root_key, nullptr);
  PrivateKey key = PrivateKey::generate(KeyType::P256);
  Certificate mail = issue_certificate({.role = CertificateRole::MailSigning,
                                        .common_name = "Alice",
                                        .addresses = {alice},
                                        .not_before = issued,
                                        .not_after = issued + 24h * 30},
                                       key.public_key(), root_key, &root);
  EXPECT_EQ(mail.not_before(), issued);
  EXPECT_EQ(mail.not_after(), issued + 24h * 30);
  EXPECT_EQ(verify_chain(mail, {}, {root}, issued), "");
  EXPECT_EQ(verify_chain(mail, {}, {root}, issued + 24h * 30 - 1s), "") << "a second before it expires";
  std::string early = verify_chain(mail, {}, {root}, issued - 1s);
  EXPECT_NE(early.find("not yet valid"), std::string::npos) << early;
  std::string late = verify_chain(mail, {}, {root}, issued + 24h * 30);
  EXPECT_NE(late.find("expired"), std::string::npos) << late;
}

TEST(Certificates, DatesUpToTheYear9999) {
  // Some CAs (NSS's test CA among them) write notAfter 9999-12-31T23:59:59Z.
  const TimePoint end_of_9999{std::chrono::seconds(253402300799)};
  PrivateKey key = PrivateKey::generate(KeyType::P256);
  CertificateRequest request{.role = CertificateRole::MailSigning,
                             .common_name = "Fran",
                             .addresses = {EmailAddress::parse("fran@example.com")},
                             .not_before = mailseal::now(),
                             .not_after = end_of_9999};
  Certificate certificate = issue_certificate(request, key.public_key(), pki().root_key, &pki().root);
  EXPECT_EQ(certificate.not_after(), end_of_9999);
}

TEST(Certificates, ReadAllAcceptsPemBundlesDerAndRefusesGarbage) {
  std::string bundle = pki().mail.pem() + pki().root.pem();
  auto certificates = Certificate::read_all(as_bytes(bundle));
  ASSERT_EQ(certificates.size(), 2u);
  EXPECT_TRUE(certificates[0] == pki().mail);
  EXPECT_TRUE(certificates[1] == pki().root);
  EXPECT_EQ(Certificate::read_all(pki().root.der()).size(), 1u);
  EXPECT_EQ(error_code_of([] { Certificate::read_all(as_bytes("no certificates here")); }), ErrorCode::Malformed);
  Bytes truncated = pki().root.der();
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(error_code_of([&] { Certificate::read_all(truncated); }), ErrorCode::Malformed);
  EXPECT_EQ(error_code_of([&] { Certificate::from_der(truncated); }), ErrorCode::Malformed);
}

TEST(Certificates, BuildChainFollowsSignatures) {
  auto chain = build_chain(pki().mail, {pki().mail, pki().root});
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_TRUE(chain[0] == pki().root);
  EXPECT_TRUE(build_chain(pki().root, {pki().root}).empty());
}

std::vector<Pkcs12Identity> one_identity() {
  std::vector<Pkcs12Identity> identities;
  SecretBytes der = pki().mail_key.to_pkcs8_der();
  identities.push_back(Pkcs12Identity{PrivateKey::from_pkcs8_der(der), pki().mail, {pki().root}, "Alice"});
  return identities;
}

class Pkcs12RoundTrip : public ::testing::TestWithParam<Pkcs12Protection> {};

TEST_P(Pkcs12RoundTrip, WritesAndReadsBack) {
  Passphrase password("export-pw");
  Bytes file = write_pkcs12(one_identity(), password, GetParam());
  Pkcs12Contents contents = read_pkcs12(file, password);
  ASSERT_EQ(contents.identities.size(), 1u);
  const auto& identity = contents.identities.front();
  EXPECT_TRUE(identity.certificate == pki().mail);
  EXPECT_TRUE(identity.key.public_key() == pki().mail_key.public_key());
  ASSERT_EQ(identity.chain.size(), 1u);
  EXPECT_TRUE(identity.chain.front() == pki().root);
  EXPECT_EQ(identity.friendly_name, "Alice");
  EXPECT_TRUE(contents.other_certificates.empty());
}

TEST_P(Pkcs12RoundTrip, WrongPasswordAndDamageAreDistinguished) {
  Passphrase password("export-pw");
  Bytes file = write_pkcs12(one_identity(), password, GetParam());
  EXPECT_EQ(error_code_of([&] { read_pkcs12(file, Passphrase("wrong")); }), ErrorCode::BadPassword);
  EXPECT_EQ(error_code_of([&] { read_pkcs12(file, Passphrase()); }), ErrorCode::BadPassword);
  Bytes truncated(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(file.size() / 2));
  EXPECT_EQ(error_code_of([&] { read_pkcs12(truncated, password); }), ErrorCode::Malformed);
  EXPECT_EQ(error_code_of([&] { read_pkcs12(Bytes{}, password); }), ErrorCode::Malformed);
  // A flipped byte in the middle fails the MAC: reported as a password problem
  // or damage, never accepted.
  Bytes flipped = file;
  flipped[flipped.size() / 2] ^= 0x20;
  EXPECT_THROW(read_pkcs12(flipped, password), Error);
}

INSTANTIATE_TEST_SUITE_P(Protections, Pkcs12RoundTrip,
                         ::testing::Values(Pkcs12Protection::Modern, Pkcs12Protection::Legacy),
                         [](const auto& param_info) {
                           return param_info.param == Pkcs12Protection::Modern ? "Modern" : "Legacy";
                         });

TEST(Pkcs12, LegacySaltsAvoidGpgsmsKeyDerivationBug) {
  // Salts of a file gpgsm 2.2 refused ("decryption failed"): the certificate
  // safe's salt makes an updated block start with a zero byte.
  EXPECT_FALSE(internal::gpgsm_derives_correctly("export-password", from_hex("AABF16296C7037FB"), 2048));
  EXPECT_TRUE(internal::gpgsm_derives_correctly("export-password", from_hex("4F085A3B77C8465C"), 2048));
}

std::filesystem::path corpora() {
  return MAILSEAL_CORPORA_DIR;
}

TEST(ProtocolSignatures, SignAndVerifyWithEcAndRsa) {
  const std::string text = "POST /v1/accounts";
  for (KeyType type : {KeyType::P256, KeyType::Rsa2048}) {
    PrivateKey key = PrivateKey::generate(type);
    Bytes signature = key.sign(as_bytes(text));
    EXPECT_TRUE(key.public_key().verify(as_bytes(text), signature));
    EXPECT_FALSE(key.public_key().verify(as_bytes(text + " "), signature)) << "other data";
    signature[signature.size() / 2] ^= 1;
    EXPECT_FALSE(key.public_key().verify(as_bytes(text), signature)) << "a flipped bit";
    EXPECT_FALSE(PrivateKey::generate(type).public_key().verify(as_bytes(text), key.sign(as_bytes(text))))
        << "another key";
    EXPECT_FALSE(key.public_key().verify(as_bytes(text), Bytes{})) << "an empty signature";
  }
}

TEST(Symmetric, SealsAndRefusesEveryAlteration) {
  Bytes key = random_bytes(kSymmetricKeyBytes);
  const std::string secret = "mail keys";
  Bytes sealed = seal_symmetric(key, as_bytes(secret), as_bytes(std::string_view("context")));
  SecretBytes opened = open_symmetric(key, sealed, as_bytes(std::string_view("context")));
  EXPECT_EQ(std::string(opened.begin(), opened.end()), secret);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    Bytes altered = sealed;
    altered[i] ^= 0x80;
    EXPECT_THROW(open_symmetric(key, altered, as_bytes(std::string_view("context"))), Error) << "byte " << i;
  }
  EXPECT_THROW(open_symmetric(key, sealed, as_bytes(std::string_view("other"))), Error) << "other context";
  EXPECT_THROW(open_symmetric(random_bytes(32), sealed, as_bytes(std::string_view("context"))), Error);
  EXPECT_THROW(open_symmetric(key, ByteView(sealed).first(20), {}), Error) << "truncated";
  EXPECT_THROW(seal_symmetric(random_bytes(16), as_bytes(secret), {}), Error) << "a short key";
}

TEST(Pkcs12Corpora, ReadsThunderbirdAndLampsIdentities) {
  if (!std::filesystem::exists(corpora())) {
    GTEST_SKIP() << "../shared/corpora is absent";
  }
  struct Case {
    std::string file;
    std::string password;
    std::string address;
  };
  std::vector<Case> cases = {
      {"thunderbird/mailnews-test-data-smime/Alice.p12", "nss", "alice@example.com"},
      {"thunderbird/mailnews-test-data-smime/Alice-ec.p12", "nss", "alice-ec@example.com"},
      {"thunderbird/mailnews-test-data-smime/Fran.p12", "nss", "fran@example.com"},
      {"thunderbird/mailnews-test-data-smime/Fran-ec.p12", "nss", "fran-ec@example.com"},
      {"autocrypt-protected-headers/bob.p12", "bob", "bob@smime.example"},
      {"notmuch/test/smime/bob.p12", "", "bob@smime.example"},  // RC2-40: the legacy provider
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    Pkcs12Contents contents = read_pkcs12(read_file(corpora() / c.file), Passphrase(c.password));
    ASSERT_GE(contents.identities.size(), 1u);
    EXPECT_TRUE(contents.identities.front().certificate.names_address(EmailAddress::parse(c.address)));
  }
}

}  // namespace
}  // namespace mailseal::crypto
