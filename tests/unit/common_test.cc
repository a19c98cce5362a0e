#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_set>

#include <gtest/gtest.h>

#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/host_port.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/key_access.h"
#include "mailseal/common/qr_code.h"
#include "mailseal/common/text.h"
#include "mailseal/common/time.h"

namespace mailseal {
namespace {

TEST(QrCode, ASmallTextIsVersionOneWithItsFinderPatterns) {
  const std::optional<QrCode> code = encode_qr("mailseal");
  ASSERT_TRUE(code);
  EXPECT_EQ(code->width, 21) << "version 1";
  // The top-left finder pattern: a dark ring, a light ring, a dark centre.
  EXPECT_TRUE(code->dark(0, 0) && code->dark(6, 6) && code->dark(3, 3));
  EXPECT_FALSE(code->dark(1, 1) || code->dark(5, 1));
  EXPECT_FALSE(code->dark(-1, 0) || code->dark(0, 21)) << "the quiet zone is light";
  EXPECT_FALSE(encode_qr(std::string(3000, 'x'))) << "more than any version holds at level M";
}

TEST(Text, FoldsAsciiLettersAndNothingElse) {
  EXPECT_EQ(ascii_lower("MAIL From:<A@Example.ORG>"), "mail from:<a@example.org>");
  EXPECT_EQ(ascii_upper("auth plain"), "AUTH PLAIN");
  // Bytes above ASCII are never folded, whatever a locale would say
  // (Latin-1 \xC9 is an uppercase E acute; UTF-8's capital I with dot).
  EXPECT_EQ(ascii_lower("\xC9T\xC4\xB0"), "\xC9t\xC4\xB0");
  EXPECT_EQ(ascii_upper("\xE9t"), "\xE9T");
  EXPECT_EQ(ascii_lower('@'), '@');
  EXPECT_EQ(ascii_upper('['), '[');
}

TEST(Text, ComparesIgnoringAsciiCaseOnly) {
  EXPECT_TRUE(equal_ignoring_ascii_case("Content-Type", "content-TYPE"));
  EXPECT_FALSE(equal_ignoring_ascii_case("Content-Type", "Content-Typ"));
  EXPECT_FALSE(equal_ignoring_ascii_case("\xC9", "\xE9"));
  EXPECT_TRUE(equal_ignoring_ascii_case("", ""));
}

TEST(EmailAddress, NormalisesToLowerCase) {
  EXPECT_EQ(EmailAddress::parse("Alice@Example.COM").str(), "alice@example.com");
  EXPECT_EQ(EmailAddress::parse("<bob.smith+tag@mail.example.org>").str(), "bob.smith+tag@mail.example.org");
  EXPECT_EQ(EmailAddress::parse("alice@example.com").local_part(), "alice");
  EXPECT_EQ(EmailAddress::parse("alice@example.com").domain(), "example.com");
}

TEST(EmailAddress, RefusesInvalidOnes) {
  for (const char* text :
       {"", "alice", "@example.com", "alice@", "alice@localhost", "al ice@example.com", "alice@exa_mple.com",
        "alice@-example.com", "\"a b\"@example.com", "alice@[127.0.0.1]", "a..b@example.com", ".a@example.com",
        "alice@example..com", "ålice@example.com", "alice@example.com\n", "alice@example.com\r\nBcc: x@y.z"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(EmailAddress::is_valid(text));
    EXPECT_THROW(EmailAddress::parse(text), Error);
  }
  EXPECT_FALSE(EmailAddress::is_valid(std::string(65, 'a') + "@example.com"));
}

TEST(Escape, AShellWordStaysOneWordWhateverItHolds) {
  EXPECT_EQ(quote_for_shell("/home/a/.thunderbird/x.default"), "'/home/a/.thunderbird/x.default'");
  EXPECT_EQ(quote_for_shell("it's"), "'it'\\''s'");
  EXPECT_EQ(quote_for_shell(""), "''");
  // What a shell makes of it: the same bytes, one argument.
  const std::string tricky = "a b'c$(touch pwned)`x`\\\"; d";
  std::string command = "printf %s " + quote_for_shell(tricky);
  std::FILE* shell = popen(command.c_str(), "r");
  ASSERT_NE(shell, nullptr);
  std::string seen;
  char buffer[256];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, shell))
    seen.append(buffer, n);
  EXPECT_EQ(pclose(shell), 0);
  EXPECT_EQ(seen, tricky);
}

TEST(Escape, MarkupGetsCharacterReferences) {
  EXPECT_EQ(escape_markup("o'brien&co@example.com"), "o&#39;brien&amp;co@example.com");
  EXPECT_EQ(escape_markup("<script>\"x\"</script>"), "&lt;script&gt;&quot;x&quot;&lt;/script&gt;");
  EXPECT_EQ(escape_markup("plain \xc3\xa9"), "plain \xc3\xa9");
  EXPECT_EQ(escape_markup(""), "");
}

TEST(Escape, NeutralisesControlCharacters) {
  EXPECT_EQ(escape_for_terminal("plain text"), "plain text");
  EXPECT_EQ(escape_for_terminal("a\x1b[31mred"), "a\\x1b[31mred");
  EXPECT_EQ(escape_for_terminal("line\nbreak"), "line\\x0abreak");
  EXPECT_EQ(escape_for_terminal("back\\slash"), "back\\\\slash");
  EXPECT_EQ(escape_for_terminal("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(escape_for_terminal("bad\xc3"), "bad\\xc3");
  EXPECT_EQ(escape_for_terminal("\xe2\x80\xae"
                                "evil"),
            "\\xe2\\x80\\xaeevil");  // right-to-left override
  EXPECT_EQ(escape_for_terminal("\xc2\x9b"
                                "c1"),
            "\\xc2\\x9bc1");  // C1 control CSI
}

// Exactly the text escape_for_terminal leaves alone (backslashes aside).
TEST(Escape, PrintableTextIsWhatNeedsNoEscape) {
  for (std::string_view text : {"plain text", "back\\slash \"q\" 'p' %h $HOME", "caf\xc3\xa9", "\xf0\x9f\x93\xa7", ""})
    EXPECT_TRUE(is_printable_text(text)) << text;
  for (std::string_view text : {"line\nbreak", "tab\t", "del\x7f", "bad\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                "\xf4\x90\x80\x80", "\xe2\x80\xae" "evil", "\xc2\x9b" "c1"})
    EXPECT_FALSE(is_printable_text(text)) << escape_for_terminal(text);
}

TEST(KeyAccess, UnencryptedHasNoPassphrase) {
  KeyAccess access = KeyAccess::unencrypted();
  EXPECT_FALSE(access.encrypted());
  EXPECT_EQ(access.passphrase(), nullptr);
}

TEST(KeyAccess, WithAPassphraseHandsItToCrypto) {
  KeyAccess access = KeyAccess::with_passphrase(Passphrase("correct horse"));
  EXPECT_TRUE(access.encrypted());
  ASSERT_NE(access.passphrase(), nullptr);
  EXPECT_EQ(access.passphrase()->view(), "correct horse");
}

TEST(KeyAccess, RefusesAnEmptyPassphrase) {
  try {
    KeyAccess::with_passphrase(Passphrase(""));
    ADD_FAILURE() << "an empty passphrase was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Usage);
  }
}

TEST(KeyAccess, ACopyHoldsItsOwnPassphrase) {
  std::optional<KeyAccess> original = KeyAccess::with_passphrase(Passphrase("s3cret"));
  KeyAccess copy = *original;
  EXPECT_NE(copy.passphrase(), original->passphrase()) << "not shared";
  original.reset();
  ASSERT_TRUE(copy.encrypted());
  EXPECT_EQ(copy.passphrase()->view(), "s3cret");

  KeyAccess assigned = KeyAccess::unencrypted();
  assigned = copy;
  EXPECT_EQ(assigned.passphrase()->view(), "s3cret");
  assigned = KeyAccess::unencrypted();
  EXPECT_FALSE(assigned.encrypted());
  EXPECT_TRUE(copy.encrypted()) << "assigning to a copy leaves the original";
}

}  // namespace
}  // namespace mailseal

namespace mailseal {
namespace {

TEST(HostPort, SplitsAtTheLastColon) {
  HostPort loopback = parse_host_port("127.0.0.1:8080");
  EXPECT_EQ(loopback.host, "127.0.0.1");
  EXPECT_EQ(loopback.port, 8080);
  HostPort any = parse_host_port("[::1]:0");
  EXPECT_EQ(any.host, "[::1]");
  EXPECT_EQ(any.port, 0);
}

TEST(HostPort, RefusesWhatIsNotHostAndPort) {
  for (const char* text : {"localhost", ":25", "host:", "host:65536", "host:123456", "host:8o80", "host:-1"}) {
    try {
      parse_host_port(text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Usage) << text;
    }
  }
}

// One id cannot be passed where another is expected, and a string becomes
// one only when the code says so.
static_assert(!std::is_convertible_v<std::string, Identity>);
static_assert(!std::is_convertible_v<std::string, DeviceId>);
static_assert(!std::is_convertible_v<DeviceId, std::string>);
static_assert(!std::is_constructible_v<DeviceId, RequestId>);
static_assert(!std::is_constructible_v<RequestId, DeviceId>);
static_assert(!std::is_constructible_v<Identity, DeviceId>);
static_assert(!std::is_assignable_v<DeviceId&, Identity>);
static_assert(std::is_constructible_v<DeviceId, std::string>);

TEST(Ids, CompareAndHashByTheirText) {
  const DeviceId phone("AAAA-BBBB"), laptop("CCCC-DDDD");
  EXPECT_EQ(phone, DeviceId("AAAA-BBBB"));
  EXPECT_NE(phone, laptop);
  EXPECT_LT(phone, laptop);
  EXPECT_EQ(phone.str(), "AAAA-BBBB");
  EXPECT_TRUE(DeviceId().empty());
  std::set<DeviceId> ordered = {laptop, phone, DeviceId("AAAA-BBBB")};
  EXPECT_EQ(ordered.size(), 2u);
  EXPECT_EQ(ordered.begin()->str(), "AAAA-BBBB");
  std::unordered_set<Identity> hashed = {Identity("MAAA"), Identity("MAAA"), Identity("MBBB")};
  EXPECT_EQ(hashed.size(), 2u);
  EXPECT_TRUE(hashed.contains(Identity("MBBB")));
}

TEST(Ids, AcceptAnyTextAsBefore) {
  // Checking is the reader's job (a device id typed on the command line, a
  // request id the service sent): the type takes the string as it is.
  for (const char* text : {"", "not a fingerprint", "\u00e9t\u00e9", "a/b"})
    EXPECT_EQ(RequestId(text).str(), text);
}

TEST(Time, UnixSecondsAtTheBoundariesRoundTrip) {
  EXPECT_EQ(to_unix_seconds(from_unix_seconds(1800000000)), 1800000000);
  EXPECT_EQ(to_unix_seconds(TimePoint{}), 0) << "the epoch";
  EXPECT_EQ(to_unix_seconds(from_unix_seconds(-86400)), -86400) << "before the epoch";
  // 9999-12-31T23:59:59Z, the latest date a certificate carries (RFC 5280 section 4.1.2.5).
  constexpr std::int64_t kLatest = 253402300799;
  EXPECT_EQ(to_unix_seconds(from_unix_seconds(kLatest)), kLatest);
  EXPECT_EQ(from_unix_seconds(kLatest) - from_unix_seconds(kLatest - 3600), std::chrono::hours(1));
}

TEST(Time, NowIsWholeSecondsOfTheSystemClock) {
  const TimePoint before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const TimePoint read = now();
  const TimePoint after = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  EXPECT_LE(before, read);
  EXPECT_LE(read, after);
}

}  // namespace
}  // namespace mailseal
