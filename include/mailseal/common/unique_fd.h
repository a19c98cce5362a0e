#pragma once
// The one owner of a POSIX file descriptor: move-only, closed when its owner
// goes, so that no code path (an exception between open and close included)
// leaks a descriptor or closes one twice.

#include <utility>

namespace mailseal {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  // Takes ownership of `fd` (-1: owns nothing).
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.fd_, -1));
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held (ignoring errors) and takes `fd` instead.
  void reset(int fd = -1) noexcept;
  // Closes now and returns close()'s result (0, or -1 with errno set): for a
  // file just written, close() can be the call that reports a failed write
  // (NFS, quotas), so its error must not be lost in a destructor.
  int close() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace mailseal
