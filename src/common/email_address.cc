#include "mailseal/common/email_address.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"

namespace mailseal {

namespace {

// RFC 5321 section 4.5.3.1 limits.
constexpr std::size_t kMaxLocalPart = 64;
constexpr std::size_t kMaxDomain = 253;
constexpr std::size_t kMaxLabel = 63;

// RFC 5322 atext, the characters of a dot-atom local part.
bool is_atext(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) {
    return true;
  }
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_ldh(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
}

[[noreturn]] void refuse(std::string_view text, std::string_view why) {
  throw Error(ErrorCode::Malformed, fmt::format("'{}' is not a valid email address: {}", text, why));
}

std::string check_and_normalise(std::string_view text) {
  std::string_view address = text;
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address = address.substr(1, address.size() - 2);
  }
  if (address.empty()) {
    refuse(text, "it is empty");
  }
  for (char c : address) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      refuse(text, "only ASCII addresses are supported");
    }
  }
  auto at = address.rfind('@');
  if (at == std::string_view::npos) {
    refuse(text, "it has no '@'");
  }
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  if (local.empty()) {
    refuse(text, "the part before '@' is empty");
  }
  if (local.size() > kMaxLocalPart) {
    refuse(text, "the part before '@' is longer than 64 characters");
  }
  if (local.front() == '"') {
    refuse(text, "quoted local parts are not supported");
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    refuse(text, "dots in the part before '@' must separate words");
  }
  if (!std::all_of(local.begin(), local.end(), [](char c) { return c == '.' || is_atext(c); })) {
    refuse(text, "the part before '@' has a character that needs quoting");
  }
  if (domain.empty()) {
    refuse(text, "the domain is empty");
  }
  if (domain.front() == '[') {
    refuse(text, "IP address literals are not supported");
  }
  if (domain.size() > kMaxDomain) {
    refuse(text, "the domain is longer than 253 characters");
  }
  if (domain.find('.') == std::string_view::npos) {
    refuse(text, "the domain has no dot");
  }
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::size_t end = domain.find('.', start);
    if (end == std::string_view::npos) {
      end = domain.size();
    }
    std::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.size() > kMaxLabel) {
      refuse(text, "a domain label is empty or longer than 63 characters");
    }
    if (label.front() == '-' || label.back() == '-' || !std::all_of(label.begin(), label.end(), is_ldh)) {
      refuse(text, "a domain label has a character other than letters, digits and inner hyphens");
    }
    start = end + 1;
  }
  return ascii_lower(address);
}

}  // namespace

EmailAddress EmailAddress::parse(std::string_view text) {
  return EmailAddress(check_and_normalise(text));
}

bool EmailAddress::is_valid(std::string_view text) noexcept {
  try {
    check_and_normalise(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string_view EmailAddress::local_part() const noexcept {
  return std::string_view(address_).substr(0, address_.rfind('@'));
}

std::string_view EmailAddress::domain() const noexcept {
  return std::string_view(address_).substr(address_.rfind('@') + 1);
}

}  // namespace mailseal
