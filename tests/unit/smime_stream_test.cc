// Streaming decryption (issue 15): the incremental BER reader on hand-made
// BER, strict where BER is broken; the envelope read as a stream, from DER
// and from BER re-encoded with indefinite lengths and chunks of any size; and
// read_message from a stream, a large message's content decrypted into a
// temporary file that holds it until released and leaves nothing behind
// otherwise.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/obj_mac.h>

#include "mailseal/common/error.h"
#include "mailseal/smime/smime.h"
#include "fuzz/drip_source.h"
#include "scratch.h"
#include "smime/internal/ber_reader.h"
#include "smime/internal/cms.h"
#include "smime/internal/envelope_reader.h"
#include "smime/internal/reading.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

using internal::BerReader;
using test::alice;
using test::bob;
using test::ScratchDirectory;
using fuzz::DripSource;

std::string streamed_octets(BerReader& reader) {
  reader.begin_octets();
  std::string out;
  std::uint8_t buffer[5];
  while (std::size_t n = reader.read_octets(buffer))
    out.append(reinterpret_cast<const char*>(buffer), n);
  return out;
}

TEST(BerReader, ReadsDefiniteAndIndefiniteLengthsAndChunkedOctetStringsAcrossAnyReadSize) {
  // SEQUENCE (indefinite) { INTEGER 5, OCTET STRING (constructed, indefinite)
  // { "ab", "", OCTET STRING (constructed, definite) { "cde" } }, SET (definite) {} }
  const Bytes ber = from_hex("3080020105" "2480" "04026162" "0400" "2405" "0403636465" "0000" "3100" "0000");
  for (std::size_t step : {1, 2, 3, 7, 1000}) {
    DripSource source(ber, step);
    BerReader reader(source, ber.size());
    auto sequence = reader.next();
    ASSERT_TRUE(sequence);
    EXPECT_TRUE(sequence->is_universal(internal::kTagSequence));
    EXPECT_FALSE(sequence->length) << "indefinite";
    reader.enter();
    ASSERT_TRUE(reader.next());
    EXPECT_EQ(reader.read_primitive(8, "integer"), Bytes{5});
    auto octets = reader.next();
    ASSERT_TRUE(octets && octets->constructed);
    EXPECT_EQ(streamed_octets(reader), "abcde") << "read " << step << " bytes at a time";
    auto set = reader.next();
    ASSERT_TRUE(set);
    EXPECT_EQ(reader.read_element(16, "set"), from_hex("3100"));
    EXPECT_FALSE(reader.next()) << "the end-of-contents ends the sequence";
    reader.leave();
    reader.finish();
    EXPECT_EQ(reader.position(), ber.size());
  }
}

TEST(BerReader, KeepsAnIndefiniteElementAsReadWhenTakenWhole) {
  const Bytes ber = from_hex("30800201053000" "0000");
  MemorySource source(ber);
  BerReader reader(source, ber.size());
  ASSERT_TRUE(reader.next());
  EXPECT_EQ(reader.read_element(64, "sequence"), ber);
  reader.finish();
}

// Each walks the input as a ContentInfo reader would: every element entered
// or taken, then finish().
void walk_element(BerReader& reader, const internal::BerHeader& header) {
  if (header.is_universal(internal::kTagOctetString)) {
    streamed_octets(reader);
  } else if (header.constructed) {
    reader.enter();
    while (auto child = reader.next())
      walk_element(reader, *child);
    reader.leave();
  } else {
    reader.read_primitive(1 << 20, "element");
  }
}

void walk_all(ByteView ber) {
  MemorySource source(ber);
  BerReader reader(source, 1 << 20);
  auto header = reader.next();
  ASSERT_TRUE(header);
  walk_element(reader, *header);
  reader.finish();
}

TEST(BerReader, RefusesWhatIsNotBer) {
  const struct {
    const char* hex;
    const char* why;
  } cases[] = {
      {"3005020105", "the sequence ends before its length (truncated)"},
      {"30050201050000", "an end-of-contents in a definite-length element"},
      {"300402030102", "an element longer than the element that holds it"},
      {"0480", "a primitive element with an indefinite length"},
      {"30ff", "the reserved length octet"},
      {"3089010000000000000000", "a length of 9 octets"},
      {"1f0500", "a small tag number in the long form"},
      {"1f800100", "a long-form tag number with a leading zero octet"},
      {"0000", "an end-of-contents at the top"},
      {"30800201050001", "an end-of-contents with a length"},
      {"3080020105", "an indefinite length without its end-of-contents"},
      {"2480020105" "0000", "a constructed OCTET STRING holding an INTEGER"},
      {"3000" "00", "a byte after the outermost element"},
      {"3000" "3000", "a second outermost element"},
  };
  for (const auto& c : cases) {
    try {
      walk_all(from_hex(c.hex));
      ADD_FAILURE() << "accepted: " << c.why;
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed) << c.why;
      EXPECT_NE(std::string(error.what()).find("BER"), std::string::npos) << error.what();
    }
  }
}

TEST(BerReader, RefusesNestingDeeperThanItsLimit) {
  std::string within, beyond;
  for (std::size_t i = 0; i < internal::kMaxBerNesting; ++i)
    within += "3080";
  for (std::size_t i = 0; i < internal::kMaxBerNesting; ++i)
    within += "0000";
  EXPECT_NO_THROW(walk_all(from_hex(within)));
  beyond = "3080" + within + "0000";
  EXPECT_THROW(walk_all(from_hex(beyond)), Error);
}

TEST(BerReader, RefusesAnElementLongerThanItsSizeLimit) {
  const Bytes ber = from_hex("0405616263646500");
  MemorySource source(ber);
  BerReader reader(source, 4);
  EXPECT_THROW(reader.next(), Error) << "an element past the reader's size limit is refused at its header";
}

// ---- the envelope ----

const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: Lunch\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n";

std::string encrypt(const std::string& message, ContentCipher cipher, bool with_signature) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = alice().signer();
  EncryptOptions options{{bob().encryption}, with_signature ? &signer : nullptr, {cipher, false}};
  encrypt_message(outgoing, out, options, mailseal::now());
  return out.take();
}

Bytes envelope_of(const std::string& message) { return mime::decode_body(mime::Entity::parse(message)); }

std::vector<DecryptionKey> bobs_keys() { return {bob().decryption()}; }

using Parts = internal::EnvelopeContents;

Parts take_apart(ByteView der) {
  MemorySource source(der);
  return internal::read_envelope(source, der.size());
}

void append(Bytes& out, std::string_view hex) {
  Bytes bytes = from_hex(hex);
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void append(Bytes& out, ByteView bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

void append_octet_string(Bytes& out, ByteView contents) {
  out.push_back(0x04);
  if (contents.size() < 0x80) {
    out.push_back(static_cast<std::uint8_t>(contents.size()));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(contents.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(contents.size()));
  }
  append(out, contents);
}

// The same envelope in BER as a streaming encoder writes it: indefinite
// lengths everywhere, the encrypted content in chunks of `chunk` bytes, every
// third chunk (and an empty one) nested one constructed level deeper.
Bytes as_streamed_ber(const Parts& parts, std::size_t chunk, ByteView auth_attributes = {}) {
  Bytes out;
  append(out, "3080");
  append(out, parts.type);
  append(out, "a0803080");
  append(out, parts.head.version);
  append(out, parts.head.originator_info);
  append(out, parts.head.recipient_infos);
  append(out, "3080");
  append(out, parts.head.content_type);
  append(out, parts.head.algorithm);
  append(out, "a080");
  for (std::size_t offset = 0, index = 0; offset < parts.ciphertext.size(); offset += chunk, ++index) {
    ByteView piece = ByteView(parts.ciphertext).subspan(offset, std::min(chunk, parts.ciphertext.size() - offset));
    if (index % 3 == 2) {
      append(out, "2480");
      append_octet_string(out, {});
      append_octet_string(out, piece);
      append(out, "0000");
    } else {
      append_octet_string(out, piece);
    }
  }
  append(out, "0000" "0000");  // the content, the encrypted content information
  append(out, auth_attributes);
  if (!parts.tail.mac.empty())
    append_octet_string(out, parts.tail.mac);
  append(out, "0000" "0000" "0000");
  return out;
}

std::string decrypt_streamed(ByteView envelope, std::size_t step) {
  DripSource source(envelope, step);
  StringSink plaintext;
  auto sinks = [&](std::size_t candidate) -> ByteSink& {
    EXPECT_EQ(candidate, 0u) << "one way in for Bob";
    return plaintext;
  };
  internal::StreamedDecryption result = internal::decrypt_envelope_stream(source, bobs_keys(), sinks);
  EXPECT_EQ(result.candidate, 0u);
  return plaintext.take();
}

TEST(EnvelopeStream, BerWithIndefiniteLengthsAndChunksOfAnySizeDecryptsLikeDer) {
  for (ContentCipher cipher : {ContentCipher::Aes256Gcm, ContentCipher::Aes256Cbc}) {
    const Bytes der = envelope_of(encrypt(kMessage, cipher, false));
    const std::string expected = internal::decrypt_envelope(der, bobs_keys()).plaintext;
    ASSERT_NE(expected.find("Shall we meet at noon?"), std::string::npos);
    EXPECT_EQ(decrypt_streamed(der, 1), expected) << "DER, one byte at a time";
    const Parts parts = take_apart(der);
    EXPECT_EQ(parts.head.recipient_count, 1u);
    for (std::size_t chunk : {1, 3, 16, 1000}) {
      const Bytes ber = as_streamed_ber(parts, chunk);
      EXPECT_EQ(decrypt_streamed(ber, 7), expected) << to_string(cipher) << ", chunks of " << chunk;
      EXPECT_EQ(internal::decrypt_envelope(ber, bobs_keys()).plaintext, expected);
    }
  }
}

TEST(EnvelopeStream, BytesAfterTheEnvelopeAreRefused) {
  Bytes der = envelope_of(encrypt(kMessage, ContentCipher::Aes256Gcm, false));
  der.push_back(0);
  try {
    internal::decrypt_envelope(der, bobs_keys());
    FAIL() << "trailing garbage accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Malformed);
    EXPECT_NE(std::string(error.what()).find("bytes follow the end"), std::string::npos) << error.what();
  }
}

TEST(EnvelopeStream, AuthenticatedAttributesAreRefusedNotIgnored) {
  // RFC 5083: authAttrs are authenticated with the content; OpenSSL 3.0
  // leaves them out of the tag, so mailseal refuses them rather than guess.
  const Parts parts = take_apart(envelope_of(encrypt(kMessage, ContentCipher::Aes256Gcm, false)));
  // [1] { Attribute { contentType OID, SET { id-data } } }
  const Bytes attributes = from_hex("a11a301806092a864886f70d010903310b06092a864886f70d010701");
  try {
    internal::decrypt_envelope(as_streamed_ber(parts, 100, attributes), bobs_keys());
    FAIL() << "authAttrs accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Unsupported) << error.what();
  }
}

TEST(EnvelopeStream, AFlippedByteInTheLastChunkOrTheTagFailsAtTheEnd) {
  const Parts parts = take_apart(envelope_of(encrypt(kMessage, ContentCipher::Aes256Gcm, false)));
  Parts flipped = parts;
  flipped.ciphertext.back() ^= 1;
  EXPECT_THROW(internal::decrypt_envelope(as_streamed_ber(flipped, 16), bobs_keys()), Error);
  flipped = parts;
  flipped.tail.mac.front() ^= 0x80;
  try {
    internal::decrypt_envelope(as_streamed_ber(flipped, 16), bobs_keys());
    FAIL() << "a wrong tag accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::BadSignature);
    EXPECT_NE(std::string(error.what()).find("authentication tag"), std::string::npos) << error.what();
  }
}

TEST(EnvelopeStream, ASignedMessageIsNotAnEnvelope) {
  MemorySource source(as_bytes(kMessage));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), SignatureForm::Opaque, mailseal::now());
  const Bytes der = envelope_of(out.take());
  MemorySource der_source(der);
  BerReader reader(der_source, der.size());
  EXPECT_EQ(internal::read_content_info_type(reader), NID_pkcs7_signed);
  EXPECT_THROW(internal::decrypt_envelope(der, bobs_keys()), Error);
}

// ---- read_message from a stream ----

std::string large_message(std::size_t megabytes) {
  std::string message = kMessage;
  const std::string line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  while (message.size() < megabytes * 1024 * 1024)
    message += line;
  return message;
}

struct Streamed {
  ReadResult result;
  std::string content;  // as Release::write_to writes it
};

Streamed read_streamed(const std::string& message, const std::filesystem::path& spool, bool expect_spooled) {
  DripSource source(as_bytes(message), 100000);
  auto keys = bobs_keys();
  struct Fixed : KeyProvider {
    std::vector<DecryptionKey> fixed;
    std::span<const DecryptionKey> keys() override { return fixed; }
  } provider;
  provider.fixed = keys;
  Streamed streamed{read_message(source, provider, Policy::standard(mailseal::now()), spool), ""};
  EXPECT_EQ(streamed.result.content.spooled(), expect_spooled);
  Release release = Release::of_decrypted(streamed.result, BadSignature::Release, Unauthenticated::Release);
  StringSink out;
  release.write_to(out);
  streamed.content = out.take();
  return streamed;
}

std::string in_memory_content(const std::string& message) {
  ReadResult result = read_message(as_bytes(message), bobs_keys(), Policy::standard(mailseal::now()));
  return Release::of_decrypted(result, BadSignature::Release, Unauthenticated::Release).content();
}

TEST(StreamRead, ALargeGcmMessageStaysInItsTemporaryFileAndReadsAsInMemory) {
  ScratchDirectory scratch;
  const std::string encrypted = encrypt(large_message(6), ContentCipher::Aes256Gcm, false);
  ASSERT_GT(encrypted.size(), kStreamAbove);
  Streamed streamed = read_streamed(encrypted, scratch / "out.eml", true);
  EXPECT_TRUE(streamed.result.decrypted);
  EXPECT_TRUE(streamed.result.authenticated_encryption);
  EXPECT_EQ(streamed.result.content_cipher, "AES-256-GCM");
  EXPECT_EQ(streamed.content, in_memory_content(encrypted));
  EXPECT_EQ(streamed.content.find("Subject: Lunch\r\n\r\n"), std::string::npos) << "the legacy display is removed";
  EXPECT_TRUE(scratch.names().empty()) << "the temporary file is gone once the release is";
}

// The signature inside streams too, from the decrypted file; the content
// released is what reading the message in memory releases.
TEST(StreamRead, ALargeSignedMessageStreamsThroughBothLayers) {
  ScratchDirectory scratch;
  const std::string encrypted = encrypt(large_message(5), ContentCipher::Aes256Cbc, true);
  Streamed streamed = read_streamed(encrypted, scratch / "out.eml", true);
  ASSERT_TRUE(streamed.result.signature);
  EXPECT_TRUE(streamed.result.signature->valid);
  EXPECT_EQ(streamed.content, in_memory_content(encrypted));
  EXPECT_TRUE(scratch.names().empty());
}

TEST(StreamRead, ALargeAlteredMessageIsRefusedAndLeavesNoFileBehind) {
  ScratchDirectory scratch;
  std::string encrypted = encrypt(large_message(5), ContentCipher::Aes256Gcm, false);
  // A base64 character near the end, in the ciphertext: the tag decides at the end.
  std::size_t position = encrypted.size() - 300;
  while (encrypted[position] == '\r' || encrypted[position] == '\n')
    --position;
  encrypted[position] = encrypted[position] == 'A' ? 'B' : 'A';
  try {
    read_streamed(encrypted, scratch / "out.eml", false);
    FAIL() << "an altered message was read";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::BadSignature) << error.what();
  }
  EXPECT_TRUE(scratch.names().empty()) << "the partial plaintext is deleted";
}

// Encryption of a large message hands its base64 and its output to a second
// thread (past 4 MiB): an output that fails there (a full disk) stops the
// encryption with that error, in the caller's thread.
TEST(EncryptStream, AnOutputErrorOnTheEncodingThreadReachesTheCaller) {
  constexpr std::size_t kCapacity = 6 * 1024 * 1024;
  class FullDisk : public ByteSink {
   public:
    using ByteSink::write;
    void write(ByteView bytes) override {
      if (received_ + bytes.size() > kCapacity) {
        failed_on_ = std::this_thread::get_id();
        throw Error(ErrorCode::Io, "cannot write the output: No space left on device");
      }
      received_ += bytes.size();
    }
    std::size_t received_ = 0;
    std::thread::id failed_on_;
  };
  const std::string message = large_message(12);
  for (bool with_signature : {false, true}) {
    MemorySource source(as_bytes(message));
    OutgoingMessage outgoing = OutgoingMessage::read(source);
    FullDisk out;
    auto signer = alice().signer();
    EncryptOptions options{{bob().encryption}, with_signature ? &signer : nullptr, {ContentCipher::Aes256Gcm, false}};
    try {
      encrypt_message(outgoing, out, options, mailseal::now());
      FAIL() << "12 MB encrypted into an output that takes 6 MB";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Io) << error.what();
      EXPECT_NE(std::string(error.what()).find("No space left"), std::string::npos) << error.what();
    }
    EXPECT_LE(out.received_, kCapacity);
    EXPECT_NE(out.failed_on_, std::thread::id()) << "the output failed";
    EXPECT_NE(out.failed_on_, std::this_thread::get_id()) << "the failure came from the second thread's writes";
  }
}

// The base64 of a large encryption, written by the second thread, is the
// ciphertext in order: OpenSSL's parser reads the envelope, and it decrypts
// (the GCM tag covers every byte) to the message's body, whole.
TEST(EncryptStream, ALargeEncryptionIsWrittenInOrder) {
  const std::string message = large_message(9);
  const std::string encrypted = encrypt(message, ContentCipher::Aes256Gcm, false);
  const Bytes der = envelope_of(encrypted);
  ASSERT_GT(der.size(), std::size_t{8} << 20);
  EXPECT_NO_THROW(internal::read_cms(der));
  const std::string plaintext = internal::decrypt_envelope(der, bobs_keys()).plaintext;
  const std::string body = message.substr(message.find("\r\n\r\n") + 4);
  ASSERT_GE(plaintext.size(), body.size());
  EXPECT_EQ(plaintext.substr(plaintext.size() - body.size()), body) << "the body, whole and in order, ends the content";
}

TEST(StreamRead, ASmallMessageIsReadAsInMemory) {
  ScratchDirectory scratch;
  const std::string encrypted = encrypt(kMessage, ContentCipher::Aes256Gcm, false);
  Streamed streamed = read_streamed(encrypted, scratch / "out.eml", false);
  EXPECT_EQ(streamed.content, in_memory_content(encrypted));
  EXPECT_TRUE(scratch.names().empty());
}

}  // namespace
}  // namespace mailseal::smime
