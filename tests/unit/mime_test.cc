// MIME on its own (RFC 2045, 2046, 2047, 2231, 5322): header fields as
// written and as read, Content-Type, addresses, dates, entities and multipart
// bodies as exact byte ranges (a signed part is verified over its bytes), and
// the transfer encodings. Every expected value is spelled out here.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/mime/legacy_display.h"
#include "mailseal/mime/mime.h"

namespace mailseal::mime {
namespace {

std::string text(const Bytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// The decoded body of an entity held in `storage`.
std::string text_of_entity(const std::string& storage) {
  return text(decode_body(Entity::parse(storage)));
}

Entity entity_with_body(std::string_view encoding, std::string_view body, std::string& storage) {
  storage = "Content-Type: text/plain\r\nContent-Transfer-Encoding: " + std::string(encoding) + "\r\n\r\n" +
            std::string(body);
  return Entity::parse(storage);
}

TEST(Headers, FieldsKeepTheirFoldingAndUnfoldWhenRead) {
  Headers headers = Headers::parse(
      "From: Alice <alice@example.com>\r\n"
      "Subject: a long\r\n"
      "\tsubject line\r\n"
      "X-Empty:\r\n"
      "x-twice: one\n"
      "X-Twice: two");
  ASSERT_EQ(headers.fields().size(), 5u);
  EXPECT_EQ(headers.fields()[1].raw_value, "a long\r\n\tsubject line");
  EXPECT_EQ(headers.fields()[1].value(), "a long\tsubject line");
  EXPECT_EQ(headers.get("subject"), std::optional<std::string>("a long\tsubject line")) << "names ignore case";
  EXPECT_EQ(headers.get("X-Empty"), std::optional<std::string>(""));
  EXPECT_EQ(headers.get("X-Twice"), std::optional<std::string>("one")) << "the first of several";
  EXPECT_EQ(headers.count("X-TWICE"), 2u);
  EXPECT_EQ(headers.get("To"), std::nullopt);
}

TEST(Headers, EditingAndSerializingUseCrlf) {
  Headers headers = Headers::parse("To: bob@example.org\nBcc: eve@example.net\nX-A: 1\nx-a: 2\nSubject: s\n");
  headers.remove("BCC");
  headers.set("X-A", "3");
  headers.set("Date", "Thu, 1 Jan 2026 00:00:00 +0000");
  headers.append("Comments", "folded\n continuation");
  EXPECT_EQ(headers.serialize(),
            "To: bob@example.org\r\n"
            "X-A: 3\r\n"
            "Subject: s\r\n"
            "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
            "Comments: folded\r\n continuation\r\n");
}

TEST(Headers, WhatIsNotAFieldIsRefused) {
  for (const char* block : {" starts folded: x", "no colon here", ": empty name", "bad name: x",
                            "Subject: ok\r\ncontrol\x01name: x"}) {
    SCOPED_TRACE(block);
    try {
      Headers::parse(block);
      ADD_FAILURE() << "accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed);
    }
  }
  std::string many;
  for (std::size_t i = 0; i <= kMaxHeaderFields; ++i)
    many += "X-N: 1\r\n";
  EXPECT_THROW(Headers::parse(many), Error) << "more fields than the limit";
  EXPECT_THROW(Headers::parse(std::string(kMaxHeaderBlock + 1, 'a')), Error) << "a block over the limit";
}

TEST(Headers, ContentHeadersAreRecognised) {
  EXPECT_TRUE(is_content_header("Content-Type"));
  EXPECT_TRUE(is_content_header("content-transfer-encoding"));
  EXPECT_TRUE(is_content_header("MIME-Version"));
  EXPECT_FALSE(is_content_header("Content"));
  EXPECT_FALSE(is_content_header("Subject"));
}

TEST(ContentType, ParametersIncludingRfc2231) {
  ContentType type = ContentType::parse("Multipart/Signed; Protocol=\"application/pkcs7-signature\"; micalg=sha-256;"
                                        " boundary=\"=_a b\"");
  EXPECT_EQ(type.mime_type(), "multipart/signed");
  EXPECT_TRUE(type.is("MULTIPART", "signed"));
  EXPECT_TRUE(type.is_multipart());
  EXPECT_EQ(type.parameter("protocol"), std::optional<std::string>("application/pkcs7-signature"));
  EXPECT_EQ(type.parameter("BOUNDARY"), std::optional<std::string>("=_a b"));
  EXPECT_EQ(type.parameter("charset"), std::nullopt);

  // RFC 2231: a parameter continued over several sections, with a charset.
  ContentType continued = ContentType::parse("application/octet-stream; name*0=\"long\"; name*1=\"name.bin\"");
  EXPECT_EQ(continued.parameter("name"), std::optional<std::string>("longname.bin"));
  ContentType encoded = ContentType::parse("text/plain; name*=utf-8''gr%C3%BC%C3%9Fe.txt");
  EXPECT_EQ(encoded.parameter("name"), std::optional<std::string>("gr\xc3\xbc\xc3\x9f" "e.txt"));
}

// What GMime cannot make sense of becomes application/octet-stream, never a
// multipart. (An absent Content-Type is text/plain: see Entity below.)
TEST(ContentType, WhatDoesNotParseIsOpaqueData) {
  for (const char* value : {"", "garbage", "/", ";", "text", "multipart"}) {
    SCOPED_TRACE(value);
    ContentType type = ContentType::parse(value);
    EXPECT_EQ(type.mime_type(), "application/octet-stream");
    EXPECT_FALSE(type.is_multipart());
  }
}

TEST(Addresses, MailboxesAndGroups) {
  auto addresses = parse_addresses("\"Bob, Jr.\" <Bob@Example.org>, carol@example.net, "
                                   "friends: dave@example.com, erin@example.com;");
  ASSERT_EQ(addresses.size(), 4u);
  EXPECT_EQ(addresses[0].str(), "bob@example.org");
  EXPECT_EQ(addresses[1].str(), "carol@example.net");
  EXPECT_EQ(addresses[3].str(), "erin@example.com") << "group members count";
  EXPECT_TRUE(parse_addresses("").empty());
  EXPECT_THROW(parse_addresses("Bob <bob@localhost>"), Error) << "a mailbox that is not a valid address";
}

// The strict reading of one mailbox: what a signature vouches for must be
// the only address a reader could see.
TEST(Addresses, OneMailboxStrictly) {
  EXPECT_EQ(parse_mailbox("alice@example.com").str(), "alice@example.com");
  EXPECT_EQ(parse_mailbox(" Alice Liddell <Alice@Example.com> ").str(), "alice@example.com");
  EXPECT_EQ(parse_mailbox("\"Liddell, Alice\" <alice@example.com> (home)").str(), "alice@example.com");
  EXPECT_EQ(parse_mailbox("=?utf-8?q?Al=C3=AFce?= <alice@example.com>").str(), "alice@example.com");
  EXPECT_EQ(parse_mailbox("Alice\r\n <alice@example.com>").str(), "alice@example.com") << "folded";
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"alice@work.example <alice@example.com>", "display name"},
      {"\"alice@work.example\" <alice@example.com>", "display name"},
      {"alice@work.example\r\n\t<alice@example.com>", "display name"},
      {"=?us-ascii?q?alice=40work=2Eexample?= <alice@example.com>", "display name"},
      {"=?us-ascii?q?x=3Calice=40work=2Eexample=3E?= <alice@example.com>", "display name"},
      {"alice@example.com (alice@work.example)", "comment"},
      {"alice@example.com (=?us-ascii?q?alice=40work.example?=)", "comment"},
      {"\"Alice <alice@work.example>\": ;, alice@example.com", "display name"},
      {"g: alice@example.com;, <>", "group"},
      {"alice@example.com, <>", "more than one mailbox"},
      {"<>, alice@example.com", "empty address"},
      {"<>", "empty address"},
      {"<alice@example.com> <alice@work.example>", "more than one address"},
      {"alice@example.com <alice@work.example>", "display name"},
      {"alice@example.com alice@work.example", "not one address"},
      {"alice@example.com>alice@work.example", "'>'"},
      {"<alice@work.example", "not closed"},
      {"<@example.com:alice@work.example>", "not a valid email address"},
      {"\"alice\"@work.example", "quoted"},
      {"alice@[work.example]", "literal"},
      {"alice @ work.example", "not one address"},
      {"alice(x)@work.example", "not one address"},
      {"", "no mailbox"},
      {"Alice", "not a valid email address"},
  };
  for (const auto& [value, why] : refused) {
    SCOPED_TRACE(value);
    try {
      (void)parse_mailbox(value);
      ADD_FAILURE() << "accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed);
      EXPECT_NE(std::string(error.what()).find(why), std::string::npos) << error.what();
    }
  }
}

TEST(HeaderText, EncodedWordsAndDates) {
  EXPECT_EQ(decode_header_text("=?utf-8?q?gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?B?S/Zsbg==?="),
            "gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln");
  EXPECT_EQ(decode_header_text("plain"), "plain");
  EXPECT_EQ(parse_date("Thu, 01 Jan 2026 12:00:00 +0100"), std::optional<TimePoint>(from_unix_seconds(1767265200)));
  EXPECT_EQ(parse_date("not a date"), std::nullopt);
  std::string formatted = format_date(from_unix_seconds(1767268800));
  EXPECT_NE(formatted.find("01 Jan 2026 12:00:00"), std::string::npos) << formatted;
  EXPECT_EQ(parse_date(formatted), std::optional<TimePoint>(from_unix_seconds(1767268800))) << "formatting round-trips";
}

TEST(Entity, SplitsAtTheFirstEmptyLineAndKeepsBytes) {
  const std::string message =
      "From: alice@example.com\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding:  Quoted-Printable \r\n"
      "\r\n"
      "body line\r\n"
      "\r\n"
      "after an empty line\r\n";
  Entity entity = Entity::parse(message);
  EXPECT_EQ(entity.raw.data(), message.data()) << "views into the input, no copies";
  EXPECT_EQ(entity.header_block,
            "From: alice@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding:  Quoted-Printable \r\n");
  EXPECT_EQ(entity.body, "body line\r\n\r\nafter an empty line\r\n");
  EXPECT_EQ(entity.content_type.parameter("charset"), std::optional<std::string>("utf-8"));
  EXPECT_EQ(entity.transfer_encoding, "quoted-printable") << "lower case, trimmed";
}

TEST(Entity, DefaultsAndHeaderOnlyEntities) {
  Entity bare = Entity::parse("Subject: only headers");
  EXPECT_EQ(bare.header_block, "Subject: only headers");
  EXPECT_TRUE(bare.body.empty());
  EXPECT_EQ(bare.content_type.mime_type(), "text/plain");
  EXPECT_EQ(bare.transfer_encoding, "7bit");
  Entity no_headers = Entity::parse("\nbody only\n");
  EXPECT_TRUE(no_headers.headers.fields().empty());
  EXPECT_EQ(no_headers.body, "body only\n");
  EXPECT_THROW(Entity::parse(std::string(kMaxHeaderBlock + 10, 'a') + "\n"), Error);
}

TEST(Multipart, PartsAreExactByteRanges) {
  const std::string body =
      "preamble\r\n"
      "--b1\r\n"
      "Content-Type: text/plain\r\n\r\nfirst\r\n"
      "--b1  \r\n"  // transport padding after a delimiter is allowed
      "second, with a line break of its own\r\n\r\n"
      "--b1--\r\n"
      "epilogue\r\n";
  MultipartBody parts = split_multipart(body, "b1");
  ASSERT_EQ(parts.parts.size(), 2u);
  EXPECT_EQ(parts.parts[0], "Content-Type: text/plain\r\n\r\nfirst") << "the CRLF before a delimiter is the delimiter's";
  EXPECT_EQ(parts.parts[1], "second, with a line break of its own\r\n");
  EXPECT_TRUE(parts.closed);
  EXPECT_EQ(parts.parts[0].data(), body.data() + body.find("Content-Type")) << "views into the body";
}

TEST(Multipart, LookalikesAndMissingEnds) {
  MultipartBody open = split_multipart("--b1\nx\n--b1x\ny\n--b1\nz\n", "b1");
  ASSERT_EQ(open.parts.size(), 1u) << "a part not ended by a delimiter is not a part";
  EXPECT_EQ(open.parts[0], "x\n--b1x\ny") << "\"--b1x\" is not the delimiter";
  EXPECT_FALSE(open.closed) << "no close delimiter";
  EXPECT_TRUE(split_multipart("no delimiters at all", "b1").parts.empty());
  EXPECT_THROW(split_multipart("--\r\n", ""), Error);
  EXPECT_THROW(split_multipart("x", std::string(201, 'b')), Error);
  std::string many;
  for (std::size_t i = 0; i <= kMaxParts; ++i)
    many += "--b\r\npart\r\n";
  EXPECT_THROW(split_multipart(many + "--b--\r\n", "b"), Error) << "more parts than the limit";
}

TEST(TransferEncoding, QuotedPrintable) {
  std::string storage;
  Entity entity = entity_with_body("quoted-printable",
                                   "Gr=C3=BC=C3=9Fe, soft =\r\nbreak, trailing =  \r\nspace, lower =c3=a4, "
                                   "lone = sign, bad =ZZ, end=",
                                   storage);
  EXPECT_EQ(text(decode_body(entity)), "Gr\xc3\xbc\xc3\x9f" "e, soft break, trailing space, lower \xc3\xa4, "
                                       "lone = sign, bad =ZZ, end");
}

TEST(TransferEncoding, Base64AndIdentityEncodings) {
  std::string storage;
  EXPECT_EQ(text(decode_body(entity_with_body("base64", "aGVs\r\nbG8=\r\n", storage))), "hello");
  EXPECT_THROW(decode_body(entity_with_body("base64", "!!!not base64!!!", storage)), Error);
  for (const char* encoding : {"7bit", "8bit", "binary"}) {
    EXPECT_EQ(text(decode_body(entity_with_body(encoding, "as\r\nis\x80", storage))), "as\r\nis\x80") << encoding;
  }
  try {
    decode_body(entity_with_body("x-uuencode", "begin 644 x", storage));
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Unsupported);
  }
}

TEST(TransferEncoding, Base64LinesRoundTrip) {
  Bytes data;
  for (int i = 0; i < 200; ++i)
    data.push_back(static_cast<std::uint8_t>(i * 7));
  std::string encoded = encode_base64_lines(data);
  EXPECT_EQ(encoded.substr(76, 2), "\r\n") << "lines of 76 characters";
  EXPECT_TRUE(is_crlf(encoded));
  EXPECT_EQ(encoded.size(), 268u + 4 * 2) << "200 bytes: 268 characters in 4 lines";
  EXPECT_EQ(decode_base64(encoded), data);
  EXPECT_EQ(encode_base64_lines({}), "");
}

TEST(LineEndings, CanonicalForm) {
  EXPECT_EQ(to_crlf("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd");
  EXPECT_EQ(to_crlf("\r\r\n\n"), "\r\n\r\n\r\n");
  EXPECT_TRUE(is_crlf("a\r\nb\r\n"));
  EXPECT_TRUE(is_crlf("no line ending"));
  EXPECT_FALSE(is_crlf("a\nb"));
  EXPECT_FALSE(is_crlf("a\rb\n"));
  EXPECT_FALSE(is_crlf("a\n\rb"));
}

TEST(Boundary, FreshEachTime) {
  std::string first = make_boundary();
  std::string second = make_boundary();
  EXPECT_NE(first, second);
  EXPECT_EQ(first.rfind("=_mailseal_", 0), 0u);
  EXPECT_EQ(first.size(), 11u + 36u) << "18 random bytes in hex";
}


// RFC 9788 Legacy Display Elements: added to the main body parts, removed
// again to the byte, and removed only where the mark is and only when the
// element repeats protected fields.
const std::vector<DisplayedField> kLunch = {{"Subject", "Lunch"}};

std::string body_of(const std::string& entity) {
  return entity.substr(entity.find("\r\n\r\n") + 4);
}

TEST(LegacyDisplay, TextPlainGetsTheLinesAndTheMark) {
  const std::string entity =
      "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"\r\n\r\nShall we meet at noon?\r\n";
  auto added = add_legacy_display(entity, kLunch);
  ASSERT_TRUE(added);
  EXPECT_EQ(*added,
            "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"; hp-legacy-display=\"1\"\r\n\r\n"
            "Subject: Lunch\r\n\r\nShall we meet at noon?\r\n");
  LegacyDisplayRemoval removal = remove_legacy_display(*added, kLunch);
  EXPECT_EQ(removal.removed, 1u);
  EXPECT_EQ(removal.kept, 0u);
  EXPECT_EQ(removal.entity, entity) << "the original, byte for byte";
}

TEST(LegacyDisplay, HtmlGetsAnEscapedDivAfterTheBodyTag) {
  const std::string entity =
      "Content-Type: text/html; charset=iso-8859-1\r\n\r\n<html><body class=\"x\">\r\n<p>Hi</p></body></html>\r\n";
  const std::vector<DisplayedField> fields = {{"Subject", "<b>Caf\xC3\xA9 & co</b>"}};
  auto added = add_legacy_display(entity, fields);
  ASSERT_TRUE(added);
  EXPECT_NE(added->find("charset=iso-8859-1; hp-legacy-display=\"1\""), std::string::npos) << *added;
  EXPECT_NE(added->find("<body class=\"x\"><div class=\"header-protection-legacy-display\">\r\n"
                        "<pre>Subject: &lt;b&gt;Caf&#233; &amp; co&lt;/b&gt;</pre>\r\n</div>\r\n\r\n<p>Hi</p>"),
            std::string::npos)
      << *added;
  LegacyDisplayRemoval removal = remove_legacy_display(*added, fields);
  EXPECT_EQ(removal.removed, 1u);
  EXPECT_EQ(removal.entity, entity);
}

TEST(LegacyDisplay, HtmlWithoutABodyTagGetsItAtTheTop) {
  const std::string entity = "Content-Type: text/html\r\n\r\n<p>Hi</p>\r\n";
  auto added = add_legacy_display(entity, kLunch);
  ASSERT_TRUE(added);
  EXPECT_EQ(body_of(*added), "<div class=\"header-protection-legacy-display\">\r\n<pre>Subject: Lunch</pre>\r\n"
                             "</div>\r\n<p>Hi</p>\r\n");
  EXPECT_EQ(remove_legacy_display(*added, kLunch).entity, entity);
}

TEST(LegacyDisplay, BothAlternativesOfMultipartAlternative) {
  const std::string entity =
      "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\npreamble\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n"
      "--b\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>\r\n"
      "--b--\r\nepilogue\r\n";
  auto added = add_legacy_display(entity, kLunch);
  ASSERT_TRUE(added);
  EXPECT_NE(added->find("Content-Type: text/plain; hp-legacy-display=\"1\"\r\n\r\nSubject: Lunch\r\n\r\nHi\r\n--b"),
            std::string::npos)
      << *added;
  EXPECT_NE(added->find("Content-Type: text/html; hp-legacy-display=\"1\"\r\n\r\n<div class="), std::string::npos);
  EXPECT_NE(added->find("\r\n\r\npreamble\r\n--b"), std::string::npos) << "the rest is kept";
  EXPECT_NE(added->find("--b--\r\nepilogue\r\n"), std::string::npos);
  LegacyDisplayRemoval removal = remove_legacy_display(*added, kLunch);
  EXPECT_EQ(removal.removed, 2u);
  EXPECT_EQ(removal.entity, entity);
}

TEST(LegacyDisplay, OnlyTheFirstPartOfMultipartMixedAndNeverAnAttachment) {
  const std::string entity =
      "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
      "--m\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
      "--a\r\nContent-Type: text/plain\r\n\r\nHi\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>\r\n--a--\r\n"
      "--m\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n"
      "--m--\r\n";
  auto added = add_legacy_display(entity, kLunch);
  ASSERT_TRUE(added);
  EXPECT_EQ(std::count(added->begin(), added->end(), '='), std::count(entity.begin(), entity.end(), '=') + 3)
      << "three marks: both alternatives, one div class";
  EXPECT_NE(added->find("Content-Type: text/plain\r\n\r\nsecond part"), std::string::npos) << "second part untouched";
  EXPECT_EQ(remove_legacy_display(*added, kLunch).entity, entity);

  const std::string attachment =
      "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
      "--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n"
      "--m\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--m--\r\n";
  EXPECT_FALSE(add_legacy_display(attachment, kLunch)) << "the first part is an attachment: nothing to show it in";
}

TEST(LegacyDisplay, NoTextPartMeansNoElement) {
  EXPECT_FALSE(add_legacy_display("Content-Type: application/pdf\r\n\r\n%PDF\r\n", kLunch));
  EXPECT_FALSE(add_legacy_display("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n",
                                  kLunch));
  EXPECT_FALSE(add_legacy_display("Content-Type: text/plain\r\n\r\nHi\r\n", {})) << "nothing obscured";
}

TEST(LegacyDisplay, Base64AndQuotedPrintableAreDecodedAndEncodedAgain) {
  const std::string text = "Gr\xC3\xBC\xC3\x9F" "e, a line = long enough to matter\r\n";
  const std::vector<DisplayedField> fields = {{"Subject", "Caf\xC3\xA9"}};
  const std::string base64 = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                             encode_base64_lines(as_bytes(text));
  auto added = add_legacy_display(base64, fields);
  ASSERT_TRUE(added);
  std::string storage = *added;
  EXPECT_EQ(text_of_entity(storage), "Subject: Caf\xC3\xA9\r\n\r\n" + text);
  EXPECT_EQ(remove_legacy_display(*added, fields).entity, base64);

  const std::string qp = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
                         "\r\nGr=C3=BC=C3=9Fe, a line =3D long enough to matter\r\n";
  added = add_legacy_display(qp, fields);
  ASSERT_TRUE(added);
  EXPECT_NE(added->find("\r\n\r\nSubject: Caf=C3=A9\r\n\r\nGr=C3=BC=C3=9Fe"), std::string::npos) << *added;
  storage = *added;
  EXPECT_EQ(text_of_entity(storage), "Subject: Caf\xC3\xA9\r\n\r\n" + text);
  EXPECT_EQ(remove_legacy_display(*added, fields).entity, qp);
}

TEST(LegacyDisplay, AUtf8ValueFitsUsAsciiAnd7bitOnlyRelabelledAndNoOtherCharset) {
  const std::vector<DisplayedField> fields = {{"Subject", "Caf\xC3\xA9"}};
  auto added = add_legacy_display("Content-Type: text/plain; charset=us-ascii\r\n\r\nHi\r\n", fields);
  ASSERT_TRUE(added);
  EXPECT_NE(added->find("Content-Type: text/plain; charset=\"utf-8\"; hp-legacy-display=\"1\"\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\nSubject: Caf\xC3\xA9\r\n\r\nHi\r\n"),
            std::string::npos)
      << *added;
  EXPECT_FALSE(add_legacy_display("Content-Type: text/plain; charset=iso-8859-1\r\n\r\nHi\r\n", fields))
      << "the UTF-8 value would be shown as Latin-1";
}

TEST(LegacyDisplay, LinesThatMerelyLookLikeAnElementAreKeptWithoutTheMark) {
  const std::string entity = "Content-Type: text/plain\r\n\r\nSubject: Lunch\r\n\r\nHi\r\n";
  LegacyDisplayRemoval removal = remove_legacy_display(entity, kLunch);
  EXPECT_EQ(removal.entity, entity);
  EXPECT_EQ(removal.removed, 0u);
  EXPECT_EQ(removal.kept, 0u) << "not marked: nothing to report";
  const std::string html = "Content-Type: text/html\r\n\r\n<div class=\"header-protection-legacy-display\">"
                           "<pre>Subject: Lunch</pre></div>\r\n<p>Hi</p>";
  EXPECT_EQ(remove_legacy_display(html, kLunch).entity, html);
}

TEST(LegacyDisplay, AMarkedElementIsRemovedOnlyWhenItRepeatsProtectedFields) {
  const std::string head = "Content-Type: text/plain; hp-legacy-display=\"1\"\r\n\r\n";
  for (const std::string& body : {std::string("Subject: Pay Mallory\r\n\r\nHi\r\n"),
                                  std::string("Subject: Lunch\r\nX-Note: the real text\r\n\r\nHi\r\n"),
                                  std::string("Subject: Lunch\r\nSubject: Lunch\r\n\r\nHi\r\n"),
                                  std::string("Subject: Lunch\r\nno empty line ends this\r\n"),
                                  std::string("\r\nHi\r\n"), std::string("Hi\r\n")}) {
    LegacyDisplayRemoval removal = remove_legacy_display(head + body, kLunch);
    EXPECT_EQ(removal.entity, head + body) << body;
    EXPECT_EQ(removal.kept, 1u) << body;
    EXPECT_EQ(removal.removed, 0u) << body;
  }
  const std::vector<DisplayedField> two = {{"From", "Alice <alice@example.com>"}, {"Subject", "Lunch"}};
  LegacyDisplayRemoval removal =
      remove_legacy_display(head + "subject: Lunch\r\nFrom: Alice <alice@example.com>\r\n\r\nHi\r\n", two);
  EXPECT_EQ(removal.removed, 1u) << "any order, names in any case";
  EXPECT_EQ(body_of(removal.entity), "Hi\r\n");
}

TEST(LegacyDisplay, AnHtmlElementIsRemovedAloneAndOnlyWhenItHoldsNothingElse) {
  const std::string head = "Content-Type: text/html; hp-legacy-display=1\r\n\r\n";
  LegacyDisplayRemoval removal = remove_legacy_display(
      head + "<p>a</p><DIV id=x class='note  header-protection-legacy-display'>\n<PRE>Subject: Lunch</PRE>\n</div>"
             "<p>b</p>",
      kLunch);
  EXPECT_EQ(removal.removed, 1u);
  EXPECT_EQ(removal.entity, "Content-Type: text/html\r\n\r\n<p>a</p><p>b</p>");
  for (const std::string& body :
       {std::string("<div class=\"header-protection-legacy-display\"><pre>Subject: Lunch</pre>"
                    "<img src=\"https://evil.example/\"></div><p>b</p>"),
        std::string("<div class=\"header-protection-legacy-display\"><div>Subject: Lunch</div></div>"),
        std::string("<div class=\"header-protection-legacy-display\">Subject: Pay Mallory</div>"),
        std::string("<div class=\"header-protection-legacy-display-not\">Subject: Lunch</div>"),
        std::string("<div class=\"header-protection-legacy-display\">Subject: Lunch")}) {
    LegacyDisplayRemoval kept = remove_legacy_display(head + body, kLunch);
    EXPECT_EQ(kept.entity, head + body) << body;
    EXPECT_EQ(kept.kept, 1u) << body;
  }
}

// Found by an attacker's review: taking an element out must not change how
// a browser reads the bytes around it, and a decoy element must not silence
// the warning about a second one.
TEST(LegacyDisplay, AnHtmlElementIsKeptWhereTakingItOutWouldChangeTheRest) {
  const std::string head = "Content-Type: text/html; hp-legacy-display=1\r\n\r\n";
  const std::string element = "<div class=\"header-protection-legacy-display\">Subject: Lunch</div>";
  for (const std::string& body : {
           // Straddling a comment: removal would show text every browser hides...
           "<!-- -" + element + "-> Pay IBAN DE00 --><p>Hello</p>",
           // ...or hide text every browser shows.
           "<!-" + element + "- Pay IBAN DE00 -->",
           "<!--<body>" + element + "--> shown",
           "<svg><![CDATA[" + element + "]]> shown</svg>",
           "<title>" + element + "</title><p>x</p>",
           "<textarea>" + element + "</textarea>",
           "<noscript><!--</noscript>" + element + "-->",
           std::string("<div class=\"header-protection-legacy-display\" ]]>Subject: Lunch</div>"),
           std::string("<div class=\"header-protection-legacy-display\">Subject: Lunch</div x=\">\">"),
           // A decoy first, then a second element that is not the protected fields.
           element + "<div class=\"header-protection-legacy-display\">Subject: URGENT wire</div>",
       }) {
    LegacyDisplayRemoval kept = remove_legacy_display(head + body, kLunch);
    EXPECT_EQ(kept.entity, head + body) << body;
    EXPECT_EQ(kept.kept, 1u) << body;
  }
  for (const std::string& body :
       {"<!DOCTYPE html><html><head><style><!-- p {} --></style></head><body>\r\n" + element + "\r\n<p>Hi</p>",
        "<!-- a comment --><p>a</p>" + element + "<p>b</p>"}) {
    LegacyDisplayRemoval removal = remove_legacy_display(head + body, kLunch);
    EXPECT_EQ(removal.removed, 1u) << body;
    EXPECT_EQ(removal.entity.find("Subject: Lunch"), std::string::npos) << body;
  }
}

TEST(LegacyDisplay, ATextElementFollowedByAnotherBlockOfFieldsIsKept) {
  const std::string head = "Content-Type: text/plain; hp-legacy-display=1\r\n\r\n";
  const std::string body = "Subject: Lunch\r\n\r\nSubject: URGENT wire\r\nFrom: ceo@example.com\r\n\r\nPay.\r\n";
  LegacyDisplayRemoval kept = remove_legacy_display(head + body, kLunch);
  EXPECT_EQ(kept.entity, head + body);
  EXPECT_EQ(kept.kept, 1u);
  LegacyDisplayRemoval removal = remove_legacy_display(head + "Subject: Lunch\r\n\r\nHi Bob: lunch?\r\n", kLunch);
  EXPECT_EQ(removal.removed, 1u) << "a first line with a space before its colon is no field";
}

TEST(LegacyDisplay, ParametersAreEditedWhereTheyAre) {
  EXPECT_EQ(with_parameter("text/plain; ", "hp-legacy-display", "1"), "text/plain; hp-legacy-display=\"1\"");
  EXPECT_EQ(without_parameter("text/plain; hp-legacy-display=\"1\"; charset=utf-8", "hp-legacy-display"),
            "text/plain; charset=utf-8");
  EXPECT_EQ(without_parameter("text/plain;\r\n HP-Legacy-Display=1", "hp-legacy-display"), "text/plain");
  const std::string quoted = "text/plain; name=\"a; hp-legacy-display=1\"";
  EXPECT_EQ(without_parameter(quoted, "hp-legacy-display"), quoted) << "inside a quoted string it is no parameter";
  EXPECT_EQ(without_parameter("text/plain; hp-legacy-displayed=1", "hp-legacy-display"),
            "text/plain; hp-legacy-displayed=1");
}

TEST(LegacyDisplay, AValueIsAlwaysOneLine) {
  DisplayedField field = displayed_field("Subject", "=?utf-8?q?two=0D=0Alines?=\r\n\tfolded");
  EXPECT_EQ(field.value, "two  lines folded") << "GMime joins the fold and the word";
}

}  // namespace
}  // namespace mailseal::mime
