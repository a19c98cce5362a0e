#include "resident/internal/passing.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mailseal::resident {

namespace {

// The most descriptors one message carries here: the four of a launcher's
// Go, or the six of a command handed to the idle child.
constexpr std::size_t kMostDescriptors = 8;

}  // namespace

bool send_with_descriptors(int socket, std::span<const std::uint8_t> bytes, std::span<const int> descriptors,
                           int flags) noexcept {
  if (descriptors.size() > kMostDescriptors)
    return false;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMostDescriptors)] = {};
  iovec vector{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  if (!descriptors.empty()) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(descriptors.size_bytes());
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(descriptors.size_bytes());
    std::memcpy(CMSG_DATA(header), descriptors.data(), descriptors.size_bytes());
  }
  ssize_t sent = 0;
  do {
    sent = ::sendmsg(socket, &message, MSG_NOSIGNAL | flags);
  } while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(bytes.size());
}

Received receive_with_descriptors(int socket, std::span<std::uint8_t> into, std::vector<UniqueFd>& descriptors,
                                  std::size_t most) noexcept {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMostDescriptors)] = {};
  iovec vector{into.data(), into.size()};
  msghdr message{};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = CMSG_SPACE(sizeof(int) * std::min(most, kMostDescriptors));
  const ssize_t count = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  const int error = errno;
  bool whole = count >= 0 && (message.msg_flags & MSG_CTRUNC) == 0;
  if (count >= 0) {
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS)
        continue;
      const std::size_t carried = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < carried; ++i) {
        int descriptor = -1;
        std::memcpy(&descriptor, CMSG_DATA(header) + i * sizeof(int), sizeof descriptor);
        descriptors.emplace_back(descriptor);
      }
    }
  }
  errno = error;
  return {count, whole};
}

}  // namespace mailseal::resident
