#pragma once
// Descriptors carried over a Unix socket beside a few bytes (SCM_RIGHTS):
// the launcher's streams to the resident process, and a command from the
// resident process to its idle child (docs/resident.md).

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "mailseal/common/unique_fd.h"

namespace mailseal::resident {

// Sends `bytes` with `descriptors` in one message (MSG_NOSIGNAL, plus
// `flags`). True when the whole message went; false when it did not (a peer
// that has gone: nothing of it arrives).
bool send_with_descriptors(int socket, std::span<const std::uint8_t> bytes, std::span<const int> descriptors,
                           int flags = 0) noexcept;

struct Received {
  ssize_t count;           // recvmsg's result: bytes, 0 at the end, -1 with errno
  bool descriptors_whole;  // false when the kernel cut the descriptors short
};

// Receives into `into`; each descriptor that came along is appended to
// `descriptors`, owned from then on (so closed whatever the caller decides),
// close-on-exec. Takes up to `most` descriptors in one message.
Received receive_with_descriptors(int socket, std::span<std::uint8_t> into, std::vector<UniqueFd>& descriptors,
                                  std::size_t most) noexcept;

}  // namespace mailseal::resident
