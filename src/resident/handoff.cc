#include "resident/internal/handoff.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "resident/internal/passing.h"
#include "resident/internal/request.h"

namespace mailseal::resident {

namespace {

// The one byte of a hand-off message.
constexpr std::uint8_t kCommand = 'C';
// The connection, the passed descriptors, the request's memory file.
constexpr std::size_t kHandedDescriptors = 1 + kPassedDescriptors + 1;

bool write_all(int descriptor, std::span<const std::uint8_t> bytes) noexcept {
  for (std::size_t written = 0; written < bytes.size();) {
    const ssize_t count = ::write(descriptor, bytes.data() + written, bytes.size() - written);
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0)
      return false;
    written += static_cast<std::size_t>(count);
  }
  return true;
}

// The request's bytes in a memory file no one can change any more.
UniqueFd request_file(std::span<const std::uint8_t> request) noexcept {
  UniqueFd file(::memfd_create("mailseal-request", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!file.valid() || !write_all(file.get(), request) ||
      ::fcntl(file.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    return {};
  return file;
}

std::optional<SecretBytes> read_request_file(int file) noexcept {
  struct stat status {};
  if (::fstat(file, &status) != 0 || status.st_size < 0 ||
      static_cast<std::size_t>(status.st_size) > kLengthBytes + kMaxRequestBytes)
    return std::nullopt;
  SecretBytes request(static_cast<std::size_t>(status.st_size));
  for (std::size_t got = 0; got < request.size();) {
    const ssize_t count = ::pread(file, request.data() + got, request.size() - got, static_cast<off_t>(got));
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0)
      return std::nullopt;
    got += static_cast<std::size_t>(count);
  }
  return request;
}

}  // namespace

std::optional<std::pair<UniqueFd, UniqueFd>> handoff_pair() noexcept {
  // Datagram-like: the one message arrives whole or not at all, and a send
  // to a child that has gone fails (EPIPE) instead of waiting.
  std::array<int, 2> ends{-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends.data()) != 0)
    return std::nullopt;
  return std::pair{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

bool hand_over(int handoff, int connection, std::span<const UniqueFd> passed, std::span<const std::uint8_t> request) {
  if (passed.size() != kPassedDescriptors)
    return false;
  const UniqueFd file = request_file(request);
  if (!file.valid())
    return false;
  std::array<int, kHandedDescriptors> descriptors{connection};
  for (std::size_t i = 0; i < kPassedDescriptors; ++i)
    descriptors[1 + i] = passed[i].get();
  descriptors.back() = file.get();
  const std::array<std::uint8_t, 1> command{kCommand};
  return send_with_descriptors(handoff, command, descriptors, MSG_DONTWAIT);
}

std::optional<HandedCommand> wait_for_command(int handoff) noexcept {
  std::array<std::uint8_t, 1> command{};
  std::vector<UniqueFd> descriptors;
  Received received{};
  do {
    received = receive_with_descriptors(handoff, command, descriptors, kHandedDescriptors);
  } while (received.count < 0 && errno == EINTR);
  if (received.count != 1 || command[0] != kCommand || !received.descriptors_whole ||
      descriptors.size() != kHandedDescriptors)
    return std::nullopt;
  auto request = read_request_file(descriptors.back().get());
  if (!request)
    return std::nullopt;
  HandedCommand handed;
  handed.connection = std::move(descriptors.front());
  for (std::size_t i = 0; i < kPassedDescriptors; ++i)
    handed.passed.push_back(std::move(descriptors[1 + i]));
  handed.request = std::move(*request);
  return handed;
}

bool handoff_ready(int handoff, std::chrono::milliseconds wait) noexcept {
  pollfd ready{handoff, POLLIN, 0};
  int polled = 0;
  do {
    polled = ::poll(&ready, 1, static_cast<int>(wait.count()));
  } while (polled < 0 && errno == EINTR);
  // A failed poll counts as ready: wait_for_command meets the failure and
  // ends the child as it should, rather than a warm-up going on.
  return polled != 0;
}

}  // namespace mailseal::resident
