#include <algorithm>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"

namespace mailseal::mime {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

Bytes decode_quoted_printable(std::string_view text) {
  Bytes out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '=') {
      out.push_back(static_cast<std::uint8_t>(c));
      continue;
    }
    // Soft line break: "=" before the line ending (trailing white space allowed).
    std::size_t j = i + 1;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t'))
      ++j;
    if (j < text.size() && (text[j] == '\r' || text[j] == '\n')) {
      if (text[j] == '\r' && j + 1 < text.size() && text[j + 1] == '\n')
        ++j;
      i = j;
      continue;
    }
    if (j >= text.size()) {
      i = j;
      continue;
    }
    if (i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<std::uint8_t>(hex_digit(text[i + 1]) << 4 | hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back('=');  // RFC 2045 section 6.7 note 1: keep a lone '='
    }
  }
  return out;
}

}  // namespace

Bytes decode_body(const Entity& entity) {
  const std::string& encoding = entity.transfer_encoding;
  if (encoding == "base64") {
    return decode_base64(entity.body);
  }
  if (encoding == "quoted-printable") {
    return decode_quoted_printable(entity.body);
  }
  if (encoding == "7bit" || encoding == "8bit" || encoding == "binary" || encoding.empty()) {
    return Bytes(entity.body.begin(), entity.body.end());
  }
  throw Error(ErrorCode::Unsupported, fmt::format("unknown Content-Transfer-Encoding '{}'", encoding));
}

bool is_crlf(std::string_view text) {
  // Equal numbers of CR and LF, and every CR followed by LF, means every line
  // ending is CRLF. std::count vectorises; the CR walk is one memchr per line.
  if (std::count(text.begin(), text.end(), '\r') != std::count(text.begin(), text.end(), '\n'))
    return false;
  const char* position = text.data();
  const char* end = text.data() + text.size();
  while ((position = static_cast<const char*>(std::memchr(position, '\r', static_cast<std::size_t>(end - position))))) {
    if (position + 1 >= end || position[1] != '\n')
      return false;
    position += 2;
  }
  return true;
}

std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string encode_base64_lines(ByteView data) {
  static constexpr std::size_t kLineBytes = 57;  // 76 characters a line
  std::string out;
  out.reserve(data.size() / 3 * 4 + data.size() / kLineBytes * 2 + 8);
  unsigned char line[80];
  for (std::size_t offset = 0; offset < data.size(); offset += kLineBytes) {
    std::size_t chunk = std::min(kLineBytes, data.size() - offset);
    int length = EVP_EncodeBlock(line, data.data() + offset, static_cast<int>(chunk));
    out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(length));
    out += "\r\n";
  }
  return out;
}

std::string make_boundary() {
  Bytes random(18);
  ossl::check(RAND_bytes(random.data(), static_cast<int>(random.size())), "random number generator failed");
  return fmt::format("=_mailseal_{}", to_hex(random));
}

}  // namespace mailseal::mime
