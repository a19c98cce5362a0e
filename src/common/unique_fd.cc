#include "mailseal/common/unique_fd.h"

#include <unistd.h>

namespace mailseal {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) {
    ::close(fd_);
  }
  fd_ = fd;
}

int UniqueFd::close() noexcept {
  if (fd_ < 0) {
    return 0;
  }
  return ::close(std::exchange(fd_, -1));
}

}  // namespace mailseal
