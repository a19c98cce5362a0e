#pragma once
// File I/O with the guarantees the store needs: atomic replacement
// (write-then-rename) and private permissions for anything secret.

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"

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

// Writes to a temporary file in the same directory, fsyncs, and renames over
// the target, so readers see the old file or the new one, never a mix.
void write_file_atomic(const std::filesystem::path& path, ByteView contents, FileMode mode);

// Creates the file; fails with Error(AlreadyExists) if it is there.
void write_new_file(const std::filesystem::path& path, ByteView contents, FileMode mode);

// Creates a directory (and parents) with mode 0700 if missing.
void ensure_private_directory(const std::filesystem::path& path);

// Writes bytes to standard output, all of them or throws Error(Io).
void write_stdout(ByteView contents);

}  // namespace mailseal
