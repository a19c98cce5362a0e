// Large multipart content stays in its temporary file (issue 15; docs/smime.md,
// "Large messages"): the scan of its part structure (MultipartScan) on
// hand-made content, the same verdict however the bytes arrive; and
// read_message from a stream against read_message of the same message in
// memory, byte for byte, for content that stays in its file and for hostile
// content that must be read whole (an S/MIME part deep inside, a boundary that
// only the released form has, a boundary line across the scan's chunk edge,
// a part header block over the limit, a missing close delimiter).

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/cms.h>
#include <openssl/evp.h>

#include "common/openssl.h"
#include "fuzz/drip_source.h"
#include "mailseal/common/error.h"
#include "mailseal/smime/smime.h"
#include "scratch.h"
#include "smime/internal/multipart_scan.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

using internal::MultipartScan;
using test::alice;
using test::bob;
using test::ScratchDirectory;

const std::string kHeader =
    "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: Report\r\nMIME-Version: 1.0\r\n";

// Base64 lines of about `megabytes` of data.
std::string base64_lines(std::size_t megabytes) {
  const std::string line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
  std::string out;
  out.reserve(megabytes * 1024 * 1024 + line.size());
  while (out.size() < megabytes * 1024 * 1024)
    out += line;
  return out;
}

std::string attachment(std::string_view boundary, std::size_t megabytes) {
  return fmt::format("--{}\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
                     "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=data.bin\r\n\r\n",
                     boundary) +
         base64_lines(megabytes);
}

// A message with a short text and an attachment, as a mail client writes one.
std::string with_attachment(std::size_t megabytes, std::string_view text_part = "") {
  std::string text = text_part.empty() ? "Content-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n"
                                       : std::string(text_part);
  return kHeader + "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\nThis is a multi-part message.\r\n"
                   "--outer\r\n" + text + attachment("outer", megabytes) + "--outer--\r\n";
}

// `content` encrypted to Bob as it stands (CMS_BINARY: no line ending
// changed), by OpenSSL, in a message from Alice.
std::string encrypted_around(const std::string& content) {
  ossl::BorrowedX509Stack recipients(sk_X509_new_null());
  sk_X509_push(recipients.get(), bob().encryption.native());
  ossl::Bio in(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
  ossl::Cms cms(CMS_encrypt(recipients.get(), in.get(), EVP_aes_256_gcm(), CMS_BINARY));
  if (!cms)
    throw Error(ErrorCode::Internal, "CMS_encrypt failed");
  unsigned char* der = nullptr;
  const int length = i2d_CMS_ContentInfo(cms.get(), &der);
  ossl::OpensslBytes owned(der);
  StringSink body;
  Base64Sink base64(body);
  base64.write(ByteView(der, static_cast<std::size_t>(length)));
  base64.finish();
  return kHeader +
         "Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=smime.p7m\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" +
         body.take();
}

// As mailseal sends: signed, then encrypted (AES-256-GCM), the Subject
// obscured outside and repeated in a Legacy Display Element inside.
std::string mailseal_encrypted(const std::string& message) {
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  auto signer = alice().signer();
  EncryptOptions options{{bob().encryption}, &signer, {ContentCipher::Aes256Gcm, false}};
  encrypt_message(outgoing, out, options, mailseal::now());
  return out.take();
}

struct Fixed : KeyProvider {
  std::vector<DecryptionKey> fixed{bob().decryption()};
  std::span<const DecryptionKey> keys() override { return fixed; }
};

struct Read {
  ReadResult result;
  std::string content;  // as Release::write_to writes it
  bool spooled = false;
};

Read finish_read(ReadResult result) {
  Read read{std::move(result), "", false};
  read.spooled = read.result.content.spooled();
  Release release = Release::of_decrypted(read.result, BadSignature::Release, Unauthenticated::Release);
  StringSink out;
  release.write_to(out);
  read.content = out.take();
  return read;
}

Read read_streamed(const std::string& message, const ScratchDirectory& scratch) {
  fuzz::DripSource source(as_bytes(message), 100000);
  Fixed keys;
  return finish_read(read_message(source, keys, Policy::standard(mailseal::now()), scratch / "out.eml"));
}

Read read_whole(const std::string& message) {
  Fixed keys;
  return finish_read(read_message(as_bytes(message), keys, Policy::standard(mailseal::now())));
}

// Streamed and whole read the same, byte for byte; the content stayed in
// its file or not as `spooled` says.
void expect_as_whole(const std::string& message, bool spooled) {
  ASSERT_GT(message.size(), kStreamAbove);
  ScratchDirectory scratch;
  const Read streamed = read_streamed(message, scratch);
  const Read whole = read_whole(message);
  EXPECT_EQ(streamed.spooled, spooled);
  EXPECT_TRUE(streamed.content == whole.content) << "the streamed output differs from the whole one";
  EXPECT_EQ(streamed.result.notes, whole.result.notes);
  EXPECT_EQ(streamed.result.warnings, whole.result.warnings);
  EXPECT_EQ(streamed.result.identity_problems, whole.result.identity_problems);
  EXPECT_EQ(streamed.result.signed_part_only, whole.result.signed_part_only);
  EXPECT_EQ(streamed.result.encrypted_part_only, whole.result.encrypted_part_only);
  EXPECT_EQ(streamed.result.signature.has_value(), whole.result.signature.has_value());
  if (streamed.result.signature && whole.result.signature) {
    EXPECT_EQ(streamed.result.signature->valid, whole.result.signature->valid);
  }
  EXPECT_TRUE(scratch.names().empty()) << "no temporary file is left behind";
}

// ---- the scan ----

// The scan's verdict on `content` read `step` bytes at a time.
std::string scan(const std::string& content, std::size_t step, std::uint64_t prefix) {
  MultipartScan scanner(prefix);
  for (std::size_t at = 0; at < content.size(); at += step)
    scanner.write(as_bytes(std::string_view(content).substr(at, step)));
  return scanner.finish() ? "stays" : scanner.refusal();
}

std::string scan(const std::string& content, std::uint64_t prefix = 4096) {
  const std::string verdict = scan(content, content.size() + 1, prefix);
  for (std::size_t step : {1, 2, 3, 7, 100})
    EXPECT_EQ(scan(content, step, prefix), verdict) << "read " << step << " bytes at a time";
  return verdict;
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

const std::string kSmallMixed =
    "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\n\r\ntext\r\n"
    "--b\r\nContent-Type: multipart/alternative; boundary=\"c\"\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    "--c\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--c--\r\nepilogue\r\n--b\r\nContent-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n";

TEST(MultipartScan, AcceptsPlainNestedMultipartsHoweverTheBytesArrive) {
  EXPECT_EQ(scan(kSmallMixed), "stays");
  // LF and bare CR line endings are read as the released form reads them.
  std::string lf = kSmallMixed;
  for (std::size_t at = lf.find("\r\n"); at != std::string::npos; at = lf.find("\r\n", at))
    lf.erase(at, 1);
  EXPECT_EQ(scan(lf), "stays");
}

TEST(MultipartScan, RefusesPartsReadingJudges) {
  for (std::string type : {"application/pkcs7-mime; smime-type=signed-data", "application/x-pkcs7-mime",
                           "application/octet-stream; name=\"smime.p7m\"", "application/pkcs7-signature",
                           "message/rfc822", "multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s",
                           "multipart/digest; boundary=s"}) {
    EXPECT_NE(scan(replaced(kSmallMixed, "image/png", type)), "stays") << type;
  }
}

TEST(MultipartScan, RefusesWhatTheWholeReadWouldReadDifferently) {
  auto refused = [](std::string_view from, std::string_view to) { return scan(replaced(kSmallMixed, from, to)); };
  EXPECT_EQ(refused("--b--\r\n", ""), "a multipart ends without its close delimiter");
  EXPECT_EQ(refused("--c--\r\n", ""), "a multipart ends without its close delimiter");
  EXPECT_EQ(refused("--b--\r\n", "--b\r\n"), "the content ends inside a header block");
  EXPECT_EQ(refused("Content-Type: image/png\r\n", "Content-Type: image/png\r\nContent-Type: text/plain\r\n"),
            "two Content-Type or Content-Transfer-Encoding fields");
  EXPECT_EQ(refused("boundary=\"c\"", "boundary=\"b-inner\""), "a boundary that begins with another one");
  EXPECT_EQ(refused("Content-Type: image/png\r\n", "Content-Type: image/png\rX-Hidden: 1\r\n"),
            "a bare CR in a header block");
  EXPECT_EQ(refused("epilogue\r\n", "epilogue\r"), "a bare CR next to a boundary");
  EXPECT_EQ(refused("--b\r\nContent-Type: image/png", "--b\r\nContent-Type: image/png\r\n--b\r\nX: y"),
            "a part ends inside its header block");
  EXPECT_EQ(refused("Content-Type: image/png\r\n", "Content-Type: image/png\r\n" +
                                                       std::string(MultipartScan::kMaxHeaderBlock, 'x') + "\r\n"),
            "a header block over the limit");
  EXPECT_EQ(scan("Content-Type: text/plain\r\n\r\nx\r\n"), "not a multipart");
}

// Parts that are mostly header fields are read whole rather than each
// header block parsed (found in review: 80 parts of 250 KiB parameters).
TEST(MultipartScan, PartsWithOverAMebibyteOfHeaderFieldsInAllAreReadWhole) {
  const std::string field = "X-Filler: " + std::string(100 * 1024, 'y') + "\r\n";
  std::string within = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int part = 0; part < 9; ++part)
    within += "--b\r\nContent-Type: image/png\r\n" + field + "\r\nx\r\n";
  EXPECT_EQ(scan(within + "--b--\r\n", within.size() + 1024), "stays") << "about 900 KiB of header fields";
  const std::string over = within + "--b\r\nContent-Type: image/png\r\n" + field + field + "\r\nx\r\n--b--\r\n";
  EXPECT_EQ(scan(over, over.size()), "the parts' header blocks are over 1 MiB in all");
}

TEST(MultipartScan, FindsADelimiterWithLongTransportPaddingAndOnlyAtALineStart) {
  // "--b" and 1000 spaces is a delimiter (RFC 2046's transport padding): the
  // part it starts is S/MIME.
  const std::string hidden = "--b" + std::string(1000, ' ') + "\r\nContent-Type: application/pkcs7-mime\r\n\r\nx\r\n";
  std::string content = kSmallMixed;
  content.insert(content.find("--b--"), hidden);
  EXPECT_NE(scan(content), "stays");
  // Not a delimiter: text after the padding, or not at the start of a line.
  for (std::string decoy : {"--b" + std::string(1000, ' ') + "x\r\n", std::string(" --b\r\n"), std::string("---b\r\n")}) {
    std::string harmless = kSmallMixed;
    harmless.insert(harmless.find("--b--"), decoy + "Content-Type: application/pkcs7-mime\r\n\r\n");
    EXPECT_EQ(scan(harmless), "stays") << decoy.substr(0, 10);
  }
}

TEST(MultipartScan, ALegacyDisplayElementMustEndWithinTheStartReadInMemory) {
  const std::string content =
      replaced(kSmallMixed, "--b\r\n\r\ntext", "--b\r\nContent-Type: text/plain; hp-legacy-display=1\r\n\r\ntext");
  const std::size_t end_of_part = content.find("\r\n", content.find("--b\r\nContent-Type: multipart/alt")) + 2;
  EXPECT_EQ(scan(content, end_of_part), "stays");
  EXPECT_EQ(scan(content, end_of_part - 1), "a part with a Legacy Display Element ends past the start read in memory");
  // Inside an alternative: the alternative's own part must end within it too.
  const std::string nested = replaced(kSmallMixed, "text/html", "text/html; hp-legacy-display=1");
  const std::size_t end_of_alternative = nested.find("\r\n", nested.find("--b\r\nContent-Type: image")) + 2;
  EXPECT_EQ(scan(nested, end_of_alternative), "stays");
  EXPECT_NE(scan(nested, nested.find("--c--") + 7), "stays");
}

// ---- read_message from a stream against read_message in memory ----

TEST(MultipartStream, AMessageWithAnAttachmentStaysInItsFile) {
  expect_as_whole(encrypted_around(with_attachment(6)), true);
}

TEST(MultipartStream, NestedAlternativesAndLfLineEndingsStayAndReleaseCrlf) {
  const std::string alternative =
      "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
      "--alt\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>\r\n--alt--\r\n";
  std::string message = with_attachment(6, alternative);
  expect_as_whole(encrypted_around(message), true);
  for (std::size_t at = message.find("\r\n"); at != std::string::npos; at = message.find("\r\n", at))
    message.erase(at, 1);
  expect_as_whole(encrypted_around(message), true);
}

// mailseal's own message (signed, then encrypted, the Subject obscured):
// the Legacy Display Element in its first text part is removed from the
// start read in memory, and the attachment follows from the file.
TEST(MultipartStream, MailsealsDefaultMessageWithAnAttachmentStaysAndLosesItsLegacyDisplay) {
  const std::string encrypted = mailseal_encrypted(with_attachment(6));
  expect_as_whole(encrypted, true);
  ScratchDirectory scratch;
  const Read streamed = read_streamed(encrypted, scratch);
  ASSERT_TRUE(streamed.result.signature);
  EXPECT_TRUE(streamed.result.signature->valid);
  EXPECT_NE(streamed.content.find("\r\n\r\nSee the attachment.\r\n"), std::string::npos);
  EXPECT_EQ(streamed.content.find("Subject: Report\r\n\r\nSee the attachment"), std::string::npos)
      << "the element is removed";
}

// The start read in memory goes to the end of a part holding an element
// when that is within the first MiB; a longer one is read whole.
TEST(MultipartStream, ALegacyDisplayPartPastTheFirstMibIsReadWhole) {
  for (std::size_t kib : {200, 2048}) {
    std::string text = "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    while (text.size() < kib * 1024)
      text += "All work and no play makes Jack a dull boy, all work and no play.\r\n";
    const std::string encrypted = mailseal_encrypted(with_attachment(6, text));
    expect_as_whole(encrypted, kib < 1024);
    ScratchDirectory scratch;
    const Read streamed = read_streamed(encrypted, scratch);
    EXPECT_EQ(streamed.content.find("Subject: Report\r\n\r\nAll work"), std::string::npos) << "removed";
  }
}

TEST(MultipartStream, AnSmimePartDeepInsideIsReadWholeAsInASmallMessage) {
  // A part that is signed, opaque or detached (only a part is signed:
  // noted), after 5 MiB.
  for (std::string type : {"application/pkcs7-mime; smime-type=signed-data",
                           "multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s"}) {
    const std::string deep = "--outer\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n"
                             "Content-Type: " + type + "\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n--inner--\r\n";
    std::string message = with_attachment(5);
    message.insert(message.rfind("--outer--"), deep);
    ScratchDirectory scratch;
    const Read streamed = read_streamed(encrypted_around(message), scratch);
    EXPECT_TRUE(streamed.result.signed_part_only) << type;
    expect_as_whole(encrypted_around(message), false);
  }
}

// A bare CR is a line break only in the released form: there it ends the
// attachment's line, and the next starts a part that is S/MIME.
TEST(MultipartStream, ABoundaryThatOnlyTheReleasedFormHasIsFound) {
  std::string message = with_attachment(5);
  message.insert(message.rfind("--outer--"),
                 "AAAA\r--outer\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQE=\r\n");
  expect_as_whole(encrypted_around(message), false);
  ScratchDirectory scratch;
  EXPECT_TRUE(read_streamed(encrypted_around(message), scratch).result.signed_part_only);
}

// The scan reads the file 256 KiB at a time: a delimiter line split across
// that edge (and one with long padding) is still a delimiter.
TEST(MultipartStream, ABoundaryAcrossTheScansChunkEdgeIsFound) {
  constexpr std::size_t kEdge = 256 * 1024;
  for (std::size_t before : {1, 3, 8}) {
    // The content is the message as it stands: a line of base64 ends just
    // before the delimiter that starts `before` bytes before the edge.
    std::string message = with_attachment(5);
    const std::size_t delimiter_at = kEdge - before;
    const std::size_t line_at = message.rfind("\r\n", delimiter_at - 80) + 2;
    message.insert(line_at, std::string(delimiter_at - 2 - line_at, 'A') + "\r\n");
    message.insert(delimiter_at, "--outer" + std::string(300, ' ') +
                                     "\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIAGCSqG\r\n");
    ASSERT_EQ(message.substr(delimiter_at - 2, 9), "\r\n--outer");
    expect_as_whole(encrypted_around(message), false);
  }
}

TEST(MultipartStream, APartHeaderBlockOverTheLimitIsReadWhole) {
  std::string filler;
  while (filler.size() <= MultipartScan::kMaxHeaderBlock)
    filler += "X-Filler: " + std::string(70, 'x') + "\r\n";
  std::string message = with_attachment(5);
  message.insert(message.find("Content-Type: application/octet-stream"), filler);
  expect_as_whole(encrypted_around(message), false);
}

TEST(MultipartStream, AMissingCloseDelimiterIsReadWhole) {
  std::string message = with_attachment(5);
  message.erase(message.rfind("--outer--"));
  expect_as_whole(encrypted_around(message), false);
  // Its last part, never closed, is what split_multipart drops: the scan does
  // not guess which reading is right.
}

TEST(MultipartStream, AnOpaqueSignatureOverAMultipartStaysToo) {
  const std::string message = with_attachment(6);
  MemorySource source(as_bytes(message));
  OutgoingMessage outgoing = OutgoingMessage::read(source);
  StringSink out;
  sign_message(outgoing, out, alice().signer(), SignatureForm::Opaque, mailseal::now());
  expect_as_whole(out.take(), true);
}

}  // namespace
}  // namespace mailseal::smime
