#include "mailseal/common/files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/secret.h"

namespace mailseal {

namespace {

std::string describe(const std::filesystem::path& path) {
  return path.string();
}

[[noreturn]] void io_failure(std::string_view action, const std::filesystem::path& path, int error) {
  ErrorCode code = (error == ENOENT) ? ErrorCode::NotFound : ErrorCode::Io;
  throw Error(code, fmt::format("cannot {} {}: {}", action, describe(path), std::strerror(error)));
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }
  // Closes now so that the error of close() is not lost.
  int close() {
    int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

template <typename Container>
Container read_descriptor(int fd, std::size_t max_size, std::string_view name, std::size_t expected = 0) {
  Container out;
  // A regular file's size is known: one allocation instead of doubling.
  if (expected > 0 && expected <= max_size)
    out.reserve(expected);
  std::uint8_t buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(ErrorCode::Io, fmt::format("cannot read {}: {}", name, std::strerror(errno)));
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<std::size_t>(n) > max_size) {
      throw Error(ErrorCode::RejectedByPolicy, fmt::format("{} is larger than the limit of {} bytes", name, max_size));
    }
    out.insert(out.end(), buffer, buffer + n);
  }
  secure_wipe(buffer, sizeof buffer);
  return out;
}

template <typename Container>
Container read_path(const std::filesystem::path& path, std::size_t max_size) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    io_failure("open", path, errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0 && S_ISDIR(info.st_mode)) {
    throw Error(ErrorCode::Io, fmt::format("{} is a directory, not a file", describe(path)));
  }
  std::size_t expected = S_ISREG(info.st_mode) ? static_cast<std::size_t>(info.st_size) : 0;
  return read_descriptor<Container>(fd.get(), max_size, describe(path), expected);
}

void write_all(int fd, ByteView contents, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      io_failure("write", path, errno);
    }
    done += static_cast<std::size_t>(n);
  }
}

mode_t to_mode(FileMode mode) {
  return mode == FileMode::Private ? 0600 : 0644;
}

void sync_directory(const std::filesystem::path& directory) {
  int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);  // best effort: some file systems refuse fsync on directories
    ::close(fd);
  }
}

}  // namespace

Bytes read_file(const std::filesystem::path& path, std::size_t max_size) {
  return read_path<Bytes>(path, max_size);
}

SecretBytes read_secret_file(const std::filesystem::path& path, std::size_t max_size) {
  return read_path<SecretBytes>(path, max_size);
}

Bytes read_input(std::string_view name, std::size_t max_size) {
  if (name.empty() || name == "-") {
    return read_descriptor<Bytes>(STDIN_FILENO, max_size, "standard input");
  }
  return read_file(std::filesystem::path(name), max_size);
}

InputData InputData::read(std::string_view name, std::size_t max_size) {
  InputData input;
  if (name.empty() || name == "-") {
    input.owned_ = read_descriptor<Bytes>(STDIN_FILENO, max_size, "standard input");
    return input;
  }
  std::filesystem::path path(name);
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    io_failure("open", path, errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_size == 0) {
    input.owned_ = read_path<Bytes>(path, max_size);
    return input;
  }
  auto size = static_cast<std::size_t>(info.st_size);
  if (size > max_size) {
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("{} is larger than the limit of {} bytes", describe(path), max_size));
  }
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (mapping == MAP_FAILED) {
    input.owned_ = read_path<Bytes>(path, max_size);
    return input;
  }
  ::madvise(mapping, size, MADV_SEQUENTIAL);
  input.mapped_ = static_cast<const std::uint8_t*>(mapping);
  input.size_ = size;
  return input;
}

InputData::InputData(InputData&& other) noexcept
    : mapped_(std::exchange(other.mapped_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      owned_(std::move(other.owned_)) {}

InputData& InputData::operator=(InputData&& other) noexcept {
  if (this != &other) {
    if (mapped_ != nullptr)
      ::munmap(const_cast<std::uint8_t*>(mapped_), size_);
    mapped_ = std::exchange(other.mapped_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owned_ = std::move(other.owned_);
  }
  return *this;
}

InputData::~InputData() {
  if (mapped_ != nullptr)
    ::munmap(const_cast<std::uint8_t*>(mapped_), size_);
}

void write_new_file(const std::filesystem::path& path, ByteView contents, FileMode mode) {
  FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, to_mode(mode)));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      throw Error(ErrorCode::AlreadyExists, fmt::format("{} exists already", describe(path)));
    }
    io_failure("create", path, errno);
  }
  try {
    write_all(fd.get(), contents, path);
    if (::fsync(fd.get()) != 0 || fd.close() != 0) {
      io_failure("write", path, errno);
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    throw;
  }
}

void write_file_atomic(const std::filesystem::path& path, ByteView contents, FileMode mode) {
  std::random_device random;
  auto temporary = path;
  temporary += fmt::format(".tmp-{:08x}", random());
  write_new_file(temporary, contents, mode);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    io_failure("replace", path, error);
  }
  sync_directory(path.parent_path());
}

void ensure_private_directory(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return;
  }
  if (!path.parent_path().empty() && path.parent_path() != path) {
    ensure_private_directory(path.parent_path());
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    io_failure("create the directory", path, errno);
  }
  if (!std::filesystem::is_directory(path, error)) {
    throw Error(ErrorCode::Io, fmt::format("{} exists and is not a directory", describe(path)));
  }
}

void write_stdout(ByteView contents) {
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(STDOUT_FILENO, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(ErrorCode::Io, fmt::format("cannot write to standard output: {}", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace mailseal
