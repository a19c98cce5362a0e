#include "mailseal/udf/base32.h"

#include <cctype>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"

namespace mailseal::udf {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int decode_character(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

}  // namespace

std::string base32_encode(ByteView data, std::size_t bit_count) {
  std::string out;
  std::size_t characters = (bit_count + 4) / 5;
  out.reserve(characters);
  for (std::size_t i = 0; i < characters; ++i) {
    unsigned value = 0;
    for (std::size_t b = 0; b < 5; ++b) {
      std::size_t bit = i * 5 + b;
      std::size_t byte = bit / 8;
      unsigned set = (byte < data.size() && bit < bit_count) ? (data[byte] >> (7 - bit % 8)) & 1u : 0u;
      value = value << 1 | set;
    }
    out.push_back(kAlphabet[value]);
  }
  return out;
}

BitString base32_decode(std::string_view characters) {
  BitString out;
  out.bit_count = characters.size() * 5;
  out.bytes.assign((out.bit_count + 7) / 8, 0);
  std::size_t bit = 0;
  for (char c : characters) {
    int value = decode_character(c);
    if (value < 0) {
      throw Error(ErrorCode::Malformed, fmt::format("'{}' is not a Base32 character (A-Z, 2-7)", std::string(1, c)));
    }
    for (int b = 4; b >= 0; --b, ++bit) {
      if ((value >> b) & 1) {
        out.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
      }
    }
  }
  return out;
}

std::string group_characters(std::string_view characters, std::size_t group_size, char separator) {
  std::string out;
  out.reserve(characters.size() + characters.size() / group_size);
  for (std::size_t i = 0; i < characters.size(); ++i) {
    if (i > 0 && i % group_size == 0) {
      out.push_back(separator);
    }
    out.push_back(characters[i]);
  }
  return out;
}

std::string strip_presentation(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      continue;
    }
    out.push_back(ascii_upper(c));
  }
  return out;
}

}  // namespace mailseal::udf
