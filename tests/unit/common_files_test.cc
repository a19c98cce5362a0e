// Files: atomic replacement for regular files and new paths only. Output to a
// character device (/dev/null, a terminal) or a FIFO is written in place and
// the node stays what it was; a symbolic link is followed and stays a link.
// (Run as root, `mailseal encrypt big.eml -o /dev/null` once replaced the
// system's /dev/null with a regular file.) Never touches the real /dev/null:
// the device node is made with mknod in a scratch folder.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/unique_fd.h"
#include "scratch.h"

namespace mailseal {
namespace {

using test::file_kind;
using test::ScratchDirectory;

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

std::string contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

// Everything a FIFO delivers until its writer closes it, read on another thread.
std::future<std::string> read_fifo(const std::filesystem::path& path) {
  return std::async(std::launch::async, [path] { return contents(path); });
}

TEST(UniqueFd, ClosesOnceAndMovesOwnership) {
  int raw = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd first(raw);
    UniqueFd second(std::move(first));
    EXPECT_FALSE(first.valid());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_EQ(second.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw)) << "the owner closed it";

  UniqueFd released(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int kept = released.release();
  EXPECT_FALSE(released.valid());
  EXPECT_TRUE(is_open(kept));
  UniqueFd owner(kept);
  EXPECT_EQ(owner.close(), 0);
  EXPECT_FALSE(is_open(kept));
  EXPECT_EQ(owner.close(), 0) << "closing an empty owner is harmless";

  UniqueFd a(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd b(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int a_raw = a.get();
  int b_raw = b.get();
  a = std::move(b);
  EXPECT_FALSE(is_open(a_raw)) << "assignment closes what was held";
  EXPECT_EQ(a.get(), b_raw);
}

TEST(Files, AtomicWriteIsPrivateAndReplaces) {
  ScratchDirectory scratch;
  ensure_private_directory(scratch / "a" / "b");
  EXPECT_EQ(mode_of(scratch / "a" / "b"), 0700u);
  auto path = scratch.path() / "a" / "b" / "secret";
  write_file_atomic(path, as_bytes("first"), FileMode::Private);
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  const ino_t first_inode = info.st_ino;
  write_file_atomic(path, as_bytes("second"), FileMode::Private);
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_NE(info.st_ino, first_inode) << "replaced by a new file (rename), not rewritten";
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(as_string_view(read_file(path)), "second");
  EXPECT_THROW(write_new_file(path, as_bytes("third"), FileMode::Private), Error);
  EXPECT_EQ(as_string_view(read_file(path)), "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(scratch / "a" / "b"))
    ++entries;
  EXPECT_EQ(entries, 1) << "no temporary file is left behind";
  try {
    read_file(scratch / "missing");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NotFound);
  }
  EXPECT_THROW(read_file(path, 3), Error);
  write_file_atomic(scratch / "public", as_bytes("x"), FileMode::Public);
  EXPECT_EQ(mode_of(scratch / "public"), 0644u);
}

TEST(OutputTarget, SaysHowEachKindOfPathIsWritten) {
  ScratchDirectory scratch;
  auto new_file = resolve_output_target(scratch / "new");
  EXPECT_EQ(new_file.kind, OutputTarget::Kind::NewFile);
  EXPECT_EQ(new_file.path, scratch / "new");

  write_file_atomic(scratch / "regular", as_bytes("r"), FileMode::Private);
  EXPECT_EQ(resolve_output_target(scratch / "regular").kind, OutputTarget::Kind::RegularFile);

  ASSERT_EQ(::mkfifo((scratch / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(resolve_output_target(scratch / "fifo").kind, OutputTarget::Kind::InPlace);

  // Links are followed to the end of a chain, relative ones from their own folder.
  std::filesystem::create_directory(scratch / "sub");
  std::filesystem::create_symlink("../regular", scratch / "sub" / "relative");
  std::filesystem::create_symlink(scratch / "sub" / "relative", scratch / "chain");
  auto chained = resolve_output_target(scratch / "chain");
  EXPECT_EQ(chained.kind, OutputTarget::Kind::RegularFile);
  EXPECT_EQ(std::filesystem::weakly_canonical(chained.path), std::filesystem::weakly_canonical(scratch / "regular"));
  std::filesystem::create_symlink("fifo", scratch / "to-fifo");
  EXPECT_EQ(resolve_output_target(scratch / "to-fifo").kind, OutputTarget::Kind::InPlace);
  std::filesystem::create_symlink("not-yet", scratch / "dangling");
  auto dangling = resolve_output_target(scratch / "dangling");
  EXPECT_EQ(dangling.kind, OutputTarget::Kind::NewFile);
  EXPECT_EQ(dangling.path, scratch / "not-yet");

  std::filesystem::create_symlink("loop-b", scratch / "loop-a");
  std::filesystem::create_symlink("loop-a", scratch / "loop-b");
  EXPECT_THROW(resolve_output_target(scratch / "loop-a"), Error);
  EXPECT_THROW(resolve_output_target(scratch / "sub"), Error) << "a directory";

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string socket_path = (scratch / "socket").string();
  ASSERT_LT(socket_path.size(), sizeof address.sun_path);
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  try {
    resolve_output_target(scratch / "socket");
    ADD_FAILURE() << "a socket is no output";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Io);
    EXPECT_NE(std::string(error.what()).find("nothing was written"), std::string::npos) << error.what();
  }
}

TEST(OutputTarget, ASymbolicLinkIsFollowedAndStays) {
  ScratchDirectory scratch;
  write_file_atomic(scratch / "real", as_bytes("old contents, longer than the new"), FileMode::Private);
  std::filesystem::create_symlink("real", scratch / "link");
  write_file_atomic(scratch / "link", as_bytes("new"), FileMode::Private);
  EXPECT_EQ(file_kind(scratch / "link"), "symbolic link");
  EXPECT_EQ(std::filesystem::read_symlink(scratch / "link"), "real");
  EXPECT_EQ(contents(scratch / "real"), "new") << "the link's target is replaced";

  // A link to a file that does not exist yet: the file is created where it points.
  std::filesystem::create_directory(scratch / "elsewhere");
  std::filesystem::create_symlink(scratch / "elsewhere" / "made", scratch / "ahead");
  write_file_atomic(scratch / "ahead", as_bytes("made"), FileMode::Private);
  EXPECT_EQ(file_kind(scratch / "ahead"), "symbolic link");
  EXPECT_EQ(contents(scratch / "elsewhere" / "made"), "made");
  EXPECT_EQ(mode_of(scratch / "elsewhere" / "made"), 0600u);
  EXPECT_EQ(scratch.names(), (std::vector<std::string>{"ahead", "elsewhere", "link", "real"}));
}

TEST(OutputTarget, AFifoIsWrittenInPlace) {
  ScratchDirectory scratch;
  auto fifo = scratch / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0640), 0);
  auto received = read_fifo(fifo);
  try {
    write_file_atomic(fifo, as_bytes("through the pipe"), FileMode::Private);
  } catch (...) {
    test::release_fifo_reader(fifo);
    throw;
  }
  EXPECT_EQ(received.get(), "through the pipe");
  EXPECT_EQ(file_kind(fifo), "fifo");
  EXPECT_EQ(mode_of(fifo), 0640u) << "its mode is left alone";
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"fifo"}) << "no temporary file beside it";
}

TEST(OutputTarget, ACharacterDeviceIsWrittenInPlace) {
  ScratchDirectory scratch;
  auto device = scratch / "null";
  if (!test::make_null_device(device))
    GTEST_SKIP() << "mknod is not permitted here (needs CAP_MKNOD): the device case is not run";
  unsigned mode = mode_of(device);
  write_file_atomic(device, as_bytes(std::string(100000, 'x')), FileMode::Private);
  EXPECT_EQ(file_kind(device), "character device");
  EXPECT_EQ(mode_of(device), mode);
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"null"});
  // Through a link as well.
  std::filesystem::create_symlink("null", scratch / "to-null");
  write_file_atomic(scratch / "to-null", as_bytes("y"), FileMode::Public);
  EXPECT_EQ(file_kind(device), "character device");
  EXPECT_EQ(file_kind(scratch / "to-null"), "symbolic link");
}

TEST(OutputTarget, InPlaceOpeningRefusesARegularFile) {
  ScratchDirectory scratch;
  write_file_atomic(scratch / "regular", as_bytes("keep me"), FileMode::Private);
  // What open_in_place guards against: a regular file put where a device was.
  EXPECT_THROW(open_in_place(scratch / "regular"), Error);
  EXPECT_EQ(contents(scratch / "regular"), "keep me");
}

TEST(TemporaryFile, RemovedUnlessCommitted) {
  ScratchDirectory scratch;
  {
    TemporaryFile temporary = TemporaryFile::create_beside(scratch / "target", FileMode::Private);
    write_all(temporary.fd(), as_bytes("partial"), "the test file");
    // Unnamed while written (O_TMPFILE, the file systems the tests run on have it).
    EXPECT_TRUE(temporary.unnamed());
    EXPECT_TRUE(scratch.names().empty()) << "an unnamed temporary file is in no directory listing";
  }
  EXPECT_TRUE(scratch.names().empty()) << "an uncommitted temporary file leaves nothing";
  TemporaryFile temporary = TemporaryFile::create_beside(scratch / "target", FileMode::Public);
  write_all(temporary.fd(), as_bytes("whole"), "the test file");
  temporary.commit();
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"target"});
  EXPECT_EQ(contents(scratch / "target"), "whole");
  EXPECT_EQ(mode_of(scratch / "target"), 0644u);
}

TEST(TemporaryFile, ReplacesAnExistingTargetWithoutASecondNameLeft) {
  ScratchDirectory scratch;
  write_file_atomic(scratch / "target", as_bytes("old"), FileMode::Public);
  std::filesystem::create_hard_link(scratch / "target", scratch / "other-name");
  TemporaryFile temporary = TemporaryFile::create_beside(scratch / "target", FileMode::Private);
  write_all(temporary.fd(), as_bytes("new"), "the test file");
  EXPECT_EQ(contents(scratch / "target"), "old") << "the target is untouched until commit";
  temporary.commit();
  EXPECT_EQ(contents(scratch / "target"), "new");
  EXPECT_EQ(mode_of(scratch / "target"), 0600u);
  EXPECT_EQ(contents(scratch / "other-name"), "old") << "replaced by a rename, not written through";
  EXPECT_EQ(scratch.names(), (std::vector<std::string>{"other-name", "target"}));
  EXPECT_THROW(temporary.commit(), Error) << "a file is put in place once";
}

// The directory is held from the start: a folder renamed, and another put
// at its old path, between creating and committing does not redirect the
// output (the review's "rename by path").
TEST(TemporaryFile, LandsInTheDirectoryItWasCreatedIn) {
  ScratchDirectory scratch;
  std::filesystem::create_directory(scratch / "folder");
  TemporaryFile temporary = TemporaryFile::create_beside(scratch / "folder" / "target", FileMode::Private);
  write_all(temporary.fd(), as_bytes("content"), "the test file");
  std::filesystem::rename(scratch / "folder", scratch / "moved");
  std::filesystem::create_directory(scratch / "folder");
  temporary.commit();
  EXPECT_EQ(contents(scratch / "moved" / "target"), "content");
  EXPECT_FALSE(std::filesystem::exists(scratch / "folder" / "target"));
}

TEST(TemporaryFile, RefusesAMissingFolderNamingIt) {
  ScratchDirectory scratch;
  try {
    TemporaryFile::create_beside(scratch / "absent" / "target", FileMode::Private);
    FAIL() << "a file beside a missing folder was created";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("absent"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace mailseal
