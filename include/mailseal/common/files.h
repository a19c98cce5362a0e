#pragma once
// File I/O with the guarantees the store needs: atomic replacement
// (write-then-rename) and private permissions for anything secret. Atomic
// replacement is for regular files and new paths only: output to anything
// else a user can name (/dev/null, a terminal, a FIFO) is written in place,
// never replaced by a file (see OutputTarget).

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"
#include "mailseal/common/unique_fd.h"

namespace mailseal {

enum class FileMode { Private /* 0600 */, Public /* 0644 */ };

// Largest file any command reads whole by default (DoS guard on hostile input).
inline constexpr std::size_t kDefaultMaxFileSize = 64 * 1024 * 1024;

// Reads a whole file; throws Error(NotFound) or Error(Io) with the path.
Bytes read_file(const std::filesystem::path& path, std::size_t max_size = kDefaultMaxFileSize);

// Reads a file holding a secret into a buffer that is wiped when freed.
SecretBytes read_secret_file(const std::filesystem::path& path, std::size_t max_size = kDefaultMaxFileSize);

// Reads "FILE", or standard input when the name is "-" or empty.
Bytes read_input(std::string_view name, std::size_t max_size = kDefaultMaxFileSize);

// A whole input held read-only: a regular file is mapped (no copy, no heap),
// standard input or a pipe is read into memory.
class InputData {
 public:
  // "FILE", or standard input for "-" or "". Error(RejectedByPolicy) above max_size.
  static InputData read(std::string_view name, std::size_t max_size);
  InputData(InputData&& other) noexcept;
  InputData& operator=(InputData&& other) noexcept;
  InputData(const InputData&) = delete;
  InputData& operator=(const InputData&) = delete;
  ~InputData();

  ByteView bytes() const noexcept { return mapped_ ? ByteView(mapped_, size_) : ByteView(owned_); }

 private:
  InputData() = default;
  const std::uint8_t* mapped_ = nullptr;
  std::size_t size_ = 0;
  Bytes owned_;
};

// Where output for a path goes. A symbolic link is followed (to the end of a
// chain of links), so the file it points to is written and the link stays.
// What is found there decides how it is written:
//   NewFile      nothing there yet: created atomically
//   RegularFile  replaced atomically (write-then-rename)
//   InPlace      a character device (/dev/null, a terminal) or a FIFO:
//                opened and written as it is, never replaced or re-moded
// Error(Io) naming the path for a directory, a block device or a socket.
struct OutputTarget {
  enum class Kind { NewFile, RegularFile, InPlace };
  Kind kind = Kind::NewFile;
  std::filesystem::path path;  // after following symbolic links
};
OutputTarget resolve_output_target(const std::filesystem::path& path);

// Opens an InPlace target for writing (a FIFO waits here for its reader).
UniqueFd open_in_place(const std::filesystem::path& path);

// A file created next to its target (in the same directory, so that a
// rename can replace the target). It has no name while it is written
// (O_TMPFILE): a process killed before commit() leaves nothing behind, and
// nothing else can open it by a name. Where the file system cannot do that,
// it is created under a random name beside the target and removed again when
// its owner goes. The directory is held open from the start, so commit()
// puts the file where the target was resolved even if the directory's path
// is changed meanwhile.
class TemporaryFile {
 public:
  static TemporaryFile create_beside(const std::filesystem::path& target, FileMode mode);
  TemporaryFile(TemporaryFile&& other) noexcept;
  TemporaryFile& operator=(TemporaryFile&&) = delete;
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile();

  int fd() const noexcept { return fd_.get(); }
  // The path commit() puts the file at.
  const std::filesystem::path& target() const noexcept { return target_; }
  // Whether the file is nameless until commit() (false: the fallback).
  bool unnamed() const noexcept { return name_.empty(); }
  // fsync, then link the file at the target's name (replacing the target
  // through a rename when it exists), fsync the directory: readers see the
  // old file or the new one, never a mix. Error(Io) naming the target.
  void commit();

 private:
  TemporaryFile(UniqueFd directory, UniqueFd fd, std::string name, std::filesystem::path target);
  void link_unnamed();
  UniqueFd directory_;
  UniqueFd fd_;
  std::string name_;  // in directory_; empty while unnamed or once committed
  std::filesystem::path target_;
  bool committed_ = false;
};

// Writes every byte or throws Error(Io) "cannot write DESCRIPTION: ...".
void write_all(int fd, ByteView contents, std::string_view description);

// Writes output for `path` as OutputTarget says: a regular file or a new path
// through a temporary file in the same directory, fsynced and renamed over
// the target, so readers see the old file or the new one, never a mix; a
// device or a FIFO in place.
void write_file_atomic(const std::filesystem::path& path, ByteView contents, FileMode mode);

// Creates the file; fails with Error(AlreadyExists) if it is there.
void write_new_file(const std::filesystem::path& path, ByteView contents, FileMode mode);

// Creates a directory (and parents) with mode 0700 if missing.
void ensure_private_directory(const std::filesystem::path& path);

// Writes bytes to standard output, all of them or throws Error(Io).
void write_stdout(ByteView contents);

}  // namespace mailseal
