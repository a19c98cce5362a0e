#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/mime/mime.h"

namespace mailseal::mime {

namespace {

std::string lower_trimmed(std::string text) {
  text.erase(std::remove_if(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); }), text.end());
  return ascii_lower(text);
}

bool is_transport_padding(std::string_view rest) {
  return std::all_of(rest.begin(), rest.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

Entity Entity::parse(std::string_view bytes) {
  Entity entity;
  entity.raw = bytes;
  // The header block ends at the first empty line (CRLF or LF endings).
  std::size_t position = 0;
  std::size_t header_end = std::string_view::npos;
  std::size_t body_start = bytes.size();
  while (position < bytes.size()) {
    std::size_t end = bytes.find('\n', position);
    std::string_view line =
        bytes.substr(position, end == std::string_view::npos ? std::string_view::npos : end - position);
    if (line.empty() || line == "\r") {
      header_end = position;
      body_start = end == std::string_view::npos ? bytes.size() : end + 1;
      break;
    }
    if (end == std::string_view::npos) {
      break;
    }
    position = end + 1;
    if (position > kMaxHeaderBlock) {
      throw Error(ErrorCode::Malformed, "the header block is larger than 1 MiB");
    }
  }
  if (header_end == std::string_view::npos) {
    // Only headers, no body.
    header_end = bytes.size();
    body_start = bytes.size();
  }
  entity.header_block = bytes.substr(0, header_end);
  entity.body = bytes.substr(body_start);
  entity.headers = Headers::parse(entity.header_block);
  if (auto type = entity.headers.get("Content-Type")) {
    entity.content_type = ContentType::parse(*type);
  }
  entity.transfer_encoding = lower_trimmed(entity.headers.get("Content-Transfer-Encoding").value_or("7bit"));
  return entity;
}

MultipartBody split_multipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty() || boundary.size() > 200) {
    throw Error(ErrorCode::Malformed, "a multipart entity has no valid boundary");
  }
  const std::string delimiter = fmt::format("--{}", boundary);
  MultipartBody out;
  std::optional<std::size_t> part_start;
  std::size_t position = 0;
  while (position <= body.size()) {
    std::size_t end = body.find('\n', position);
    std::size_t next = end == std::string_view::npos ? body.size() : end + 1;
    std::string_view line = body.substr(position, next - position);
    if (line.substr(0, delimiter.size()) == delimiter) {
      std::string_view rest = line.substr(delimiter.size());
      bool closing = rest.substr(0, 2) == "--";
      if (closing)
        rest.remove_prefix(2);
      while (!rest.empty() && rest.back() == '\n')
        rest.remove_suffix(1);
      if (is_transport_padding(rest)) {
        if (part_start) {
          // The line break before the delimiter belongs to the delimiter.
          std::size_t part_end = position;
          if (part_end > *part_start && body[part_end - 1] == '\n')
            --part_end;
          if (part_end > *part_start && body[part_end - 1] == '\r')
            --part_end;
          if (out.parts.size() >= kMaxParts) {
            throw Error(ErrorCode::Malformed, "a multipart entity has too many parts");
          }
          out.parts.push_back(body.substr(*part_start, std::max(part_end, *part_start) - *part_start));
        }
        if (closing) {
          out.closed = true;
          return out;
        }
        part_start = next;
      }
    }
    if (end == std::string_view::npos) {
      break;
    }
    position = next;
  }
  if (part_start)
    out.unterminated = body.substr(std::min(*part_start, body.size()));
  return out;
}

}  // namespace mailseal::mime
