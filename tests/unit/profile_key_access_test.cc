// How a profile's key files are unlocked and protected (KeyAccess): a
// profile made with a passphrase writes every key file encrypted and reads
// none without it; key files added later (an imported PKCS#12) follow the
// store, not the passphrase a command happened to be given.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/common/key_access.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smime/capabilities.h"
#include "scratch.h"
#include "test_support.h"

namespace mailseal::profile {
namespace {

using test::error_code_of;
using test::ScratchDirectory;

constexpr std::string_view kEncryptedPem = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
constexpr std::string_view kPlainPem = "-----BEGIN PRIVATE KEY-----";

KeyAccess passphrase(const char* text) {
  return KeyAccess::with_passphrase(Passphrase(text));
}

Profile make_profile(const std::filesystem::path& home, const KeyAccess& key_access) {
  InitOptions options;
  options.addresses = {EmailAddress::parse("alice@example.com")};
  options.suite = store::Suite::Modern;
  options.device_name = "test";
  options.key_access = key_access;
  return Profile::create(home, options, mailseal::now());
}

bool starts_with(const SecretBytes& pem, std::string_view prefix) {
  return as_string_view(pem).substr(0, prefix.size()) == prefix;
}

// Every key file the store names: the root's, this device's two, the mail keys'.
std::vector<std::string> key_files(Profile& profile) {
  std::vector<std::string> files = {profile.store().profile().root_key_file};
  for (const auto& device : profile.store().devices()) {
    if (device.is_this_device) {
      files.push_back(device.signature_key_file);
      files.push_back(device.agreement_key_file);
    }
  }
  for (const auto& key : profile.store().mail_keys())
    files.push_back(key.key_file);
  return files;
}

TEST(KeyFilePem, EncryptedOnlyWithAPassphrase) {
  crypto::PrivateKey key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  SecretBytes plain = key_file_pem(key, KeyAccess::unencrypted());
  SecretBytes encrypted = key_file_pem(key, passphrase("pass one"));
  EXPECT_TRUE(starts_with(plain, kPlainPem));
  EXPECT_TRUE(starts_with(encrypted, kEncryptedPem));

  EXPECT_EQ(read_key_file_pem(as_string_view(encrypted), passphrase("pass one")).public_key(), key.public_key());
  EXPECT_EQ(error_code_of([&] { read_key_file_pem(as_string_view(encrypted), KeyAccess::unencrypted()); }),
            ErrorCode::BadPassword);
  EXPECT_EQ(error_code_of([&] { read_key_file_pem(as_string_view(encrypted), passphrase("pass two")); }),
            ErrorCode::BadPassword);
  EXPECT_EQ(read_key_file_pem(as_string_view(plain), passphrase("pass one")).public_key(), key.public_key())
      << "an unencrypted key file needs no passphrase, and a given one does no harm";
}

TEST(ProfileKeyAccess, APassphraseEncryptsEveryKeyFile) {
  ScratchDirectory scratch;
  Profile profile = make_profile(scratch / "home", passphrase("correct horse"));
  EXPECT_TRUE(profile.keys_encrypted());
  EXPECT_TRUE(profile.status().keys_encrypted);
  const std::vector<std::string> files = key_files(profile);
  ASSERT_EQ(files.size(), 5u) << "root, two device keys, two mail keys";
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    EXPECT_TRUE(starts_with(profile.store().read_key_file(file), kEncryptedPem));
  }
}

TEST(ProfileKeyAccess, WithoutAPassphraseNoKeyFileIsEncrypted) {
  ScratchDirectory scratch;
  Profile profile = make_profile(scratch / "home", KeyAccess::unencrypted());
  EXPECT_FALSE(profile.keys_encrypted());
  for (const auto& file : key_files(profile)) {
    SCOPED_TRACE(file);
    EXPECT_TRUE(starts_with(profile.store().read_key_file(file), kPlainPem));
  }
}

TEST(ProfileKeyAccess, EncryptedKeysOpenOnlyWithTheirPassphrase) {
  ScratchDirectory scratch;
  Profile profile = make_profile(scratch / "home", passphrase("correct horse"));
  const EmailAddress alice = EmailAddress::parse("alice@example.com");
  EXPECT_EQ(error_code_of([&] { profile.signing_key(alice, KeyAccess::unencrypted()); }), ErrorCode::BadPassword);
  EXPECT_EQ(error_code_of([&] { profile.signing_key(alice, passphrase("wrong horse")); }), ErrorCode::BadPassword);
  EXPECT_EQ(error_code_of([&] { profile.root_key(KeyAccess::unencrypted()); }), ErrorCode::BadPassword);

  MailKey key = profile.signing_key(alice, passphrase("correct horse"));
  EXPECT_EQ(key.key.public_key(), key.certificate.public_key());
  EXPECT_EQ(profile.decryption_keys(passphrase("correct horse")).size(), 1u);
}

TEST(ProfileKeyAccess, NewKeyFilesFollowTheStore) {
  ScratchDirectory scratch;
  Profile encrypted = make_profile(scratch / "encrypted", passphrase("correct horse"));
  Profile plain = make_profile(scratch / "plain", KeyAccess::unencrypted());

  EXPECT_EQ(error_code_of([&] { encrypted.access_for_new_key_files(KeyAccess::unencrypted()); }),
            ErrorCode::BadPassword);
  KeyAccess for_encrypted = encrypted.access_for_new_key_files(passphrase("correct horse"));
  ASSERT_TRUE(for_encrypted.encrypted());
  EXPECT_EQ(for_encrypted.passphrase()->view(), "correct horse");
  EXPECT_FALSE(plain.access_for_new_key_files(passphrase("correct horse")).encrypted())
      << "a passphrase given to a store whose keys are not encrypted does not encrypt its new files";
  EXPECT_FALSE(plain.access_for_new_key_files(KeyAccess::unencrypted()).encrypted());
}

// The mail keys of another profile for the same address, as a PKCS#12.
Bytes foreign_pkcs12(const std::filesystem::path& home, const Passphrase& password) {
  Profile other = make_profile(home, KeyAccess::unencrypted());
  return other.export_pkcs12(std::nullopt, store::KeyPurpose::Signing, password, crypto::Pkcs12Protection::Modern,
                             KeyAccess::unencrypted());
}

store::MailKeyRecord imported_key(Profile& profile) {
  for (const auto& key : profile.store().mail_keys()) {
    if (key.origin == store::KeyOrigin::Imported)
      return key;
  }
  throw Error(ErrorCode::NotFound, "no imported key");
}

TEST(ProfileKeyAccess, AnImportedKeyIsStoredLikeTheOthers) {
  ScratchDirectory scratch;
  const Passphrase password("export password");
  const Bytes pkcs12 = foreign_pkcs12(scratch / "other", password);

  Profile encrypted = make_profile(scratch / "encrypted", passphrase("correct horse"));
  EXPECT_EQ(
      error_code_of([&] { encrypted.import_pkcs12(pkcs12, password, KeyAccess::unencrypted(), mailseal::now()); }),
      ErrorCode::BadPassword);
  ASSERT_EQ(encrypted.import_pkcs12(pkcs12, password, passphrase("correct horse"), mailseal::now()).size(), 1u);
  const store::MailKeyRecord into_encrypted = imported_key(encrypted);
  EXPECT_TRUE(starts_with(encrypted.store().read_key_file(into_encrypted.key_file), kEncryptedPem));
  EXPECT_EQ(encrypted.load_key(into_encrypted.key_file, passphrase("correct horse")).public_key(),
            crypto::Certificate::from_der(into_encrypted.certificate).public_key());

  Profile plain = make_profile(scratch / "plain", KeyAccess::unencrypted());
  ASSERT_EQ(plain.import_pkcs12(pkcs12, password, passphrase("correct horse"), mailseal::now()).size(), 1u);
  const store::MailKeyRecord into_plain = imported_key(plain);
  EXPECT_TRUE(starts_with(plain.store().read_key_file(into_plain.key_file), kPlainPem));
}

// A Profile kept open (a gateway session's) keeps its signing key decoded
// between messages; what another connection changes in the store meanwhile
// is seen at the next signing_key call.

// Archives the current signing key of `address` and issues a new one, as a
// device removal's rotation does (devices/removal.cc), through a connection
// of its own.
void rotate_signing_key(const std::filesystem::path& home, const EmailAddress& address, const KeyAccess& key_access,
                        TimePoint now) {
  Profile other = Profile::open(home);
  const store::ProfileRecord record = other.store().profile();
  std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
  for (const auto& key : other.store().mail_keys(address)) {
    if (key.status != store::KeyStatus::Current || key.purpose != store::KeyPurpose::Signing)
      continue;
    other.store().set_mail_key_status(key.id, store::KeyStatus::Archived);
    additions.push_back(issue_mail_key(other.root_key(key_access), other.root_certificate(), record.name, address,
                                       key.purpose, record.suite, key_access, now, smime::Capabilities::mailseal()));
  }
  ASSERT_EQ(additions.size(), 1u);
  other.store().add_mail_keys(additions);
}

TEST(ProfileSigningKey, AKeptProfileSeesARenewal) {
  ScratchDirectory scratch;
  make_profile(scratch / "home", KeyAccess::unencrypted());
  const EmailAddress alice = EmailAddress::parse("alice@example.com");
  Profile session = Profile::open(scratch / "home");
  const MailKey before = session.signing_key(alice, KeyAccess::unencrypted());
  EXPECT_EQ(session.signing_key(alice, KeyAccess::unencrypted()).certificate, before.certificate);

  Profile other = Profile::open(scratch / "home");
  const std::vector<crypto::Certificate> renewed =
      other.renew_certificates(KeyAccess::unencrypted(), mailseal::now() + kDay * 600);
  ASSERT_FALSE(renewed.empty()) << "due after 600 days";

  const MailKey after = session.signing_key(alice, KeyAccess::unencrypted());
  EXPECT_NE(after.certificate.serial_hex(), before.certificate.serial_hex()) << "the renewed certificate";
  EXPECT_TRUE(std::find(renewed.begin(), renewed.end(), after.certificate) != renewed.end());
  EXPECT_EQ(after.key.public_key(), before.key.public_key()) << "a renewal keeps the key";
  EXPECT_EQ(after.key.public_key(), after.certificate.public_key());
}

TEST(ProfileSigningKey, AKeptProfileSeesARotation) {
  ScratchDirectory scratch;
  make_profile(scratch / "home", passphrase("correct horse"));
  const EmailAddress alice = EmailAddress::parse("alice@example.com");
  Profile session = Profile::open(scratch / "home");
  const MailKey before = session.signing_key(alice, passphrase("correct horse"));

  rotate_signing_key(scratch / "home", alice, passphrase("correct horse"), mailseal::now());

  const MailKey after = session.signing_key(alice, passphrase("correct horse"));
  EXPECT_FALSE(after.key.public_key() == before.key.public_key()) << "the rotated key, not the one kept";
  EXPECT_EQ(after.key.public_key(), after.certificate.public_key());
  EXPECT_FALSE(after.certificate == before.certificate);
  EXPECT_FALSE(after.key.sign(as_bytes(std::string_view("probe"))).empty()) << "the new key signs";
}

TEST(ProfileSigningKey, AKeptKeyStillNeedsItsPassphrase) {
  ScratchDirectory scratch;
  Profile profile = make_profile(scratch / "home", passphrase("correct horse"));
  const EmailAddress alice = EmailAddress::parse("alice@example.com");
  const MailKey key = profile.signing_key(alice, passphrase("correct horse"));
  EXPECT_EQ(error_code_of([&] { profile.signing_key(alice, passphrase("wrong horse")); }), ErrorCode::BadPassword)
      << "a key decoded earlier is not handed to a caller with another passphrase";
  EXPECT_EQ(error_code_of([&] { profile.signing_key(alice, KeyAccess::unencrypted()); }), ErrorCode::BadPassword);
  EXPECT_EQ(profile.signing_key(alice, passphrase("correct horse")).key.public_key(), key.key.public_key());
}

}  // namespace
}  // namespace mailseal::profile
