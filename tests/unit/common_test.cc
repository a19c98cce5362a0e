#include <sys/stat.h>
#include <filesystem>

#include <gtest/gtest.h>

#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"

namespace mailseal {
namespace {

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

TEST(Files, AtomicWriteIsPrivateAndReplaces) {
  auto directory = std::filesystem::temp_directory_path() / ("mailseal-files-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  ensure_private_directory(directory / "a" / "b");
  struct stat info {};
  ASSERT_EQ(::stat((directory / "a" / "b").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  auto path = directory / "a" / "b" / "secret";
  write_file_atomic(path, as_bytes("first"), FileMode::Private);
  write_file_atomic(path, as_bytes("second"), FileMode::Private);
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(as_string_view(read_file(path)), "second");
  EXPECT_THROW(write_new_file(path, as_bytes("third"), FileMode::Private), Error);
  EXPECT_EQ(as_string_view(read_file(path)), "second");
  // No temporary files are left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory / "a" / "b"))
    ++entries;
  EXPECT_EQ(entries, 1);
  try {
    read_file(directory / "missing");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NotFound);
  }
  EXPECT_THROW(read_file(path, 3), Error);
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace mailseal
