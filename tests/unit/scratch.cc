#include "scratch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include <gtest/gtest.h>

namespace mailseal::test {

ScratchDirectory::ScratchDirectory() {
  std::string name = "mailseal-test-XXXXXX";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
    name = std::string("mailseal-") + info->name() + "-XXXXXX";
  std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests are named "Name/0"
  std::string pattern = (std::filesystem::temp_directory_path() / name).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> ScratchDirectory::names() const {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(path_))
    out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool make_null_device(const std::filesystem::path& path) {
  if (::mknod(path.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) != 0) {
    if (errno == EPERM || errno == EACCES)
      return false;
    throw std::runtime_error("mknod failed for " + path.string());
  }
  // A container may allow the node but not its use (the device cgroup).
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    std::filesystem::remove(path);
    return false;
  }
  ::close(fd);
  return true;
}

void release_fifo_reader(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0)
    ::close(fd);
}

std::string file_kind(const std::filesystem::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0)
    return "absent";
  if (S_ISREG(info.st_mode))
    return "regular file";
  if (S_ISCHR(info.st_mode))
    return "character device";
  if (S_ISFIFO(info.st_mode))
    return "fifo";
  if (S_ISLNK(info.st_mode))
    return "symbolic link";
  if (S_ISDIR(info.st_mode))
    return "directory";
  return "other";
}

}  // namespace mailseal::test
