#pragma once
// An email address as mailseal uses it to name people: ASCII, local@domain,
// compared case-insensitively and kept in lower case.

#include <compare>
#include <string>
#include <string_view>

namespace mailseal {

class EmailAddress {
 public:
  // Parses "alice@example.com" (also inside angle brackets). Throws
  // Error(Malformed) naming what is wrong; quoted local parts, IP literals and
  // non-ASCII addresses are refused.
  static EmailAddress parse(std::string_view text);
  // Like parse, but returns false instead of throwing.
  static bool is_valid(std::string_view text) noexcept;

  const std::string& str() const noexcept { return address_; }
  std::string_view local_part() const noexcept;
  std::string_view domain() const noexcept;

  auto operator<=>(const EmailAddress&) const = default;

 private:
  explicit EmailAddress(std::string address) : address_(std::move(address)) {}
  std::string address_;
};

}  // namespace mailseal
