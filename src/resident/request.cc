#include "resident/internal/request.h"

#include <algorithm>
#include <array>

#include "mailseal/resident/resident.h"

namespace mailseal::resident {

namespace {

constexpr std::string_view kMagic = "MSR1";

// The commands run for each message or each lookup of trust; they end by
// themselves and ask nothing on a terminal.
constexpr std::array<std::string_view, 8> kResidentCommands = {"sign",  "encrypt",     "decrypt", "verify",
                                                               "learn", "fingerprint", "trust",   "udf"};
// Options before the command that take a value, and those that take none.
constexpr std::array<std::string_view, 2> kGlobalsWithValue = {"--home", "--passphrase-file"};
constexpr std::string_view kGlobalFlag = "--json";

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void put_string(std::vector<std::uint8_t>& out, std::string_view text) {
  put_u32(out, static_cast<std::uint32_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
}

// Reads the request's fields in order, refusing anything past the end.
class Cursor {
 public:
  explicit Cursor(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::span<const std::uint8_t> take(std::size_t count, std::string_view what) {
    if (bytes_.size() - offset_ < count)
      throw MalformedRequest("the request ends inside its " + std::string(what));
    auto taken = bytes_.subspan(offset_, count);
    offset_ += count;
    return taken;
  }

  std::uint32_t u32(std::string_view what) {
    auto bytes = take(kLengthBytes, what);
    return read_length(std::span<const std::uint8_t, kLengthBytes>(bytes.data(), kLengthBytes));
  }

  std::string string(std::string_view what) {
    auto bytes = take(u32(what), what);
    if (std::find(bytes.begin(), bytes.end(), std::uint8_t{0}) != bytes.end())
      throw MalformedRequest("a NUL byte inside " + std::string(what));
    return std::string(bytes.begin(), bytes.end());
  }

  bool at_end() const noexcept { return offset_ == bytes_.size(); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
};

std::vector<std::string> read_strings(Cursor& cursor, std::uint32_t count, std::string_view what) {
  std::vector<std::string> strings;
  strings.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i)
    strings.push_back(cursor.string(what));
  return strings;
}

}  // namespace

std::uint32_t read_length(std::span<const std::uint8_t, kLengthBytes> bytes) noexcept {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < kLengthBytes; ++i)
    value |= static_cast<std::uint32_t>(bytes[i]) << (8 * i);
  return value;
}

std::vector<std::uint8_t> encode(const Request& request) {
  std::vector<std::uint8_t> out(kMagic.begin(), kMagic.end());
  put_u32(out, request.umask);
  put_u32(out, static_cast<std::uint32_t>(request.arguments.size()));
  put_u32(out, static_cast<std::uint32_t>(request.environment.size()));
  for (const auto& argument : request.arguments)
    put_string(out, argument);
  for (const auto& entry : request.environment)
    put_string(out, entry);
  return out;
}

Request decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kMaxRequestBytes)
    throw MalformedRequest("the request is larger than 1 MiB");
  Cursor cursor(bytes);
  auto magic = cursor.take(kMagic.size(), "mark");
  if (!std::equal(magic.begin(), magic.end(), kMagic.begin()))
    throw MalformedRequest("not a mailseal launcher's request (version 1)");
  Request request;
  request.umask = cursor.u32("umask");
  if (request.umask > 0777)
    throw MalformedRequest("the umask is not a file mode");
  const auto argument_count = cursor.u32("number of arguments");
  const auto environment_count = cursor.u32("number of environment entries");
  // Each string takes at least its 4-byte length: a count the bytes cannot
  // hold is refused before anything is reserved for it.
  if (argument_count == 0 || argument_count > kMaxStrings || environment_count > kMaxStrings ||
      (std::size_t{argument_count} + environment_count) * kLengthBytes > bytes.size())
    throw MalformedRequest("the numbers of arguments and environment entries do not fit the request");
  request.arguments = read_strings(cursor, argument_count, "arguments");
  request.environment = read_strings(cursor, environment_count, "environment");
  for (const auto& entry : request.environment)
    if (entry.find('=') == std::string::npos)
      throw MalformedRequest("an environment entry without '='");
  if (!cursor.at_end())
    throw MalformedRequest("bytes after the request's last field");
  return request;
}

std::span<const std::string_view> commands_run_in_resident() noexcept {
  return kResidentCommands;
}

bool runs_in_resident(std::span<const std::string_view> arguments) noexcept {
  for (std::size_t i = 1; i < arguments.size(); ++i) {
    const auto argument = arguments[i];
    if (argument == kGlobalFlag)
      continue;
    if (std::find(kGlobalsWithValue.begin(), kGlobalsWithValue.end(), argument) != kGlobalsWithValue.end()) {
      ++i;  // its value
      continue;
    }
    const bool joined_value = std::any_of(kGlobalsWithValue.begin(), kGlobalsWithValue.end(), [&](auto option) {
      return argument.size() > option.size() && argument.starts_with(option) && argument[option.size()] == '=';
    });
    if (joined_value)
      continue;
    // The first word that is not a global option is the command.
    return std::find(kResidentCommands.begin(), kResidentCommands.end(), argument) != kResidentCommands.end();
  }
  return false;
}

}  // namespace mailseal::resident
