// The launcher's side of the resident process (mailseal/resident/resident.h).

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "mailseal/common/unique_fd.h"
#include "mailseal/resident/resident.h"
#include "resident/internal/passing.h"
#include "resident/internal/place.h"
#include "resident/internal/request.h"

namespace mailseal::resident {

namespace {

// How long a resident process has to offer to run a command (it answers in
// well under a millisecond when it runs).
constexpr int kOfferDeadlineMilliseconds = 2000;

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

// Sends the request: its length, then its bytes.
bool send_request(int connection, std::span<const std::uint8_t> body) {
  std::vector<std::uint8_t> bytes(kLengthBytes);
  for (std::size_t i = 0; i < kLengthBytes; ++i)
    bytes[i] = static_cast<std::uint8_t>(body.size() >> (8 * i));
  bytes.insert(bytes.end(), body.begin(), body.end());
  for (std::size_t sent = 0; sent < bytes.size();) {
    const ssize_t count = ::send(connection, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (count < 0 && errno == EINTR)
      continue;
    if (count <= 0)
      return false;
    sent += static_cast<std::size_t>(count);
  }
  return true;
}

// Sends Go with the standard streams and the working folder. They travel
// only now, once the resident process has offered: descriptors sent with
// the request would stay referenced in the socket of a resident process
// that never answers, and a caller reading this process's output would
// wait for an end that does not come.
bool send_go(int connection, int working_folder) {
  const std::array<std::uint8_t, 1> go{static_cast<std::uint8_t>(Reply::Go)};
  const std::array<int, kPassedDescriptors> passed = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, working_folder};
  return send_with_descriptors(connection, go, passed);
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

// Whether the resident process offers to run the command within the
// deadline: a stopped, frozen or overloaded one leaves it to this process.
bool offered_in_time(int connection) {
  pollfd readable{connection, POLLIN, 0};
  int ready = 0;
  do {
    ready = ::poll(&readable, 1, kOfferDeadlineMilliseconds);
  } while (ready < 0 && errno == EINTR);
  std::array<std::uint8_t, 1> reply{};
  return ready == 1 && read_exactly(connection, reply) && reply[0] == static_cast<std::uint8_t>(Reply::Offered);
}

// Ends this process as the command ended: with its exit status, or by the
// same signal, so that a caller sees what it would have seen alone.
int ending_of(int connection) {
  std::array<std::uint8_t, 1 + kLengthBytes> ending{};
  if (!read_exactly(connection, ending) || (ending[0] != static_cast<std::uint8_t>(Reply::Exited) &&
                                            ending[0] != static_cast<std::uint8_t>(Reply::Signalled))) {
    note("the resident process stopped while it ran the command, which may have done part of its work");
    return 70;  // EX_SOFTWARE
  }
  const auto value =
      static_cast<int>(read_length(std::span<const std::uint8_t, kLengthBytes>(ending.data() + 1, kLengthBytes)));
  if (ending[0] == static_cast<std::uint8_t>(Reply::Signalled)) {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // the command's crash, not the launcher's
    ::signal(value, SIG_DFL);
    ::raise(value);
    return 128 + value;  // a signal that does not end a process by default
  }
  return value;
}

// A launcher whose standard input, output or error is closed would pass its
// own connection to the resident process in its place (the socket takes the
// lowest free number): such a command runs here, where it fails as it should.
bool standard_streams_open() noexcept {
  for (int descriptor : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
    if (::fcntl(descriptor, F_GETFD) == -1)
      return false;
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
  if (!runs_in_resident(words) || !standard_streams_open())
    return std::nullopt;
  const auto socket_file = socket_path();
  if (!socket_file)
    return std::nullopt;
  UniqueFd connection = connect_to(*socket_file);
  if (!connection.valid())
    return std::nullopt;
  UniqueFd working_folder(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  const auto body = encode(request_for(command_line, environment));
  if (!working_folder.valid() || body.size() > kMaxRequestBytes || !send_request(connection.get(), body) ||
      !offered_in_time(connection.get()))
    return std::nullopt;
  // Without Go the resident process runs nothing: a failed send leaves the
  // command to this process.
  if (!send_go(connection.get(), working_folder.get()))
    return std::nullopt;
  return ending_of(connection.get());
}

}  // namespace mailseal::resident
