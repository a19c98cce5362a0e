// The S/MIME engine on its own: sign, encrypt, read back, and refuse what is
// forged or tampered with. The peers check the same output in tests/interop.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/sealed.h"
#include "mailseal/smime/smime.h"
#include "smime/internal/compose.h"
#include "smime/internal/reading.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

using test::alice;
using test::bob;

const std::string kPlainMessage =
    "From: Alice <alice@example.com>\n"
    "To: Bob <bob@example.org>\n"
    "Subject: Lunch\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "Shall we meet at noon?\n"
    "-- \n"
    "Alice\n";

std::string sign(const std::string& message, SignatureForm form) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), form, mailseal::now());
  return out.take();
}

std::string encrypt(const std::string& message, bool with_signature, EncryptionChoice choice) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = alice().signer();
  EncryptOptions options{{bob().encryption, alice().encryption}, with_signature ? &signer : nullptr, choice};
  encrypt_message(outgoing, out, options, mailseal::now());
  return out.take();
}

ReadResult read(const std::string& message, std::vector<DecryptionKey> keys = {}) {
  return read_message(as_bytes(message), keys, Policy::standard(mailseal::now()));
}

// The content of a read message, whatever a release would decide (the tests
// below look at what was read; release_test.cc at what may be released).
std::string content_of(ReadResult& result) {
  return Release::of_decrypted(result, BadSignature::Release, Unauthenticated::Release).content();
}

TEST(Smime, DetachedSignatureVerifies) {
  std::string signed_message = sign(kPlainMessage, SignatureForm::Detached);
  EXPECT_NE(signed_message.find("multipart/signed"), std::string::npos);
  EXPECT_NE(signed_message.find("Date: "), std::string::npos) << "a Date is added";
  ReadResult result = read(signed_message);
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid) << (result.signature->problems.empty() ? "" : result.signature->problems[0]);
  EXPECT_TRUE(result.signature->from_matches);
  EXPECT_EQ(result.signature->digest, "SHA-256");
  EXPECT_TRUE(result.signature->signing_time.has_value());
  EXPECT_TRUE(result.signature->capabilities.aes256_gcm);
  EXPECT_EQ(result.signature->certificates.size(), 2u) << "signer and root";
  EXPECT_FALSE(result.encrypted);
  EXPECT_NE(content_of(result).find("Shall we meet at noon?\r\n"), std::string::npos);
}

TEST(Smime, OpaqueSignatureVerifies) {
  std::string signed_message = sign(kPlainMessage, SignatureForm::Opaque);
  EXPECT_NE(signed_message.find("smime-type=signed-data"), std::string::npos);
  ReadResult result = read(signed_message);
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
  EXPECT_EQ(result.signature->form, SignatureForm::Opaque);
  EXPECT_NE(content_of(result).find("Shall we meet at noon?"), std::string::npos);
}

TEST(Smime, TamperedBodyIsBad) {
  std::string signed_message = sign(kPlainMessage, SignatureForm::Detached);
  auto position = signed_message.find("noon");
  ASSERT_NE(position, std::string::npos);
  signed_message[position] = 'm';
  ReadResult result = read(signed_message);
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
}

TEST(Smime, LineEndingsDoNotMatter) {
  std::string signed_message = sign(kPlainMessage, SignatureForm::Detached);
  std::string lf;
  for (char c : signed_message)
    if (c != '\r')
      lf.push_back(c);
  ReadResult result = read(lf);
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
}

TEST(Smime, SignerMustBeTheSender) {
  std::string forged = kPlainMessage;
  forged.replace(forged.find("alice@example.com"), 17, "carol@example.com");
  MemorySource source(as_bytes(forged));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  EXPECT_THROW(sign_message(outgoing, out, alice().signer(), SignatureForm::Detached, mailseal::now()), Error);

  // A signature whose From header is changed afterwards is bad.
  std::string signed_message = sign(kPlainMessage, SignatureForm::Detached);
  signed_message.replace(signed_message.find("alice@example.com"), 17, "carol@example.com");
  ReadResult result = read(signed_message);
  ASSERT_TRUE(result.signature);
  EXPECT_FALSE(result.signature->valid);
  EXPECT_FALSE(result.signature->from_matches);
}

TEST(Smime, EightBitBodyIsBase64EncodedForDetachedSignatures) {
  std::string message = kPlainMessage;
  message.replace(message.find("Content-Type: text/plain; charset=us-ascii"), 42,
                  "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit");
  message +=
      "Gr\xc3\xbc\xc3\x9f"
      "e\n";
  std::string signed_message = sign(message, SignatureForm::Detached);
  EXPECT_EQ(signed_message.find("Gr\xc3\xbc"), std::string::npos) << "8-bit bytes must not travel raw";
  ReadResult result = read(signed_message);
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
}

// RFC 9788 covers signed-only messages too: the signed part carries the
// header fields (hp="clear"), so a reader can tell what a relay changed.
TEST(Smime, SignedMessagesCarryTheirHeaderFieldsInsideTheSignature) {
  for (SignatureForm form : {SignatureForm::Detached, SignatureForm::Opaque}) {
    std::string signed_message = sign(kPlainMessage, form);
    ReadResult result = read(signed_message);
    ASSERT_TRUE(result.signature);
    EXPECT_TRUE(result.signature->valid);
    EXPECT_TRUE(result.warnings.empty()) << "nothing differs yet: " << result.warnings.front();
    const std::string content = content_of(result);
    EXPECT_NE(content.find("hp=\"clear\""), std::string::npos) << content;
    EXPECT_NE(content.find("Subject: Lunch"), std::string::npos) << content;

    // A relay that rewrites the outer Subject changes nothing the reader
    // trusts: the difference is reported and the signed Subject stays.
    signed_message.replace(signed_message.find("Subject: Lunch"), 14, "Subject: Fired");
    ReadResult changed = read(signed_message);
    ASSERT_TRUE(changed.signature);
    EXPECT_TRUE(changed.signature->valid);
    EXPECT_TRUE(std::any_of(changed.warnings.begin(), changed.warnings.end(),
                            [](const std::string& warning) { return warning.find("Fired") != std::string::npos; }))
        << "the outer Subject that differs from the signed one is reported";
    EXPECT_NE(content_of(changed).find("Subject: Lunch"), std::string::npos);
  }
}

TEST(Smime, EncryptedAndSignedWithGcm) {
  std::string encrypted = encrypt(kPlainMessage, true, {ContentCipher::Aes256Gcm, true});
  EXPECT_NE(encrypted.find("smime-type=authEnveloped-data"), std::string::npos);
  EXPECT_NE(encrypted.find("Subject: [...]"), std::string::npos);
  EXPECT_EQ(encrypted.find("Lunch"), std::string::npos) << "the real Subject is protected";
  ReadResult result = read(encrypted, {bob().decryption()});
  EXPECT_TRUE(result.decrypted);
  EXPECT_TRUE(result.authenticated_encryption);
  EXPECT_EQ(result.content_cipher, "AES-256-GCM");
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
  const std::string content = content_of(result);
  EXPECT_NE(content.find("Subject: Lunch"), std::string::npos) << content;
  EXPECT_NE(content.find("hp=\"cipher\""), std::string::npos);
  // The sender can read her own mail.
  EXPECT_TRUE(read(encrypted, {alice().decryption()}).decrypted);
}

TEST(Smime, EncryptedWithCbcForLegacyRecipients) {
  std::string encrypted = encrypt(kPlainMessage, false, {ContentCipher::Aes256Cbc, false});
  EXPECT_NE(encrypted.find("smime-type=enveloped-data"), std::string::npos);
  ReadResult result = read(encrypted, {bob().decryption()});
  EXPECT_TRUE(result.decrypted);
  EXPECT_FALSE(result.authenticated_encryption);
  EXPECT_EQ(result.content_cipher, "AES-256-CBC");
  EXPECT_FALSE(result.signature.has_value());
}

TEST(Smime, NotForMeNamesTheRecipients) {
  std::string encrypted = encrypt(kPlainMessage, false, {ContentCipher::Aes256Cbc, false});
  auto carol = test::make_person("carol@example.net");
  try {
    read(encrypted, {carol.decryption()});
    FAIL() << "expected NoMatchingKey";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NoMatchingKey);
    EXPECT_NE(std::string(error.what()).find("issued by"), std::string::npos) << error.what();
  }
}

// Flips one bit of the decoded CMS at `offset` and re-encodes the message.
std::string flip_cms_bit(const std::string& message, std::size_t offset) {
  auto body_start = message.find("\r\n\r\n") + 4;
  Bytes der = mime::decode_base64(message.substr(body_start));
  der[offset % der.size()] ^= 0x10;
  return message.substr(0, body_start) + mime::encode_base64_lines(der);
}

std::size_t cms_size(const std::string& message) {
  return mime::decode_base64(message.substr(message.find("\r\n\r\n") + 4)).size();
}

// Whatever a flipped bit does, a result that claims to be authentic (AEAD or
// a valid signature) carries exactly the original message; flips elsewhere
// (another recipient's key, unused fields) may leave it readable and intact.
int expect_no_undetected_change(const std::string& encrypted) {
  ReadResult unchanged = read(encrypted, {bob().decryption()});
  const std::string original = content_of(unchanged);
  std::size_t size = cms_size(encrypted);
  int refused = 0;
  for (std::size_t offset = 0; offset < size; ++offset) {
    try {
      ReadResult result = read(flip_cms_bit(encrypted, offset), {bob().decryption()});
      bool claims_authentic = result.authenticated_encryption || (result.signature && result.signature->valid);
      if (claims_authentic) {
        EXPECT_EQ(content_of(result), original) << "a flip at byte " << offset << " changed authenticated content";
      } else {
        ++refused;
      }
    } catch (const Error&) {
      ++refused;
    }
  }
  return refused;
}

TEST(Smime, FlipsInGcmCiphertextAreAlwaysDetected) {
  std::string encrypted = encrypt(kPlainMessage, false, {ContentCipher::Aes256Gcm, false});
  EXPECT_GT(expect_no_undetected_change(encrypted), 0);
}

TEST(Smime, FlipsInSignedCbcMessagesAreDetected) {
  EXPECT_GT(expect_no_undetected_change(encrypt(kPlainMessage, true, {ContentCipher::Aes256Cbc, false})), 0);
}

TEST(Smime, FlipsInSignedGcmMessagesAreDetected) {
  EXPECT_GT(expect_no_undetected_change(encrypt(kPlainMessage, true, {ContentCipher::Aes256Gcm, true})), 0);
}

TEST(Smime, EcKeysSignAndEncrypt) {
  auto erin = test::make_person("erin@example.com", true);
  std::string message = kPlainMessage;
  message.replace(message.find("alice@example.com"), 17, "erin@example.com");
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = erin.signer();
  encrypt_message(outgoing, out, {{erin.encryption}, &signer, {ContentCipher::Aes256Gcm, false}}, mailseal::now());
  ReadResult result = read(out.text(), {erin.decryption()});
  EXPECT_TRUE(result.decrypted);
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
}

TEST(Smime, EveryClientGetsCbcWhateverIsAdvertised) {
  // Issue 12: Thunderbird 153 shows AES-GCM as a blank body, and a recipient
  // whose certificates advertised GCM when the sender learned them may read
  // with it now. By default every message is AES-256-CBC with RSA v1.5.
  Capabilities none;
  std::vector<EncryptionRecipient> modern = {{bob().encryption, Capabilities::mailseal()},
                                             {alice().encryption, Capabilities::mailseal()}};
  EXPECT_EQ(choose_encryption(modern, CipherPolicy::EveryClient).cipher, ContentCipher::Aes256Cbc);
  EXPECT_FALSE(choose_encryption(modern, CipherPolicy::EveryClient).rsa_oaep);
  std::vector<EncryptionRecipient> mixed = {{bob().encryption, none}, {alice().encryption, Capabilities::mailseal()}};
  EXPECT_EQ(choose_encryption(mixed, CipherPolicy::EveryClient).cipher, ContentCipher::Aes256Cbc);
}

TEST(Smime, GcmWhenAskedForAndEveryoneReadsIt) {
  Capabilities none;
  std::vector<EncryptionRecipient> modern = {{bob().encryption, Capabilities::mailseal()},
                                             {alice().encryption, Capabilities::mailseal()}};
  EXPECT_EQ(choose_encryption(modern, CipherPolicy::Authenticated).cipher, ContentCipher::Aes256Gcm);
  EXPECT_TRUE(choose_encryption(modern, CipherPolicy::Authenticated).rsa_oaep);
  Capabilities gcm_without_oaep = Capabilities::mailseal();
  gcm_without_oaep.rsaes_oaep = false;
  std::vector<EncryptionRecipient> no_oaep = {{bob().encryption, gcm_without_oaep},
                                              {alice().encryption, Capabilities::mailseal()}};
  EXPECT_EQ(choose_encryption(no_oaep, CipherPolicy::Authenticated).cipher, ContentCipher::Aes256Gcm);
  EXPECT_FALSE(choose_encryption(no_oaep, CipherPolicy::Authenticated).rsa_oaep);
  std::vector<EncryptionRecipient> mixed = {{bob().encryption, none}, {alice().encryption, Capabilities::mailseal()}};
  EXPECT_EQ(choose_encryption(mixed, CipherPolicy::Authenticated).cipher, ContentCipher::Aes256Cbc);
  EXPECT_FALSE(choose_encryption(mixed, CipherPolicy::Authenticated).rsa_oaep);
  std::vector<EncryptionRecipient> cbc_readers = {{bob().encryption, Capabilities::cbc_only()},
                                                  {alice().encryption, Capabilities::mailseal()}};
  EXPECT_EQ(choose_encryption(cbc_readers, CipherPolicy::Authenticated).cipher, ContentCipher::Aes256Cbc);
}

TEST(Smime, TheSubjectCanStayInClear) {
  MemorySource source(as_bytes(kPlainMessage));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = alice().signer();
  EncryptOptions options{{bob().encryption, alice().encryption}, &signer, {}, OuterSubject::Clear};
  encrypt_message(outgoing, out, options, mailseal::now());
  const std::string encrypted = out.take();
  const std::string outer = encrypted.substr(0, encrypted.find("\r\n\r\n"));
  EXPECT_NE(outer.find("Subject: Lunch"), std::string::npos) << outer;
  EXPECT_EQ(outer.find("[...]"), std::string::npos) << outer;
  ReadResult result = read(encrypted, {bob().decryption()});
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid);
  EXPECT_TRUE(result.warnings.empty()) << "the outer Subject is the protected one";
  const std::string content = content_of(result);
  EXPECT_NE(content.find("Subject: Lunch"), std::string::npos) << content;
  EXPECT_NE(content.find("hp=\"cipher\""), std::string::npos) << "still RFC 9788 header protection";
  EXPECT_EQ(content.find("[...]"), std::string::npos) << content;
}

TEST(Smime, TheSubjectIsObscuredByDefault) {
  const std::string encrypted = encrypt(kPlainMessage, true, {});
  const std::string outer = encrypted.substr(0, encrypted.find("\r\n\r\n"));
  EXPECT_NE(outer.find("Subject: [...]"), std::string::npos) << outer;
  EXPECT_EQ(encrypted.find("Lunch"), std::string::npos) << "the real Subject is only inside";
}

// RFC 9788 Legacy Display: what the encryption carries (opened here without
// the reader), and what the reader makes of it.
std::string plaintext_of(const std::string& encrypted) {
  const mime::Entity top = mime::Entity::parse(encrypted);
  return internal::decrypt_envelope(mime::decode_body(top), std::vector<DecryptionKey>{bob().decryption()}).plaintext;
}

std::string encrypt_with(const std::string& message, bool with_signature, OuterSubject subject) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = alice().signer();
  EncryptOptions options{{bob().encryption, alice().encryption}, with_signature ? &signer : nullptr,
                         {ContentCipher::Aes256Gcm, false}, subject};
  encrypt_message(outgoing, out, options, mailseal::now());
  return out.take();
}

const std::string kDated =
    "From: Alice <alice@example.com>\n"
    "To: Bob <bob@example.org>\n"
    "Date: Thu, 1 Jan 2026 12:00:00 +0000\n"
    "Message-ID: <lunch@example.com>\n";

TEST(Smime, EncryptedMessagesShowTheirSubjectAtTheTopOfTheBodyForLegacyClients) {
  const std::string encrypted = encrypt(kPlainMessage, true, {});
  const std::string plaintext = plaintext_of(encrypted);
  EXPECT_NE(plaintext.find("hp=\"cipher\"; hp-legacy-display=\"1\"\r\n"), std::string::npos) << plaintext;
  EXPECT_NE(plaintext.find("\r\n\r\nSubject: Lunch\r\n\r\nShall we meet at noon?\r\n"), std::string::npos)
      << plaintext;
  ReadResult result = read(encrypted, {bob().decryption()});
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid) << "the element is inside the signature";
  EXPECT_TRUE(result.warnings.empty());
  const std::string content = content_of(result);
  EXPECT_EQ(content.find("hp-legacy-display"), std::string::npos) << content;
  EXPECT_NE(content.find("charset=us-ascii; hp=\"cipher\"\r\n\r\nShall we meet at noon?\r\n"), std::string::npos)
      << content;
}

TEST(Smime, TheReaderGivesTheOriginalBodyOfEveryShape) {
  const std::vector<std::string> bodies = {
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xC3\xBC\xC3\x9F" "e\n",
      "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
      "<html><body>\n<p>Gr=C3=BC=C3=9Fe</p></body></html>\n",
      "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\nSGk=\n",
      "Content-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nHi\n"
      "--b\nContent-Type: text/html\n\n<p>Hi</p>\n--b--\n",
      "Content-Type: multipart/mixed; boundary=\"m\"\n\n--m\nContent-Type: text/plain\n\nHi\n"
      "--m\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERg==\n--m--\n",
      "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERg==\n",
  };
  for (const std::string& subject : {std::string("Lunch <at> noon & after"), std::string("=?utf-8?q?Caf=C3=A9?=")}) {
    const std::string head = kDated + "Subject: " + subject + "\n";
    for (const std::string& body : bodies) {
      for (bool with_signature : {true, false}) {
        const std::string obscured = encrypt_with(head + body, with_signature, OuterSubject::Obscured);
        const bool has_text = body.find("text/") != std::string::npos;
        EXPECT_EQ(plaintext_of(obscured).find("hp-legacy-display=\"1\"") != std::string::npos, has_text) << body;
        ReadResult with_element = read(obscured, {bob().decryption()});
        ReadResult without = read(encrypt_with(head + body, with_signature, OuterSubject::Clear), {bob().decryption()});
        EXPECT_TRUE(with_element.warnings.empty()) << body;
        const std::string content = content_of(with_element);
        EXPECT_EQ(content.find("hp-legacy-display"), std::string::npos) << content;
        if (subject.find("=?") == std::string::npos || body.find("charset=utf-8") != std::string::npos ||
            !has_text) {
          EXPECT_EQ(content, content_of(without)) << "byte for byte: " << body;
        } else {
          // A UTF-8 Subject in a us-ascii (or unlabelled) part: the part says
          // utf-8 and 8bit from then on; its text is the same.
          EXPECT_NE(content.find("charset=\"utf-8\""), std::string::npos) << content;
          const std::string before = content_of(without);
          const mime::Entity relabelled = mime::Entity::parse(content);
          const mime::Entity original = mime::Entity::parse(before);
          if (relabelled.content_type.is_multipart()) {
            EXPECT_EQ(relabelled.body.substr(relabelled.body.find("Hi\r\n")),
                      original.body.substr(original.body.find("Hi\r\n")));
          } else {
            EXPECT_EQ(mime::decode_body(relabelled), mime::decode_body(original));
          }
        }
      }
    }
  }
}

TEST(Smime, NoLegacyDisplayWhenNothingIsObscured) {
  const std::string clear = encrypt_with(kDated + "Subject: Lunch\n\nHi\n", true, OuterSubject::Clear);
  EXPECT_EQ(plaintext_of(clear).find("hp-legacy-display"), std::string::npos) << "--subject-in-clear";
  const std::string signed_only = sign(kPlainMessage, SignatureForm::Detached);
  EXPECT_EQ(signed_only.find("hp-legacy-display"), std::string::npos) << "hp=\"clear\" obscures nothing";
  EXPECT_NE(signed_only.find("\r\n\r\nShall we meet at noon?"), std::string::npos);
}

TEST(Smime, AnElementIsRemovedOnlyFromADecryptedPayloadAndOnlyWhenItRepeatsItsFields) {
  // Made by a sender other than mailseal: the mark and lines in the message
  // itself, encrypted with the Subject in clear, so mailseal adds nothing.
  const std::string head =
      kDated + "Subject: =?utf-8?q?Caf=C3=A9_<at>_noon?=\nContent-Type: text/plain; hp-legacy-display=\"1\"\n\n";
  ReadResult repeated =
      read(encrypt_with(head + "Subject: Caf\xC3\xA9 <at> noon\n\nHi\n", false, OuterSubject::Clear),
           {bob().decryption()});
  EXPECT_NE(content_of(repeated).find("\r\n\r\nHi\r\n"), std::string::npos);
  EXPECT_EQ(content_of(repeated).find("Subject: Caf\xC3\xA9 <at> noon\r\n\r\nHi"), std::string::npos);
  EXPECT_TRUE(repeated.warnings.empty());

  ReadResult hiding = read(encrypt_with(head + "X-Note: pay Mallory\n\nHi\n", false, OuterSubject::Clear),
                           {bob().decryption()});
  EXPECT_NE(content_of(hiding).find("\r\n\r\nX-Note: pay Mallory\r\n\r\nHi\r\n"), std::string::npos)
      << "kept: it is not a protected field";
  ASSERT_EQ(hiding.warnings.size(), 1u);
  EXPECT_NE(hiding.warnings[0].find("legacy display element"), std::string::npos);

  const std::string unmarked =
      kDated + "Subject: =?utf-8?q?Caf=C3=A9_<at>_noon?=\nContent-Type: text/plain\n\nSubject: Caf\xC3\xA9 <at> noon\n\nHi\n";
  ReadResult plain = read(encrypt_with(unmarked, false, OuterSubject::Clear), {bob().decryption()});
  EXPECT_NE(content_of(plain).find("\r\n\r\nSubject: Caf\xC3\xA9 <at> noon\r\n\r\nHi\r\n"), std::string::npos)
      << "no mark, no removal";

  // Signed only (hp="clear"): nothing was obscured, so nothing is removed.
  const std::string marked = head + "Subject: Caf\xC3\xA9 <at> noon\n\nHi\n";
  MemorySource source(as_bytes(marked));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), SignatureForm::Opaque, mailseal::now());
  ReadResult signed_only = read(out.take());
  EXPECT_NE(content_of(signed_only).find("\r\n\r\nSubject: Caf\xC3\xA9 <at> noon\r\n\r\nHi\r\n"), std::string::npos);
}

TEST(Smime, CapabilitiesRoundTrip) {
  Capabilities ours = Capabilities::mailseal();
  EXPECT_EQ(Capabilities::from_der(ours.to_der()), ours);
  EXPECT_EQ(Capabilities::parse(ours.to_string()), ours);
  EXPECT_FALSE(Capabilities::from_der(as_bytes("garbage")).advertised);
}

TEST(Smime, PartialSignatureDoesNotCount) {
  std::string signed_message = sign(kPlainMessage, SignatureForm::Detached);
  auto body = signed_message.substr(signed_message.find("Content-Type: multipart/signed"));
  std::string mixed =
      "From: alice@example.com\r\nTo: bob@example.org\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n"
      "Content-Type: text/plain\r\n\r\nUnsigned words an attacker added.\r\n--outer\r\n" +
      body + "\r\n--outer--\r\n";
  ReadResult result = read(mixed);
  EXPECT_FALSE(result.signature.has_value());
  ASSERT_FALSE(result.notes.empty());
  EXPECT_NE(result.notes.back().find("no signature covers the whole message"), std::string::npos);
}

TEST(Smime, BinaryPartSignedWithoutCanonicalisationVerifies) {
  // A peer may sign a binary part's exact bytes, lone LF and CR included.
  const std::string part =
      std::string("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n") +
      std::string("\x01\n\x02\r\x03\x00\xff", 7);
  auto signer = alice().signer();
  internal::DetachedSigner detached(signer);
  detached.content().write(part);
  Bytes signature = detached.finish();
  std::string message =
      "From: alice@example.com\r\nDate: " + mime::format_date(mailseal::now()) +
      "\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n"
      "--b\r\n" +
      part +
      "\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      mime::encode_base64_lines(signature) + "--b--\r\n";
  ReadResult result = read(message);
  ASSERT_TRUE(result.signature);
  EXPECT_TRUE(result.signature->valid) << (result.signature->problems.empty() ? "" : result.signature->problems[0]);
}

TEST(Smime, MalformedInputIsRefused) {
  EXPECT_THROW(read(""), Error);
  EXPECT_THROW(read("no headers here, just text"), Error);
  std::string broken =
      "From: alice@example.com\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nTUlJQ==\r\n";
  EXPECT_THROW(read(broken), Error);
  std::string three_parts =
      "From: alice@example.com\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
      "boundary=b\r\n\r\n--b\r\n\r\na\r\n--b\r\n\r\nb\r\n--b\r\n\r\nc\r\n--b--\r\n";
  EXPECT_THROW(read(three_parts), Error);
}

TEST(Sealed, RoundTripAndTampering) {
  test::Person device = test::make_person("device@example.org", true);  // an EC recipient (key agreement)
  const std::string secret = "the mail keys";
  std::vector<crypto::Certificate> recipients = {device.encryption, bob().encryption};
  Bytes sealed = seal(as_bytes(secret), alice().signer(), recipients);
  for (const auto& reader : {device.decryption(), bob().decryption()}) {
    std::vector<DecryptionKey> keys = {reader};
    Opened opened = open_sealed(sealed, keys);
    EXPECT_EQ(std::string(opened.content.begin(), opened.content.end()), secret);
    EXPECT_EQ(opened.signer, alice().signing);
  }
  std::vector<DecryptionKey> others = {alice().decryption()};
  EXPECT_THROW(open_sealed(sealed, others), Error) << "not a recipient";
  std::vector<DecryptionKey> keys = {device.decryption()};
  int refused = 0;
  for (std::size_t i = 0; i < sealed.size(); i += 7) {
    Bytes altered = sealed;
    altered[i] ^= 0x01;
    try {
      // Some bytes (another recipient's info) are not protected and not
      // needed: then the content and signer must be exactly the original.
      Opened opened = open_sealed(altered, keys);
      EXPECT_EQ(std::string(opened.content.begin(), opened.content.end()), secret) << "byte " << i;
      EXPECT_EQ(opened.signer, alice().signing) << "byte " << i;
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_THROW(open_sealed(ByteView(sealed).first(sealed.size() / 2), keys), Error) << "truncated";
}

}  // namespace
}  // namespace mailseal::smime
