// The resident process's request (resident/internal/request.h): what a
// launcher sends, read back exactly, and every malformed request refused;
// which command lines the resident process runs; the private-folder rule;
// the hand-off of a command to the idle child (resident/internal/handoff.h).

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mailseal/resident/resident.h"
#include "resident/internal/handoff.h"
#include "resident/internal/passing.h"
#include "resident/internal/place.h"
#include "resident/internal/request.h"
#include "scratch.h"

namespace mailseal::resident {
namespace {

Request sample() {
  Request request;
  request.arguments = {"mailseal", "--home", "/tmp/a b", "sign", "--opaque", ""};
  request.environment = {"HOME=/root", "MAILSEAL_PASSPHRASE=correct horse", "EMPTY="};
  request.umask = 022;
  return request;
}

void expect_malformed(const std::vector<std::uint8_t>& bytes, std::string_view naming) {
  try {
    decode(bytes);
    ADD_FAILURE() << "decoded; expected a refusal naming " << naming;
  } catch (const MalformedRequest& error) {
    EXPECT_NE(std::string(error.what()).find(naming), std::string::npos) << error.what();
  }
}

TEST(ResidentRequest, ReadsBackWhatWasWritten) {
  const auto bytes = encode(sample());
  const Request read = decode(bytes);
  EXPECT_EQ(read.arguments, sample().arguments);
  EXPECT_EQ(read.environment, sample().environment);
  EXPECT_EQ(read.umask, 022u);
}

TEST(ResidentRequest, RefusesEveryTruncation) {
  const auto bytes = encode(sample());
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length));
    EXPECT_THROW(decode(cut), MalformedRequest) << "length " << length;
  }
}

TEST(ResidentRequest, RefusesWhatIsNotOne) {
  auto bytes = encode(sample());
  bytes[0] = 'X';
  expect_malformed(bytes, "not a mailseal launcher's request");

  bytes = encode(sample());
  bytes.push_back(0);
  expect_malformed(bytes, "bytes after");

  Request with_nul = sample();
  with_nul.arguments[1] = std::string("--ho\0me", 7);
  expect_malformed(encode(with_nul), "NUL");

  Request bad_environment = sample();
  bad_environment.environment.push_back("NO_EQUALS_SIGN");
  expect_malformed(encode(bad_environment), "without '='");

  Request bad_umask = sample();
  bad_umask.umask = 01000;
  expect_malformed(encode(bad_umask), "umask");

  Request nothing = sample();
  nothing.arguments.clear();
  expect_malformed(encode(nothing), "numbers of arguments");
}

TEST(ResidentRequest, RefusesCountsTheBytesCannotHold) {
  // A count of four billion arguments in a request of a few bytes: refused
  // before anything is reserved for them.
  auto bytes = encode(sample());
  for (std::size_t i = 8; i < 12; ++i)
    bytes[i] = 0xff;
  expect_malformed(bytes, "numbers of arguments");
  // A string length past the end.
  bytes = encode(sample());
  for (std::size_t i = 16; i < 20; ++i)
    bytes[i] = 0xff;
  expect_malformed(bytes, "ends inside");
}

TEST(ResidentRequest, RefusesARequestOverItsLimit) {
  Request large = sample();
  large.environment.push_back("BIG=" + std::string(kMaxRequestBytes, 'x'));
  expect_malformed(encode(large), "larger than 1 MiB");
}

bool runs(std::vector<std::string_view> arguments) {
  return runs_in_resident(arguments);
}

TEST(ResidentCommands, RunsThePerMessageCommandsWhateverGlobalOptionsComeFirst) {
  EXPECT_TRUE(runs({"mailseal", "sign"}));
  EXPECT_TRUE(runs({"mailseal", "--home", "h", "encrypt", "--to", "bob@example.org"}));
  EXPECT_TRUE(runs({"mailseal", "--home=h", "--json", "verify", "m.eml"}));
  EXPECT_TRUE(runs({"mailseal", "--passphrase-file", "serve", "decrypt"}));  // "serve" is the file
  EXPECT_TRUE(runs({"mailseal", "trust", "bob@example.org"}));
}

TEST(ResidentCommands, LeavesEverythingElseToAProcessOfItsOwn) {
  EXPECT_FALSE(runs({"mailseal"}));
  EXPECT_FALSE(runs({"mailseal", "--version"}));
  EXPECT_FALSE(runs({"mailseal", "serve"}));
  EXPECT_FALSE(runs({"mailseal", "gateway"}));
  EXPECT_FALSE(runs({"mailseal", "resident"}));
  EXPECT_FALSE(runs({"mailseal", "device", "join"}));
  EXPECT_FALSE(runs({"mailseal", "--home", "h", "init", "a@example.org"}));
  EXPECT_FALSE(runs({"mailseal", "--unknown", "sign"}));  // unknown to the launcher: mailseal-cli says so
  EXPECT_FALSE(runs({"mailseal", "--home"}));
}

TEST(ResidentPlace, OnlyAFolderOfThisUserClosedToOthersIsPrivate) {
  test::ScratchDirectory scratch;
  const auto folder = scratch.path() / "socket-folder";
  make_private_folder(folder);
  EXPECT_TRUE(is_private_folder(folder));
  ASSERT_EQ(::chmod(folder.c_str(), 0750), 0);
  EXPECT_FALSE(is_private_folder(folder));
  EXPECT_THROW(make_private_folder(folder), std::runtime_error);
  ASSERT_EQ(::chmod(folder.c_str(), 0700), 0);
  const auto link = scratch.path() / "link";
  std::filesystem::create_directory_symlink(folder, link);
  EXPECT_FALSE(is_private_folder(link));
  EXPECT_FALSE(is_private_folder(scratch.path() / "missing"));
}

// The descriptors a command needs, as the resident process holds them.
std::vector<UniqueFd> four_descriptors() {
  std::vector<UniqueFd> passed;
  for (int i = 0; i < 3; ++i)
    passed.emplace_back(::open("/dev/null", O_RDWR | O_CLOEXEC));
  passed.emplace_back(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  return passed;
}

TEST(ResidentHandoff, TheIdleChildReceivesTheConnectionDescriptorsAndRequest) {
  auto pair = handoff_pair();
  ASSERT_TRUE(pair);
  int launcher[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, launcher), 0);
  UniqueFd launcher_end(launcher[0]), connection(launcher[1]);
  const auto passed = four_descriptors();
  // Larger than one socket message holds: it travels in a memory file.
  Request request = sample();
  request.environment.push_back("LARGE=" + std::string(600 * 1024, 'x'));
  auto bytes = encode(request);
  bytes.insert(bytes.begin(), {0, 0, 0, 0});  // the length prefix travels with it
  ASSERT_TRUE(hand_over(pair->first.get(), connection.get(), passed, bytes));
  const auto handed = wait_for_command(pair->second.get());
  ASSERT_TRUE(handed);
  EXPECT_TRUE(std::equal(handed->request.begin(), handed->request.end(), bytes.begin(), bytes.end()));
  ASSERT_EQ(handed->passed.size(), 4u);
  struct stat folder {};
  ASSERT_EQ(::fstat(handed->passed[3].get(), &folder), 0);
  EXPECT_TRUE(S_ISDIR(folder.st_mode));
  // The connection is the launcher's: what the child writes, the launcher reads.
  ASSERT_EQ(::write(handed->connection.get(), "X", 1), 1);
  char got = 0;
  ASSERT_EQ(::read(launcher_end.get(), &got, 1), 1);
  EXPECT_EQ(got, 'X');
}

TEST(ResidentHandoff, AChildThatHasGoneRefusesTheHandOff) {
  auto pair = handoff_pair();
  ASSERT_TRUE(pair);
  pair->second.reset();  // the idle child died
  const auto passed = four_descriptors();
  const auto bytes = encode(sample());
  EXPECT_FALSE(hand_over(pair->first.get(), passed[0].get(), passed, bytes));
}

TEST(ResidentHandoff, TheChildRunsNothingButAWholeCommand) {
  const auto passed = four_descriptors();
  const std::vector<int> descriptors = {passed[0].get(), passed[1].get(), passed[2].get(), passed[3].get()};
  const std::vector<std::uint8_t> command{'C'};
  // The resident process closed its end: the child ends.
  {
    auto pair = handoff_pair();
    ASSERT_TRUE(pair);
    pair->first.reset();
    EXPECT_FALSE(wait_for_command(pair->second.get()));
  }
  // The right byte without the memory file; another byte with all six.
  {
    auto pair = handoff_pair();
    ASSERT_TRUE(pair);
    ASSERT_TRUE(send_with_descriptors(pair->first.get(), command, descriptors));
    EXPECT_FALSE(wait_for_command(pair->second.get()));
  }
  {
    auto pair = handoff_pair();
    ASSERT_TRUE(pair);
    const std::vector<int> six = {descriptors[0], descriptors[0], descriptors[1],
                                  descriptors[2], descriptors[3], descriptors[0]};
    ASSERT_TRUE(send_with_descriptors(pair->first.get(), std::vector<std::uint8_t>{'G'}, six));
    EXPECT_FALSE(wait_for_command(pair->second.get()));
  }
  // Six descriptors, but the last is not a request's memory file of a sane size.
  {
    auto pair = handoff_pair();
    ASSERT_TRUE(pair);
    const std::vector<int> six = {descriptors[0], descriptors[0], descriptors[1],
                                  descriptors[2], descriptors[3], descriptors[3]};
    ASSERT_TRUE(send_with_descriptors(pair->first.get(), command, six));
    EXPECT_FALSE(wait_for_command(pair->second.get()));
  }
}

TEST(ResidentHandoff, TheWarmUpStopsWhenACommandCameOrTheResidentEnded) {
  {
    auto pair = handoff_pair();
    ASSERT_TRUE(pair);
    EXPECT_FALSE(handoff_ready(pair->second.get()));  // nothing yet: warm up
    EXPECT_FALSE(handoff_ready(pair->second.get(), std::chrono::milliseconds(20)));  // waited, still nothing
    const auto passed = four_descriptors();
    const auto bytes = encode(sample());
    ASSERT_TRUE(hand_over(pair->first.get(), passed[0].get(), passed, bytes));
    EXPECT_TRUE(handoff_ready(pair->second.get()));
    EXPECT_TRUE(handoff_ready(pair->second.get(), std::chrono::milliseconds(50)));
    // Looking does not take it: the command is still there to be run.
    EXPECT_TRUE(wait_for_command(pair->second.get()));
  }
  {
    auto pair = handoff_pair();
    ASSERT_TRUE(pair);
    pair->first.reset();
    EXPECT_TRUE(handoff_ready(pair->second.get()));
  }
}

}  // namespace
}  // namespace mailseal::resident
