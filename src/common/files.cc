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
#include "mailseal/common/unique_fd.h"

namespace mailseal {

namespace {

std::string describe(const std::filesystem::path& path) {
  return path.string();
}

[[noreturn]] void io_failure(std::string_view action, const std::filesystem::path& path, int error) {
  ErrorCode code = (error == ENOENT) ? ErrorCode::NotFound : ErrorCode::Io;
  throw Error(code, fmt::format("cannot {} {}: {}", action, describe(path), std::strerror(error)));
}

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
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
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

mode_t to_mode(FileMode mode) {
  return mode == FileMode::Private ? 0600 : 0644;
}

// Links are followed by hand rather than with realpath(): the end of the
// chain may not exist yet (a link to a file still to be written).
constexpr int kMaxSymbolicLinks = 40;  // as the kernel's own limit (ELOOP)

std::filesystem::path follow_links(std::filesystem::path path, struct stat& info, bool& exists) {
  for (int hops = 0; hops <= kMaxSymbolicLinks; ++hops) {
    if (::lstat(path.c_str(), &info) != 0) {
      if (errno != ENOENT) {
        io_failure("open", path, errno);
      }
      exists = false;
      return path;
    }
    if (!S_ISLNK(info.st_mode)) {
      exists = true;
      return path;
    }
    std::error_code error;
    std::filesystem::path link = std::filesystem::read_symlink(path, error);
    if (error) {
      io_failure("follow the link", path, error.value());
    }
    path = link.is_absolute() ? link : path.parent_path() / link;
  }
  io_failure("follow the link", path, ELOOP);
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
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
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
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, to_mode(mode)));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      throw Error(ErrorCode::AlreadyExists, fmt::format("{} exists already", describe(path)));
    }
    io_failure("create", path, errno);
  }
  try {
    write_all(fd.get(), contents, describe(path));
    if (::fsync(fd.get()) != 0 || fd.close() != 0) {
      io_failure("write", path, errno);
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    throw;
  }
}

OutputTarget resolve_output_target(const std::filesystem::path& path) {
  struct stat info {};
  bool exists = false;
  OutputTarget target{OutputTarget::Kind::NewFile, follow_links(path, info, exists)};
  if (!exists) {
    return target;
  }
  if (S_ISREG(info.st_mode)) {
    target.kind = OutputTarget::Kind::RegularFile;
  } else if (S_ISCHR(info.st_mode) || S_ISFIFO(info.st_mode)) {
    target.kind = OutputTarget::Kind::InPlace;
  } else if (S_ISDIR(info.st_mode)) {
    throw Error(ErrorCode::Io, fmt::format("{} is a directory, not a file", describe(path)));
  } else {
    throw Error(ErrorCode::Io, fmt::format("{} is not a regular file, a character device or a FIFO; nothing was written",
                                           describe(path)));
  }
  return target;
}

UniqueFd open_in_place(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    io_failure("open", path, errno);
  }
  // Something else may have been put there since it was looked at: a
  // regular file is never written in place (that would leave old bytes
  // behind a shorter output).
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !(S_ISCHR(info.st_mode) || S_ISFIFO(info.st_mode))) {
    throw Error(ErrorCode::Io, fmt::format("{} changed while it was opened; nothing was written", describe(path)));
  }
  return fd;
}

TemporaryFile::TemporaryFile(UniqueFd directory, UniqueFd fd, std::string name, std::filesystem::path target)
    : directory_(std::move(directory)), fd_(std::move(fd)), name_(std::move(name)), target_(std::move(target)) {}

TemporaryFile::TemporaryFile(TemporaryFile&& other) noexcept
    : directory_(std::move(other.directory_)),
      fd_(std::move(other.fd_)),
      name_(std::exchange(other.name_, {})),
      target_(std::move(other.target_)),
      committed_(std::exchange(other.committed_, true)) {}

namespace {

std::string random_name_beside(const std::filesystem::path& target) {
  std::random_device random;
  return fmt::format("{}.tmp-{:08x}", target.filename().string(), random());
}

// Tries a few random names: another process may hold one of them.
constexpr int kNameAttempts = 16;

// A file opened through /proc/self/fd can be linked into a directory by an
// unprivileged process (linkat with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH).
bool can_link_unnamed_files() {
  return ::access("/proc/self/fd", X_OK) == 0;
}

std::string descriptor_path(int fd) {
  return fmt::format("/proc/self/fd/{}", fd);
}

}  // namespace

TemporaryFile TemporaryFile::create_beside(const std::filesystem::path& target, FileMode mode) {
  const std::filesystem::path parent = target.parent_path().empty() ? "." : target.parent_path();
  UniqueFd directory(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory.valid() && errno == EACCES)  // a folder one may write to but not list
    directory = UniqueFd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!directory.valid())
    io_failure("create", target, errno);
  if (can_link_unnamed_files()) {
    UniqueFd fd(::openat(directory.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, to_mode(mode)));
    if (fd.valid())
      return TemporaryFile(std::move(directory), std::move(fd), std::string(), target);
    // Not every file system has unnamed files (EOPNOTSUPP; EISDIR or EINVAL from older kernels).
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
      io_failure("create", target, errno);
  }
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    std::string name = random_name_beside(target);
    UniqueFd fd(::openat(directory.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, to_mode(mode)));
    if (fd.valid())
      return TemporaryFile(std::move(directory), std::move(fd), std::move(name), target);
    if (errno != EEXIST)
      io_failure("create", target, errno);
  }
  throw Error(ErrorCode::Io, fmt::format("cannot create a temporary file beside {}: every name tried is taken",
                                         describe(target)));
}

TemporaryFile::~TemporaryFile() {
  if (!committed_ && !name_.empty() && directory_.valid())
    ::unlinkat(directory_.get(), name_.c_str(), 0);  // never leave partial output behind
}

// A new target gets the file's first name directly; an existing one is
// replaced by linking under a random name and renaming that over it (a
// rename is what makes the replacement atomic).
void TemporaryFile::link_unnamed() {
  const std::string source = descriptor_path(fd_.get());
  const std::string final_name = target_.filename().string();
  if (::linkat(AT_FDCWD, source.c_str(), directory_.get(), final_name.c_str(), AT_SYMLINK_FOLLOW) == 0)
    return;
  if (errno != EEXIST)
    io_failure("write", target_, errno);
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    std::string name = random_name_beside(target_);
    if (::linkat(AT_FDCWD, source.c_str(), directory_.get(), name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      name_ = std::move(name);  // removed by the destructor if the rename fails
      return;
    }
    if (errno != EEXIST)
      io_failure("write", target_, errno);
  }
  throw Error(ErrorCode::Io, fmt::format("cannot write {}: every temporary name tried is taken", describe(target_)));
}

void TemporaryFile::commit() {
  if (committed_)
    throw Error(ErrorCode::Internal, fmt::format("{} was already written", describe(target_)));
  if (::fsync(fd_.get()) != 0)
    io_failure("write", target_, errno);
  if (unnamed())
    link_unnamed();
  if (!name_.empty() &&
      ::renameat(directory_.get(), name_.c_str(), directory_.get(), target_.filename().c_str()) != 0)
    io_failure("write", target_, errno);
  committed_ = true;
  name_.clear();
  if (fd_.close() != 0)
    io_failure("write", target_, errno);
  ::fsync(directory_.get());  // best effort: some file systems refuse fsync on directories
}

void write_all(int fd, ByteView contents, std::string_view description) {
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(ErrorCode::Io, fmt::format("cannot write {}: {}", description, std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

void write_file_atomic(const std::filesystem::path& path, ByteView contents, FileMode mode) {
  OutputTarget target = resolve_output_target(path);
  if (target.kind == OutputTarget::Kind::InPlace) {
    UniqueFd fd = open_in_place(target.path);
    write_all(fd.get(), contents, describe(target.path));
    if (fd.close() != 0) {
      io_failure("write", target.path, errno);
    }
    return;
  }
  TemporaryFile temporary = TemporaryFile::create_beside(target.path, mode);
  write_all(temporary.fd(), contents, describe(target.path));
  temporary.commit();
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
  write_all(STDOUT_FILENO, contents, "to standard output");
}

}  // namespace mailseal
