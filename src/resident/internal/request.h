#pragma once
// What a launcher asks the resident process to run (docs/resident.md): the
// command line, the environment and the umask of the process that would have
// run it. Its standard streams and working folder travel beside it as file
// descriptors (SCM_RIGHTS), not in these bytes.
//
// The bytes: "MSR1", then little-endian u32 values: the umask, the number of
// arguments, the number of environment entries, then each string as a u32
// length and its bytes. A string holds no NUL byte (it becomes a C string).

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mailseal::resident {

struct Request {
  std::vector<std::string> arguments;    // argv, the program's name first
  std::vector<std::string> environment;  // NAME=value entries
  std::uint32_t umask = 077;
};

// A request that is not one: bytes that do not decode, or too large.
class MalformedRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whole requests stop here, and the lists inside them: a launcher's command
// line and environment are far below (Linux caps both together at 2 MiB only
// with a large stack limit; 256 KiB is the usual ARG_MAX slice per string).
inline constexpr std::size_t kMaxRequestBytes = 1 << 20;
inline constexpr std::size_t kMaxStrings = 8192;

std::vector<std::uint8_t> encode(const Request& request);
// Throws MalformedRequest naming what is wrong.
Request decode(std::span<const std::uint8_t> bytes);

// The length prefix every request travels behind on the socket: a u32.
inline constexpr std::size_t kLengthBytes = 4;
std::uint32_t read_length(std::span<const std::uint8_t, kLengthBytes> bytes) noexcept;

// The conversation after the request, a byte each:
//   resident: Offered (it will run the command once told to go), or Refused
//             and a line of text (the launcher runs the command itself);
//   launcher: Go, only if Offered came within its deadline; from then on it
//             never runs the command itself;
//   resident: once the command has ended, Exited and its exit status as a
//             u32, or Signalled and the number of the signal that ended it.
// The command runs only after Go: a launcher that gave up waiting (a
// resident process stopped or overloaded) runs it itself, and it never
// runs twice.
enum class Reply : std::uint8_t { Offered = 'O', Go = 'G', Refused = 'R', Exited = 'X', Signalled = 'K' };

// The descriptors every request carries, in this order (SCM_RIGHTS).
inline constexpr std::size_t kPassedDescriptors = 4;  // stdin, stdout, stderr, working folder

// Whether the resident process runs this command line: the commands a person
// or a script runs for each message, which finish by themselves. Commands
// that run until stopped (serve, gateway) or that need a terminal stay in a
// process of their own. `arguments` starts with the program's name.
bool runs_in_resident(std::span<const std::string_view> arguments) noexcept;

}  // namespace mailseal::resident
