#pragma once
// A private temporary folder for one test, removed with everything in it when
// the test ends, and the special files the output tests write to.

#include <filesystem>
#include <string>
#include <vector>

namespace mailseal::test {

class ScratchDirectory {
 public:
  // mkdtemp under the system's temporary folder; the test's name in the folder name.
  ScratchDirectory();
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // The names in the folder, sorted (to show that no temporary file was left).
  std::vector<std::string> names() const;

 private:
  std::filesystem::path path_;
};

// Makes a character device like /dev/null (1, 3) at `path`; false when this
// process may not (mknod needs CAP_MKNOD), so the caller can skip.
bool make_null_device(const std::filesystem::path& path);

// Opens a FIFO for writing and closes it at once, without waiting: a reader
// blocked on it sees the end, so that a test whose writer failed before
// opening the FIFO fails instead of hanging.
void release_fifo_reader(const std::filesystem::path& path);

// "character device", "fifo", "regular file", "symbolic link", ... (lstat).
std::string file_kind(const std::filesystem::path& path);

}  // namespace mailseal::test
