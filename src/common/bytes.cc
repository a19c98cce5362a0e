#include "mailseal/common/bytes.h"

#include <openssl/crypto.h>

#include "mailseal/common/error.h"

namespace mailseal {

Bytes to_bytes(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

ByteView as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string_view as_string_view(ByteView bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0f]);
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}
}  // namespace

Bytes from_hex(std::string_view hex) {
  Bytes out;
  int pending = -1;
  for (char c : hex) {
    if (c == ' ' || c == ':' || c == '\n' || c == '\t') {
      continue;
    }
    int value = hex_value(c);
    if (value < 0) {
      throw Error(ErrorCode::Malformed, "not a hexadecimal string");
    }
    if (pending < 0) {
      pending = value;
    } else {
      out.push_back(static_cast<std::uint8_t>(pending << 4 | value));
      pending = -1;
    }
  }
  if (pending >= 0) {
    throw Error(ErrorCode::Malformed, "hexadecimal string has an odd number of digits");
  }
  return out;
}

bool constant_time_equal(ByteView a, ByteView b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mailseal
