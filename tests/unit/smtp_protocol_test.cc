// The SMTP protocol pieces of the gateway: commands, paths, replies, and
// dot-stuffing both ways.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/smtp/protocol.h"

namespace mailseal::smtp {
namespace {

TEST(SmtpCommand, VerbIsUpperCasedAndArgumentTrimmed) {
  auto command = parse_command("mail FROM:<a@b.example>  ");
  ASSERT_TRUE(command);
  EXPECT_EQ(command->verb, "MAIL");
  EXPECT_EQ(command->argument, "FROM:<a@b.example>");
  EXPECT_FALSE(parse_command(""));
  EXPECT_FALSE(parse_command("\x01\x02"));
  EXPECT_FALSE(parse_command("EHLO\tx"));
  EXPECT_FALSE(parse_command("ABCDEFGHIJKLMNOPQ"));
}

TEST(SmtpPath, ParametersAndNullPath) {
  PathArgument path = parse_path_argument("FROM:<alice@example.com> SIZE=100 body=8BITMIME", "from");
  EXPECT_EQ(path.path, "alice@example.com");
  ASSERT_EQ(path.parameters.size(), 2u);
  EXPECT_EQ(path.parameters[0], (std::pair<std::string, std::string>{"SIZE", "100"}));
  EXPECT_EQ(path.parameters[1].first, "BODY");
  EXPECT_EQ(parse_path_argument("FROM:<>", "FROM").path, "");
  EXPECT_EQ(parse_path_argument("TO:<@relay.example:bob@example.org>", "TO").path, "bob@example.org");
}

TEST(SmtpPath, MalformedArgumentsAreRefused) {
  for (const char* bad : {"FROM:alice@example.com", "FROM:<alice@example.com", "TO:<a@b.c>", "FROM:<a b@c.d>",
                          "FROM:<a@b.c>SIZE=1", "FROM:<a@b.c> =1", "FROM:<a@b.c> SIZE=1=2", "FROM:<@relay>"}) {
    EXPECT_THROW(parse_path_argument(bad, "FROM"), Error) << bad;
  }
}

TEST(SmtpReply, MultiLineRoundTripAndHostileText) {
  Reply answer{250, {"first", "SIZE 10", "last"}};
  EXPECT_EQ(answer.serialize(), "250-first\r\n250-SIZE 10\r\n250 last\r\n");
  ReplyReader reader;
  EXPECT_FALSE(reader.feed("250-first"));
  EXPECT_FALSE(reader.feed("250-SIZE 10"));
  EXPECT_TRUE(reader.feed("250 last"));
  Reply read = reader.take();
  EXPECT_EQ(read.code, 250);
  EXPECT_EQ(read.lines, answer.lines);
  // Text from a message or a peer cannot end a reply line early.
  EXPECT_EQ(reply(550, "evil\r\n250 ok").serialize(), "550 evil??250 ok\r\n");
}

TEST(SmtpReply, ReaderRefusesWhatIsNotAReply) {
  for (const char* bad : {"", "25", "abc hello", "199 too small", "600 too big", "250+x"}) {
    ReplyReader reader;
    EXPECT_THROW(reader.feed(bad), Error) << bad;
  }
  ReplyReader reader;
  reader.feed("250-a");
  EXPECT_THROW(reader.feed("251 b"), Error);
}

TEST(SmtpData, DotStuffingRoundTrips) {
  const std::string message = "Subject: x\r\n\r\n.starts with a dot\r\n.\r\n..\r\nlast line without ending";
  std::string stuffed = dot_stuff(message);
  EXPECT_NE(stuffed.find("\r\n..starts with a dot\r\n..\r\n...\r\n"), std::string::npos);
  ASSERT_TRUE(stuffed.ends_with("\r\n.\r\n"));
  DataReader reader(1 << 20);
  std::size_t start = 0;
  bool ended = false;
  while (!ended) {
    std::size_t end = stuffed.find("\r\n", start);
    ended = reader.feed(std::string_view(stuffed).substr(start, end - start));
    start = end + 2;
  }
  EXPECT_EQ(start, stuffed.size());
  EXPECT_EQ(reader.take(), message + "\r\n");
  EXPECT_EQ(dot_stuff("a\nb\rc"), "a\r\nb\r\nc\r\n.\r\n");
}

TEST(SmtpData, SizeAndLineLimitsAreReported) {
  DataReader reader(10);
  EXPECT_FALSE(reader.feed("123456"));
  EXPECT_FALSE(reader.over_size());
  EXPECT_FALSE(reader.feed("7890"));
  EXPECT_TRUE(reader.over_size());
  EXPECT_TRUE(reader.feed("."));
  EXPECT_TRUE(reader.take().empty());
  DataReader cut(1000);
  cut.feed("xxx", true);
  EXPECT_TRUE(cut.line_too_long());
  DataReader eight(1000);
  eight.feed("gr\xc3\xbc\xc3\x9f");
  EXPECT_TRUE(eight.has_eight_bit());
}

// Feeds `data` (what follows DATA's CRLF) line by line as the connection
// splits it (at LF; `crlf` when CR came before it). Returns how many bytes
// were read when the reader saw the end, or npos.
std::size_t end_of_data(DataReader& reader, std::string_view data) {
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t newline = data.find('\n', start);
    if (newline == std::string_view::npos)
      return std::string_view::npos;
    bool crlf = newline > start && data[newline - 1] == '\r';
    std::string_view line = data.substr(start, newline - start - (crlf ? 1 : 0));
    start = newline + 1;
    if (reader.feed(line, false, crlf))
      return start;
  }
  return std::string_view::npos;
}

// SMTP smuggling: only CRLF.CRLF ends the data; every other "end" is data,
// and marks the message as one to refuse.
TEST(SmtpData, OnlyCrlfDotCrlfEndsTheData) {
  const std::string tail = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nsmuggled\r\n.\r\n";
  for (std::string fake : {"\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\r\r\n", "\n..\n"}) {
    DataReader reader(1 << 20);
    std::string data = "first" + fake + tail;
    EXPECT_EQ(end_of_data(reader, data), data.size()) << "the data ended early at " << testing::PrintToString(fake);
    EXPECT_TRUE(reader.bare_line_ending()) << testing::PrintToString(fake);
  }
  DataReader clean(1 << 20);
  EXPECT_EQ(end_of_data(clean, ".\r\n"), 3u) << "an empty message";
  DataReader honest(1 << 20);
  EXPECT_EQ(end_of_data(honest, "a\r\n.\r\nQUIT\r\n"), 6u);
  EXPECT_FALSE(honest.bare_line_ending());
}

TEST(SmtpHttp, RequestLinesAndHeaderFieldsAreRecognized) {
  for (std::string_view line :
       {"POST / HTTP/1.1", "GET /index.html HTTP/1.0", "OPTIONS * HTTP/1.1", "Host: 127.0.0.1:10587",
        "Content-Type: text/plain", "User-Agent:x", "Origin: https://evil.example"})
    EXPECT_TRUE(looks_like_http(line)) << line;
  for (std::string_view line : {"EHLO a", "MAIL FROM:<a@b.c>", "RCPT TO:<b@c.d> NOTIFY=NEVER",
                                "AUTH PLAIN AGEAYg==", "DATA", "QUIT", "HELO http://x", "VRFY a HTTP", ""})
    EXPECT_FALSE(looks_like_http(line)) << line;
}

TEST(SmtpSize, OnlyDecimalNumbers) {
  EXPECT_EQ(parse_size_parameter("1024"), 1024u);
  EXPECT_FALSE(parse_size_parameter(""));
  EXPECT_FALSE(parse_size_parameter("12a"));
  EXPECT_FALSE(parse_size_parameter("-1"));
  EXPECT_FALSE(parse_size_parameter("99999999999999999999999"));
}

}  // namespace
}  // namespace mailseal::smtp
