// The streaming output of sign and encrypt (smime::OutputSink): a regular
// file or a new path appears whole or not at all; a device or a FIFO is
// written in place as the output flows and stays what it was; a symbolic
// link is followed and stays a link. Plus the transforming sinks.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/smime/io.h"
#include "scratch.h"
#include "smime/internal/background_sink.h"

namespace mailseal::smime {
namespace {

using test::file_kind;
using test::ScratchDirectory;

std::string contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// More than one internal chunk (64 KiB), so that writes happen before commit().
const std::string kLarge(200 * 1024, 'c');

TEST(OutputSink, ANewFileAppearsOnlyWhenCommitted) {
  ScratchDirectory scratch;
  auto target = scratch / "out.eml";
  {
    auto sink = OutputSink::file(target);
    sink->write(kLarge);
    EXPECT_EQ(file_kind(target), "absent") << "nothing under the name before commit";
  }
  EXPECT_TRUE(scratch.names().empty()) << "an uncommitted output leaves nothing behind";

  auto sink = OutputSink::file(target);
  sink->write(kLarge);
  sink->commit();
  EXPECT_EQ(contents(target), kLarge);
  struct stat info {};
  ASSERT_EQ(::stat(target.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"out.eml"});
}

TEST(OutputSink, ARegularFileIsReplacedWholeOrNotAtAll) {
  ScratchDirectory scratch;
  auto target = scratch / "out.eml";
  { std::ofstream(target) << "the old message"; }
  {
    auto sink = OutputSink::file(target);
    sink->write(kLarge);
  }
  EXPECT_EQ(contents(target), "the old message") << "a failed run keeps the old file";
  auto sink = OutputSink::file(target);
  sink->write(std::string_view("new"));
  sink->commit();
  EXPECT_EQ(contents(target), "new");
}

TEST(OutputSink, ASymbolicLinkIsFollowedAndStays) {
  ScratchDirectory scratch;
  { std::ofstream(scratch / "real.eml") << "old"; }
  std::filesystem::create_symlink("real.eml", scratch / "link.eml");
  auto sink = OutputSink::file(scratch / "link.eml");
  sink->write(kLarge);
  sink->commit();
  EXPECT_EQ(file_kind(scratch / "link.eml"), "symbolic link");
  EXPECT_EQ(contents(scratch / "real.eml"), kLarge);
  EXPECT_EQ(scratch.names(), (std::vector<std::string>{"link.eml", "real.eml"}));
}

TEST(OutputSink, AFifoIsStreamedInPlace) {
  ScratchDirectory scratch;
  auto fifo = scratch / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto received = std::async(std::launch::async, [&] { return contents(fifo); });
  try {
    auto sink = OutputSink::file(fifo);
    sink->write(kLarge);
    sink->write(std::string_view("end"));
    sink->commit();
  } catch (...) {
    test::release_fifo_reader(fifo);
    throw;
  }
  EXPECT_EQ(received.get(), kLarge + "end");
  EXPECT_EQ(file_kind(fifo), "fifo");
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"fifo"});
}

TEST(OutputSink, ACharacterDeviceStaysADevice) {
  ScratchDirectory scratch;
  auto device = scratch / "null";
  if (!test::make_null_device(device))
    GTEST_SKIP() << "mknod is not permitted here (needs CAP_MKNOD): the device case is not run";
  for (int round = 0; round < 2; ++round) {
    auto sink = OutputSink::file(device);
    sink->write(kLarge);
    sink->commit();
  }
  {
    auto abandoned = OutputSink::file(device);
    abandoned->write(kLarge);
  }
  EXPECT_EQ(file_kind(device), "character device");
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"null"});
}

TEST(OutputSink, ADirectoryIsRefused) {
  ScratchDirectory scratch;
  std::filesystem::create_directory(scratch / "folder");
  EXPECT_THROW(OutputSink::file(scratch / "folder"), Error);
  EXPECT_EQ(file_kind(scratch / "folder"), "directory");
}

TEST(Sinks, CrlfAcrossChunkBorders) {
  StringSink out;
  CrlfSink crlf(out);
  crlf.write(std::string_view("a\r"));
  crlf.write(std::string_view("\nb\n"));
  crlf.write(std::string_view("c\rd"));
  EXPECT_EQ(out.text(), "a\r\nb\r\nc\r\nd");
}

// CrlfSink lets CRLF text through untouched and rewrites anything else
// (its CRLF check compares each byte with the one before it, 64 at a time):
// on random text of CR, LF, CRLF and letters, split anywhere, the output is
// what rewriting byte by byte gives, and CrlfCheck says CRLF exactly when
// the text is its own rewriting.
std::string crlf_reference(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

TEST(Sinks, CrlfCheckAndRewriteAgreeWithByteByByte) {
  std::uint32_t state = 7;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return state >> 16;
  };
  int already_crlf = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const std::size_t length = next() % 400;
    const bool only_crlf = round % 2 == 0;  // half the texts have no lone CR or LF
    while (text.size() < length) {
      const unsigned pick = only_crlf ? 2 + next() % 14 : next() % 16;
      text += pick == 0 ? "\r" : pick == 1 ? "\n" : pick < 5 ? "\r\n" : "a";
    }
    StringSink out;
    CrlfSink crlf(out);
    CrlfCheck check;
    const std::size_t step = 1 + next() % 150;
    for (std::size_t offset = 0; offset < text.size(); offset += step) {
      const std::string_view piece = std::string_view(text).substr(offset, step);
      crlf.write(piece);
      check.update(as_bytes(piece));
    }
    const std::string expected = crlf_reference(text);
    ASSERT_EQ(out.text(), expected) << "round " << round;
    ASSERT_EQ(check.all_crlf(), expected == text) << "round " << round;
    already_crlf += expected == text;
  }
  EXPECT_GT(already_crlf, 1000) << "both answers must occur";
  EXPECT_LT(already_crlf, 2000) << "both answers must occur";
}

TEST(Sinks, Base64LinesOf76) {
  StringSink out;
  Base64Sink base64(out);
  base64.write(std::string_view(std::string(50, 'a')));
  base64.write(std::string_view(std::string(20, 'a')));
  base64.finish();
  auto first_end = out.text().find("\r\n");
  ASSERT_NE(first_end, std::string::npos);
  EXPECT_EQ(first_end, 76u);
  EXPECT_EQ(out.text().substr(0, 8), "YWFhYWFh");
  EXPECT_EQ(out.text().substr(76 + 2), "YWFhYWFhYWFhYWFhYQ==\r\n") << "57 + 13 bytes: the tail line";
}

// The line encoder (two characters a lookup, eight bytes read for six) gives
// what OpenSSL's EVP_EncodeBlock gives, line by line, for every length of a
// last line and however the input is split, including writes larger than
// the encoder's own output batch (1024 lines).
TEST(Sinks, Base64LinesAreOpenSslsBase64) {
  std::string input;
  std::uint32_t state = 12345;
  for (std::size_t i = 0; i < 57 * 2500 + 40; ++i) {
    state = state * 1103515245u + 12345u;
    input.push_back(static_cast<char>(state >> 24));
  }
  for (std::size_t length :
       {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{8}, std::size_t{56},
        std::size_t{57}, std::size_t{58}, std::size_t{114}, std::size_t{1000}, input.size()}) {
    for (std::size_t step : {std::size_t{1}, std::size_t{5}, std::size_t{57}, std::size_t{4096}, input.size()}) {
      const std::string_view data = std::string_view(input).substr(0, length);
      std::string expected;
      for (std::size_t offset = 0; offset < data.size(); offset += 57)
        expected += encode_base64(as_bytes(data.substr(offset, 57))) + "\r\n";
      StringSink out;
      Base64Sink base64(out);
      for (std::size_t offset = 0; offset < data.size(); offset += step)
        base64.write(data.substr(offset, step));
      base64.finish();
      ASSERT_EQ(out.text(), expected) << length << " bytes written " << step << " at a time";
      if (length > 100 && step > 1)
        break;  // the long inputs once or twice, the short ones at every step
    }
  }
}

// What the writer hands to a BackgroundSink reaches the sink behind it
// whole and in order, from small writes below the start threshold and large
// ones above it, split and joined across its chunks.
TEST(BackgroundSink, PassesEverythingInOrder) {
  StringSink out;
  std::string expected;
  {
    internal::BackgroundSink background(out);
    for (int i = 0; i < 6000; ++i) {
      std::string piece =
          std::to_string(i) + std::string(static_cast<std::size_t>(i % 7000), static_cast<char>('a' + i % 26));
      background.write(std::string_view(piece));
      expected += piece;
    }
    background.finish();
    EXPECT_EQ(out.text().size(), expected.size()) << "finish returns once the sink behind has everything";
  }
  EXPECT_GT(expected.size(), 8u << 20) << "the test must pass the threshold at which the thread starts";
  EXPECT_EQ(out.text(), expected);
}

// A sink behind that fails (the output's disk full, the encryption refused)
// stops the writing: the writer sees the error, and nothing written after it
// reaches the sink.
class FailingSink : public ByteSink {
 public:
  explicit FailingSink(std::size_t fail_after) : fail_after_(fail_after) {}
  using ByteSink::write;
  void write(ByteView bytes) override {
    if (received_ + bytes.size() > fail_after_)
      throw Error(ErrorCode::Io, "disk full");
    received_ += bytes.size();
  }
  std::size_t received() const { return received_; }

 private:
  std::size_t fail_after_;
  std::size_t received_ = 0;
};

TEST(BackgroundSink, ErrorOfTheSinkBehindReachesTheWriter) {
  FailingSink failing(6u << 20);
  internal::BackgroundSink background(failing);
  const std::string chunk(100 * 1024, 'x');
  bool thrown = false;
  std::string message;
  try {
    for (int i = 0; i < 400; ++i)
      background.write(std::string_view(chunk));
    background.finish();
  } catch (const Error& error) {
    thrown = true;
    message = error.what();
  }
  EXPECT_TRUE(thrown) << "40 MB into a sink that takes 6 MB";
  EXPECT_NE(message.find("disk full"), std::string::npos) << message;
  EXPECT_LE(failing.received(), 6u << 20);
}

// A writer that gives up (an exception of its own) leaves without waiting for
// what it wrote to be delivered, and without delivering it.
TEST(BackgroundSink, DroppedWithoutFinishStopsItsThread) {
  StringSink out;
  {
    internal::BackgroundSink background(out);
    const std::string chunk(1 << 20, 'y');
    for (int i = 0; i < 12; ++i)
      background.write(std::string_view(chunk));
  }
  EXPECT_LE(out.text().size(), std::size_t{12} << 20);
  EXPECT_EQ(out.text().find_first_not_of('y'), std::string::npos);
}

}  // namespace
}  // namespace mailseal::smime
