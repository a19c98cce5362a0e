// The launcher's side of the resident process (mailseal/resident/resident.h).

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "mailseal/common/unique_fd.h"
#include "mailseal/resident/resident.h"
#include "resident/internal/place.h"
#include "resident/internal/request.h"

namespace mailseal::resident {

namespace {

void note(std::string_view text) {
  const std::string line = "mailseal: " + std::string(text) + "\n";
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

// A connection to the resident process, or an invalid descriptor when none
// answers (no socket, refused, not this user's).
UniqueFd connect_to(const std::filesystem::path& socket_file) {
  const auto folder = socket_file.parent_path();
  if (!is_private_folder(folder)) {
    if (std::filesystem::exists(folder))
      note("not using the resident process: " + folder.string() + " is not a folder closed to everyone but you");
    return {};
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket_file.string();
  if (path.size() >= sizeof address.sun_path)
    return {};
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd connection(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!connection.valid() || ::connect(connection.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    return {};
  if (!peer_is_this_user(connection.get())) {
    note("not using the resident process: another user listens at " + path);
    return {};
  }
  return connection;
}

std::uint32_t current_umask() noexcept {
  const mode_t mask = ::umask(077);
  ::umask(mask);
  return mask;
}

// Sends the request, its descriptors travelling with its first bytes.
bool send_request(int connection, std::span<const std::uint8_t> body, int working_folder) {
  std::array<std::uint8_t, kLengthBytes> length{};
  for (std::size_t i = 0; i < kLengthBytes; ++i)
    length[i] = static_cast<std::uint8_t>(body.size() >> (8 * i));
  const std::array<int, kPassedDescriptors> passed = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, working_folder};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof passed)> control{};
  iovec vector{length.data(), length.size()};
  msghdr message{};
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof passed);
  std::memcpy(CMSG_DATA(header), passed.data(), sizeof passed);
  if (::sendmsg(connection, &message, MSG_NOSIGNAL) != static_cast<ssize_t>(length.size()))
    return false;
  for (std::size_t sent = 0; sent < body.size();) {
    const ssize_t count = ::send(connection, body.data() + sent, body.size() - sent, MSG_NOSIGNAL);
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0)
      return false;
    sent += static_cast<std::size_t>(count);
  }
  return true;
}

// Reads exactly `out.size()` bytes; false at the end of the connection.
bool read_exactly(int connection, std::span<std::uint8_t> out) {
  for (std::size_t got = 0; got < out.size();) {
    const ssize_t count = ::read(connection, out.data() + got, out.size() - got);
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0)
      return false;
    got += static_cast<std::size_t>(count);
  }
  return true;
}

Request request_for(std::span<char* const> command_line, char* const* environment) {
  Request request;
  for (char* argument : command_line)
    request.arguments.emplace_back(argument);
  for (char* const* entry = environment; entry && *entry; ++entry)
    request.environment.emplace_back(*entry);
  request.umask = current_umask();
  return request;
}

}  // namespace

std::optional<int> run_in_resident(std::span<char* const> command_line, char* const* environment) {
  std::vector<std::string_view> words(command_line.begin(), command_line.end());
  if (!runs_in_resident(words))
    return std::nullopt;
  const auto socket_file = socket_path();
  if (!socket_file)
    return std::nullopt;
  UniqueFd connection = connect_to(*socket_file);
  if (!connection.valid())
    return std::nullopt;
  UniqueFd working_folder(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  const auto body = encode(request_for(command_line, environment));
  if (!working_folder.valid() || body.size() > kMaxRequestBytes ||
      !send_request(connection.get(), body, working_folder.get()))
    return std::nullopt;
  std::array<std::uint8_t, 1> reply{};
  // Until Started, nothing of the command has run: a refusal or a resident
  // process that went away leaves it to this process. Any other answer
  // leaves it unknown whether the command ran, so it does not run again.
  if (!read_exactly(connection.get(), reply) || reply[0] == static_cast<std::uint8_t>(Reply::Refused))
    return std::nullopt;
  if (reply[0] != static_cast<std::uint8_t>(Reply::Started)) {
    note("the resident process answered out of turn; the command may or may not have run");
    return 70;  // EX_SOFTWARE
  }
  std::array<std::uint8_t, 1 + kLengthBytes> ending{};
  if (!read_exactly(connection.get(), ending) || ending[0] != static_cast<std::uint8_t>(Reply::Exited)) {
    note("the resident process stopped while it ran the command, which may have done part of its work");
    return 70;  // EX_SOFTWARE
  }
  return static_cast<int>(read_length(std::span<const std::uint8_t, kLengthBytes>(ending.data() + 1, kLengthBytes)));
}

}  // namespace mailseal::resident
