// Streaming verification of opaque signed messages (issue 15): the
// signed-data read as a stream (read_signed_stream) from DER and from BER with
// indefinite lengths and chunks of any size; read_message from a stream, a
// large message's content digested into a temporary file that is released
// only under a valid signature; and hostile input (truncated, altered content,
// altered signed attributes, two signers one bad, nesting past the limit, too
// many certificates), each refused or judged invalid as the message read whole
// is, with no file left behind.

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/smime/smime.h"
#include "fuzz/drip_source.h"
#include "scratch.h"
#include "smime/internal/envelope_reader.h"
#include "smime/internal/multipart_stream.h"
#include "smime/internal/signed_reader.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

using test::alice;
using test::bob;
using test::ScratchDirectory;
using fuzz::DripSource;

const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: Lunch\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n";

std::string large_message(std::size_t megabytes) {
  std::string message = kMessage;
  const std::string line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  while (message.size() < megabytes * 1024 * 1024)
    message += line;
  return message;
}

std::string sign_opaque(const std::string& message) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), SignatureForm::Opaque, mailseal::now());
  return out.take();
}

Bytes signed_data_of(const std::string& message) { return mime::decode_body(mime::Entity::parse(message)); }

// A message around signed-data `der`, as mailseal writes one.
std::string wrap(ByteView der) {
  StringSink body;
  Base64Sink base64(body);
  base64.write(der);
  base64.finish();
  return "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: Lunch\r\nMIME-Version: 1.0\r\n"
         "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" +
         body.take();
}

struct NoKeys : KeyProvider {
  std::span<const DecryptionKey> keys() override { return {}; }
};

struct Streamed {
  ReadResult result;
  std::optional<std::string> content;  // as Release::write_to writes it, when released
  bool spooled = false;                // the content stayed in its temporary file
};

Streamed verify_streamed(const std::string& message, const std::filesystem::path& spool) {
  DripSource source(as_bytes(message), 100000);
  NoKeys keys;
  Streamed streamed{read_message(source, keys, Policy::standard(mailseal::now()), spool), std::nullopt, false};
  streamed.spooled = streamed.result.content.spooled();
  Release release = Release::of_verified(streamed.result);
  if (release.released()) {
    StringSink out;
    release.write_to(out);
    streamed.content = out.take();
  }
  return streamed;
}

Streamed verify_in_memory(const std::string& message) {
  NoKeys keys;
  Streamed read{read_message(as_bytes(message), keys, Policy::standard(mailseal::now())), std::nullopt, false};
  Release release = Release::of_verified(read.result);
  if (release.released())
    read.content = release.content();
  return read;
}

// The verdicts of the two paths are the same.
void expect_same_verdict(const ReadResult& streamed, const ReadResult& whole) {
  ASSERT_EQ(streamed.signature.has_value(), whole.signature.has_value());
  if (!whole.signature)
    return;
  EXPECT_EQ(streamed.signature->valid, whole.signature->valid);
  EXPECT_EQ(streamed.signature->problems, whole.signature->problems);
  EXPECT_EQ(streamed.signature->digest, whole.signature->digest);
  EXPECT_EQ(streamed.signature->form, whole.signature->form);
  EXPECT_EQ(streamed.signature->signing_time, whole.signature->signing_time);
  EXPECT_EQ(streamed.signature->certificates.size(), whole.signature->certificates.size());
  EXPECT_EQ(streamed.signature->signer.has_value(), whole.signature->signer.has_value());
  EXPECT_EQ(streamed.identity_problems, whole.identity_problems);
  EXPECT_EQ(streamed.warnings, whole.warnings);
  EXPECT_EQ(streamed.notes, whole.notes);
}

// A base64 character of the content, `from_end` characters before the end.
void flip_base64(std::string& message, std::size_t from_end) {
  std::size_t position = message.size() - from_end;
  while (message[position] == '\r' || message[position] == '\n')
    --position;
  message[position] = message[position] == 'A' ? 'B' : 'A';
}

// ---- the signed-data read as a stream ----

TEST(SignedStream, TakesTheContentApartAsOpenSslDoesFromDerAcrossAnyReadSize) {
  const Bytes der = signed_data_of(sign_opaque(kMessage));
  for (std::size_t step : {1, 7, 1000, 1 << 20}) {
    DripSource source(der, step);
    StringSink content;
    internal::StreamedSignedData streamed = internal::read_signed_stream(source, der.size(), content);
    EXPECT_TRUE(streamed.has_content);
    EXPECT_TRUE(streamed.data_content);
    EXPECT_EQ(streamed.signer_count, 1u);
    EXPECT_EQ(streamed.content_size, content.text().size());
    EXPECT_NE(content.text().find("Shall we meet at noon?"), std::string::npos) << "read " << step << " at a time";
    unsigned char sha256[32];
    SHA256(reinterpret_cast<const unsigned char*>(content.text().data()), content.text().size(), sha256);
    EXPECT_EQ(streamed.digests.value(NID_sha256), Bytes(sha256, sha256 + 32));
  }
}

// The same structure in DER (OpenSSL's parser and encoder).
Bytes to_der(ByteView ber) {
  const unsigned char* cursor = ber.data();
  ossl::Cms cms(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(ber.size())));
  EXPECT_TRUE(cms);
  unsigned char* out = nullptr;
  int length = i2d_CMS_ContentInfo(cms.get(), &out);
  ossl::OpensslString owner(reinterpret_cast<char*>(out));
  return Bytes(out, out + length);
}

TEST(SignedStream, BerWithIndefiniteLengthsAndAChunkedContentReadsLikeDer) {
  // mailseal signs as a streaming encoder does (indefinite lengths, the
  // content in chunks); OpenSSL re-encodes that in DER.
  const Bytes ber = signed_data_of(sign_opaque(large_message(1)));
  const Bytes der = to_der(ber);
  ASSERT_EQ(ber[1], 0x80) << "indefinite length";
  ASSERT_NE(der[1], 0x80);
  StringSink from_der, from_ber;
  MemorySource der_source(der), ber_source(ber);
  auto a = internal::read_signed_stream(der_source, der.size(), from_der);
  auto b = internal::read_signed_stream(ber_source, ber.size(), from_ber);
  EXPECT_EQ(from_der.text(), from_ber.text());
  EXPECT_EQ(a.digests.value(NID_sha256), b.digests.value(NID_sha256));
  EXPECT_EQ(to_der(a.detached_info), to_der(b.detached_info)) << "the same certificates and signer";
}

TEST(SignedStream, AnEnvelopeIsNotSignedData) {
  MemorySource source(as_bytes(kMessage));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  EncryptOptions options{{bob().encryption}, nullptr, {ContentCipher::Aes256Gcm, false}};
  encrypt_message(outgoing, out, options, mailseal::now());
  const Bytes der = signed_data_of(out.take());
  MemorySource der_source(der);
  StringSink content;
  EXPECT_THROW(internal::read_signed_stream(der_source, der.size(), content), Error);
}

// The start of a signed-data whose content is `content_ber` (the
// [0] EXPLICIT element's contents), up to where the certificates begin.
Bytes signed_head(std::string_view content_hex) {
  return from_hex(std::string("3080" "06092a864886f70d010702" "a080" "3080" "020101" "310f300d06096086480165030402010500"
                              "3080" "06092a864886f70d010701") +
                  std::string(content_hex));
}

void expect_malformed(const Bytes& der, std::string_view why) {
  MemorySource source(der);
  StringSink content;
  try {
    internal::read_signed_stream(source, der.size(), content);
    ADD_FAILURE() << why << ": read";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Malformed) << why << ": " << error.what();
  }
}

TEST(SignedStream, RefusesNestingPastItsLimitAndTooManyCertificatesAndTruncation) {
  std::string deep = "a080";
  for (int i = 0; i < 40; ++i)
    deep += "2480";
  expect_malformed(signed_head(deep), "a content nested 40 levels deep");
  // Certificates: 2 MiB of them, and 65 small ones.
  Bytes huge = signed_head("a080040161" "0000" "0000");
  const Bytes certificates_header = from_hex("a083200000");
  huge.insert(huge.end(), certificates_header.begin(), certificates_header.end());
  huge.resize(huge.size() + 2 * 1024 * 1024, 0);
  expect_malformed(huge, "2 MiB of certificates");
  Bytes many = signed_head("a080040161" "0000" "0000");
  const Bytes many_header = from_hex("a082");
  std::string certificates;
  for (int i = 0; i < 65; ++i)
    certificates += "3000";
  Bytes list = from_hex(certificates);
  many.insert(many.end(), many_header.begin(), many_header.end());
  many.push_back(static_cast<std::uint8_t>(list.size() >> 8));
  many.push_back(static_cast<std::uint8_t>(list.size()));
  many.insert(many.end(), list.begin(), list.end());
  const Bytes rest = from_hex("3100" "0000" "0000" "0000");
  many.insert(many.end(), rest.begin(), rest.end());
  expect_malformed(many, "65 certificates");
  const Bytes der = signed_data_of(sign_opaque(kMessage));
  for (std::size_t cut : {der.size() / 2, der.size() - 1})
    expect_malformed(Bytes(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(cut)), "truncated");
  Bytes trailing = der;
  trailing.push_back(0x30);
  expect_malformed(trailing, "a byte after the structure");
}

// ---- read_message from a stream ----

TEST(SignedStreamRead, ALargeSignedMessageStaysInItsTemporaryFileAndVerifiesAsInMemory) {
  ScratchDirectory scratch;
  const std::string message = sign_opaque(large_message(6));
  ASSERT_GT(message.size(), kStreamAbove);
  Streamed streamed = verify_streamed(message, scratch / "out.eml");
  Streamed whole = verify_in_memory(message);
  ASSERT_TRUE(streamed.result.signature);
  EXPECT_TRUE(streamed.result.signature->valid) << streamed.result.signature->problems.front();
  expect_same_verdict(streamed.result, whole.result);
  EXPECT_TRUE(streamed.spooled) << "a text part stays in its file";
  ASSERT_TRUE(streamed.content && whole.content);
  EXPECT_EQ(*streamed.content, *whole.content);
  EXPECT_TRUE(scratch.names().empty()) << "the temporary file is gone once the release is";
}

TEST(SignedStreamRead, AlteredContentIsJudgedAsInMemoryAndNothingIsReleasedOrLeftBehind) {
  ScratchDirectory scratch;
  std::string message = sign_opaque(large_message(5));
  // A character in the middle of the content, then one near its end.
  for (std::size_t from_end : {message.size() / 2, std::size_t{4000}}) {
    std::string altered = message;
    flip_base64(altered, from_end);
    Streamed streamed = verify_streamed(altered, scratch / "out.eml");
    ASSERT_TRUE(streamed.result.signature);
    EXPECT_FALSE(streamed.result.signature->valid);
    EXPECT_FALSE(streamed.content) << "nothing is released";
    expect_same_verdict(streamed.result, verify_in_memory(altered).result);
    EXPECT_TRUE(scratch.names().empty()) << "the content is deleted";
  }
}

// Signs `content` with OpenSSL as Alice, and as Bob too when `two_signers`;
// `alter` changes the structure before it is encoded.
Bytes sign_with_openssl(const std::string& content, bool two_signers,
                        const std::function<void(CMS_ContentInfo*)>& alter) {
  ossl::Bio data(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
  const unsigned int flags = CMS_PARTIAL | CMS_BINARY;
  ossl::Cms cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  EXPECT_TRUE(CMS_add1_signer(cms.get(), alice().signing.native(), alice().signing_key.native(), EVP_sha256(), flags));
  if (two_signers) {
    EXPECT_TRUE(CMS_add1_signer(cms.get(), bob().signing.native(), bob().signing_key.native(), EVP_sha256(), flags));
  }
  EXPECT_EQ(CMS_final(cms.get(), data.get(), nullptr, flags), 1);
  alter(cms.get());
  unsigned char* out = nullptr;
  int length = i2d_CMS_ContentInfo(cms.get(), &out);
  ossl::OpensslString owner(reinterpret_cast<char*>(out));
  return Bytes(out, out + length);
}

void flip_signature(CMS_ContentInfo* cms, int signer) {
  ASN1_OCTET_STRING* signature =
      CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), signer));
  signature->data[10] ^= 1;
}

TEST(SignedStreamRead, AlteredSignedAttributesAndTwoSignersOneBadAreJudgedAsInMemory) {
  ScratchDirectory scratch;
  const std::string content = large_message(5);
  struct Case {
    std::string name;
    bool two_signers;
    std::function<void(CMS_ContentInfo*)> alter;
  };
  const std::vector<Case> cases = {
      {"an altered signed attribute", false,
       [](CMS_ContentInfo* cms) {
         CMS_SignerInfo* info = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
         const int index = CMS_signed_get_attr_by_NID(info, NID_pkcs9_signingTime, -1);
         ASSERT_GE(index, 0);
         ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(info, index), 0);
         ASSERT_TRUE(ASN1_TIME_set(value->value.utctime, 86400));
       }},
      {"an altered signature", false, [](CMS_ContentInfo* cms) { flip_signature(cms, 0); }},
      {"two signers, the second bad", true, [](CMS_ContentInfo* cms) { flip_signature(cms, 1); }},
      {"two good signers", true, [](CMS_ContentInfo*) {}},
  };
  for (const Case& c : cases) {
    const std::string message = wrap(sign_with_openssl(content, c.two_signers, c.alter));
    ASSERT_GT(message.size(), kStreamAbove);
    Streamed streamed = verify_streamed(message, scratch / "out.eml");
    ASSERT_TRUE(streamed.result.signature) << c.name;
    EXPECT_FALSE(streamed.result.signature->valid) << c.name;
    EXPECT_FALSE(streamed.content) << c.name;
    SCOPED_TRACE(c.name);
    expect_same_verdict(streamed.result, verify_in_memory(message).result);
    EXPECT_TRUE(scratch.names().empty()) << c.name;
  }
}

TEST(SignedStreamRead, ATruncatedOrDeeplyNestedMessageIsRefusedAndLeavesNoFileBehind) {
  ScratchDirectory scratch;
  std::string truncated = sign_opaque(large_message(5));
  truncated.resize(truncated.size() / 2);
  truncated.resize(truncated.rfind('\n') + 1);
  std::string deep = "a080";
  for (int i = 0; i < 40; ++i)
    deep += "2480";
  Bytes nested = signed_head(deep);
  nested.resize(5 * 1024 * 1024, 0x04);
  for (const std::string& message : {truncated, wrap(nested)}) {
    try {
      verify_streamed(message, scratch / "out.eml");
      ADD_FAILURE() << "read";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed) << error.what();
    }
    EXPECT_TRUE(scratch.names().empty()) << "the partial content is deleted";
  }
}

TEST(SignedStreamRead, ASmallSignedMessageIsReadAsInMemory) {
  ScratchDirectory scratch;
  const std::string message = sign_opaque(kMessage);
  Streamed streamed = verify_streamed(message, scratch / "out.eml");
  ASSERT_TRUE(streamed.result.signature);
  EXPECT_TRUE(streamed.result.signature->valid);
  EXPECT_FALSE(streamed.spooled);
  EXPECT_EQ(streamed.content, verify_in_memory(message).content);
}


// ---- multipart/signed read as a stream ----

// What read_detached_parts makes of `body` read `step` bytes at a time,
// against mime::split_multipart over it whole: the same first and second
// parts, the same count.
void expect_split_as_whole(const std::string& body, const std::string& boundary) {
  mime::MultipartBody whole = mime::split_multipart(body, boundary);
  for (std::size_t step : {1, 2, 3, 5, 64, 100000}) {
    DripSource source(as_bytes(body), step);
    StringSink first;
    internal::DetachedParts parts = internal::read_detached_parts(source, boundary, body.size(), first);
    SCOPED_TRACE(testing::Message() << "step " << step << ", body " << testing::PrintToString(body));
    EXPECT_EQ(parts.parts, whole.parts.size());
    if (!whole.parts.empty()) {
      EXPECT_EQ(first.text(), whole.parts[0]);
    }
    if (whole.parts.size() >= 2) {
      EXPECT_EQ(parts.signature_part, whole.parts[1]);
    }
  }
}

TEST(DetachedStream, SplitsAsTheWholeBodyIsSplitAcrossAnyReadSize) {
  const std::vector<std::string> bodies = {
      "--b\r\nfirst\r\npart\r\n--b\r\nsignature\r\n--b--\r\n",
      "preamble\r\n--b\r\nfirst\r\n--b \t\r\nsig\r\n--b-- \r\nepilogue\r\n--b\r\nmore\r\n",
      "--b\nLF only\nlines\n--b\nsig\n--b--",
      "--b\r\n\r\n--b\r\n\r\n--b--",
      "--b\r\n--bx\r\n--b-x\r\n-- b\r\n--\r\n\r\r\n\r\n--b\r\nsig\r\n--b--\r\n",
      "--b\r\nends with CR\r\r\n--b\r\nsig\r\n--b\r\nthird\r\n--b--\r\n",
      "--b\r\nno end\r\n--b\r\nsig never closed",
      "--b\r\nonly one part, the boundary never ends",
      "--b\r\nfirst\r\n--b\r\nsig\r\n--b-",
  };
  for (const std::string& body : bodies)
    expect_split_as_whole(body, "b");
}

TEST(DetachedStream, RefusesAnEndlessBoundaryLineAndAHugeSignaturePart) {
  StringSink first;
  const std::string padded = "--b\r\nfirst\r\n--b" + std::string(internal::kMaxDelimiterLine + 10, ' ');
  MemorySource padded_source(as_bytes(padded));
  EXPECT_THROW(internal::read_detached_parts(padded_source, "b", padded.size(), first), Error);
  const std::string huge =
      "--b\r\nfirst\r\n--b\r\n" + std::string(internal::kMaxSignaturePart + 10, 'A') + "\r\n--b--\r\n";
  MemorySource huge_source(as_bytes(huge));
  EXPECT_THROW(internal::read_detached_parts(huge_source, "b", huge.size(), first), Error);
  MemorySource empty(as_bytes(std::string("--\r\n")));
  EXPECT_THROW(internal::read_detached_parts(empty, "", 100, first), Error);
}

// Standard input may be endless: the signed part stops at its limit (1 GiB
// in reading), with the bytes up to it and no more given to the spool.
TEST(DetachedStream, RefusesASignedPartOverItsLimit) {
  const std::string body = "--b\r\n" + std::string(5000, 'x') + "\r\n--b\r\nsig\r\n--b--\r\n";
  for (std::size_t step : {1, 7, 4096}) {
    DripSource source(as_bytes(body), step);
    StringSink first;
    try {
      internal::read_detached_parts(source, "b", 4000, first);
      ADD_FAILURE() << "a first part of 5000 bytes passed a limit of 4000";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::RejectedByPolicy);
      EXPECT_NE(std::string(error.what()).find("larger than 4000 bytes"), std::string::npos) << error.what();
    }
    EXPECT_LE(first.text().size(), 4000u);
  }
  DripSource exact(as_bytes(body), 64);
  StringSink first;
  EXPECT_EQ(internal::read_detached_parts(exact, "b", 5000, first).parts, 2u) << "a part at its limit passes";
  EXPECT_EQ(first.text().size(), 5000u);
}

std::string sign_detached(const std::string& message) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), SignatureForm::Detached, mailseal::now());
  return out.take();
}

TEST(DetachedStreamRead, ALargeDetachedSignatureStaysInItsTemporaryFileAndVerifiesAsInMemory) {
  ScratchDirectory scratch;
  const std::string message = sign_detached(large_message(6));
  ASSERT_GT(message.size(), kStreamAbove);
  Streamed streamed = verify_streamed(message, scratch / "out.eml");
  Streamed whole = verify_in_memory(message);
  ASSERT_TRUE(streamed.result.signature);
  EXPECT_TRUE(streamed.result.signature->valid) << streamed.result.signature->problems.front();
  EXPECT_EQ(streamed.result.signature->form, SignatureForm::Detached);
  expect_same_verdict(streamed.result, whole.result);
  EXPECT_TRUE(streamed.spooled);
  ASSERT_TRUE(streamed.content && whole.content);
  EXPECT_EQ(*streamed.content, *whole.content);
  EXPECT_TRUE(scratch.names().empty());
}

TEST(DetachedStreamRead, AlteredContentOrAnUnendedBoundaryIsJudgedAsInMemoryAndNothingIsLeftBehind) {
  ScratchDirectory scratch;
  const std::string message = sign_detached(large_message(5));
  std::string altered = message;
  const std::size_t middle = altered.size() / 2;
  altered[middle] = altered[middle] == 'x' ? 'y' : 'x';
  Streamed streamed = verify_streamed(altered, scratch / "out.eml");
  ASSERT_TRUE(streamed.result.signature);
  EXPECT_FALSE(streamed.result.signature->valid);
  EXPECT_FALSE(streamed.content);
  expect_same_verdict(streamed.result, verify_in_memory(altered).result);
  EXPECT_TRUE(scratch.names().empty());
  // The boundary that would end the first part never comes.
  const std::string boundary = *mime::Entity::parse(message).content_type.parameter("boundary");
  std::string unended = message.substr(0, message.find("\r\n--" + boundary, message.find("\r\n\r\n") + 10));
  unended += std::string(1024, 'x');
  try {
    verify_streamed(unended, scratch / "out.eml");
    ADD_FAILURE() << "read";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Malformed) << error.what();
    EXPECT_NE(std::string(error.what()).find("has 0"), std::string::npos) << error.what();
  }
  EXPECT_THROW(verify_in_memory(unended), Error) << "read whole, it is refused too";
  EXPECT_TRUE(scratch.names().empty());
}

TEST(DetachedStreamRead, AContentSignedWithBareLineFeedsIsCheckedAsItStandsAsInMemory) {
  // openssl cms -sign -binary over LF text signs the bytes as they are;
  // the canonical form fails, the exact bytes hold (read_signature's rule).
  ScratchDirectory scratch;
  std::string content = "Content-Type: text/plain\n\n";
  while (content.size() < 5 * 1024 * 1024)
    content += "a line that ends in a bare line feed\n";
  const Bytes der = sign_with_openssl(content, false, [](CMS_ContentInfo*) {});
  ossl::Cms cms(d2i_CMS_ContentInfo(nullptr, nullptr, 0));
  const unsigned char* cursor = der.data();
  cms.reset(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(der.size())));
  ASSERT_EQ(CMS_set_detached(cms.get(), 1), 1);
  unsigned char* out = nullptr;
  int length = i2d_CMS_ContentInfo(cms.get(), &out);
  ossl::OpensslString owner(reinterpret_cast<char*>(out));
  StringSink signature;
  Base64Sink base64(signature);
  base64.write(ByteView(out, static_cast<std::size_t>(length)));
  base64.finish();
  const std::string message =
      "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: Lunch\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"s\"\r\n\r\n"
      "--s\r\n" + content + "\r\n--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" + signature.take() + "\r\n--s--\r\n";
  Streamed streamed = verify_streamed(message, scratch / "out.eml");
  Streamed whole = verify_in_memory(message);
  ASSERT_TRUE(whole.result.signature && streamed.result.signature);
  EXPECT_EQ(whole.result.signature->problems, std::vector<std::string>{}) << "the exact bytes hold";
  expect_same_verdict(streamed.result, whole.result);
  EXPECT_EQ(streamed.content, whole.content);
  EXPECT_TRUE(scratch.names().empty());
}

}  // namespace
}  // namespace mailseal::smime
