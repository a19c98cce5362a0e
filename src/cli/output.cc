#include "cli/output.h"

#include <ctime>
#include <iostream>

#include "mailseal/common/bytes.h"
#include "mailseal/common/files.h"

namespace mailseal::cli {

void print_json(nlohmann::json document) {
  document["schema_version"] = kJsonSchemaVersion;
  // Invalid UTF-8 from hostile input is replaced, never allowed to abort output.
  std::string text = document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  write_stdout(as_bytes(text));
}

void print_line(std::string_view text) {
  std::string line(text);
  line.push_back('\n');
  write_stdout(as_bytes(line));
}

void print_error(std::string_view message, std::string_view hint) {
  std::cerr << "mailseal: error: " << message << '\n';
  if (!hint.empty()) {
    print_hint(hint);
  }
}

void write_output(const std::string& output, ByteView contents, FileMode mode) {
  if (output.empty() || output == "-") {
    write_stdout(contents);
  } else {
    write_file_atomic(output, contents, mode);
  }
}

EmailAddress parse_address_argument(std::string_view text) {
  try {
    return EmailAddress::parse(text);
  } catch (const Error& error) {
    throw Error(ErrorCode::Usage, error.what());
  }
}

void print_warning(std::string_view message) {
  std::cerr << "mailseal: warning: " << message << '\n';
}

void print_hint(std::string_view message) {
  std::cerr << "mailseal: hint: " << message << '\n';
}

int exit_status_for(const Error& error) noexcept {
  return error.code() == ErrorCode::Usage ? 2 : 1;
}

}  // namespace mailseal::cli

namespace mailseal::cli {

void print_note(std::string_view message) {
  std::cerr << "mailseal: " << message << '\n';
}

std::string iso_time(TimePoint time) {
  auto value = static_cast<std::time_t>(to_unix_seconds(time));
  std::tm utc{};
  gmtime_r(&value, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace mailseal::cli
