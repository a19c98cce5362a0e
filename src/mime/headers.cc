#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/mime/mime.h"
#include "mime/internal/gmime.h"

namespace mailseal::mime {

namespace {

// RFC 5322 section 3.6.8: printable US-ASCII except ':'.
bool is_field_name_char(char c) {
  return c > 32 && c < 127 && c != ':';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n'))
    text.remove_suffix(1);
  return text;
}

}  // namespace

bool same_field_name(std::string_view a, std::string_view b) {
  return equal_ignoring_ascii_case(a, b);
}

std::string HeaderField::value() const {
  // Unfolding (RFC 5322 section 2.2.3): remove the line breaks of folds.
  std::string out;
  out.reserve(raw_value.size());
  for (char c : raw_value) {
    if (c != '\r' && c != '\n')
      out.push_back(c);
  }
  return std::string(trim(out));
}

Headers Headers::parse(std::string_view block) {
  if (block.size() > kMaxHeaderBlock) {
    throw Error(ErrorCode::Malformed, "the header block is larger than 1 MiB");
  }
  Headers headers;
  std::size_t position = 0;
  while (position < block.size()) {
    std::size_t end = block.find('\n', position);
    std::size_t next = end == std::string_view::npos ? block.size() : end + 1;
    std::string_view line = block.substr(position, next - position);
    std::string_view content = line;
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
      content.remove_suffix(1);
    if (!content.empty() && (content.front() == ' ' || content.front() == '\t')) {
      if (headers.fields_.empty()) {
        throw Error(ErrorCode::Malformed, "the header block starts with a continuation line");
      }
      headers.fields_.back().raw_value += "\r\n";
      headers.fields_.back().raw_value.append(content);
    } else if (!content.empty()) {
      auto colon = content.find(':');
      if (colon == std::string_view::npos || colon == 0 ||
          !std::all_of(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(colon), is_field_name_char)) {
        throw Error(ErrorCode::Malformed, fmt::format("a header line is not a field: '{}'", content.substr(0, 80)));
      }
      if (headers.fields_.size() >= kMaxHeaderFields) {
        throw Error(ErrorCode::Malformed, "the message has too many header fields");
      }
      std::string_view raw_value = content.substr(colon + 1);
      if (!raw_value.empty() && raw_value.front() == ' ')
        raw_value.remove_prefix(1);
      headers.fields_.push_back({std::string(content.substr(0, colon)), std::string(raw_value)});
    }
    position = next;
  }
  return headers;
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& field : fields_) {
    if (same_field_name(field.name, name))
      return field.value();
  }
  return std::nullopt;
}

std::size_t Headers::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      fields_.begin(), fields_.end(), [&](const HeaderField& field) { return same_field_name(field.name, name); }));
}

void Headers::remove(std::string_view name) {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [&](const HeaderField& field) { return same_field_name(field.name, name); }),
                fields_.end());
}

void Headers::set(std::string_view name, std::string_view value) {
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const HeaderField& field) { return same_field_name(field.name, name); });
  if (first == fields_.end()) {
    append(name, value);
    return;
  }
  first->raw_value = std::string(value);
  auto index = first - fields_.begin();
  fields_.erase(std::remove_if(fields_.begin() + index + 1, fields_.end(),
                               [&](const HeaderField& field) { return same_field_name(field.name, name); }),
                fields_.end());
}

void Headers::append(std::string_view name, std::string_view value) {
  fields_.push_back({std::string(name), std::string(value)});
}

std::string Headers::serialize() const {
  std::string out;
  for (const auto& field : fields_) {
    out += field.name;
    out += ": ";
    out += to_crlf(field.raw_value);
    out += "\r\n";
  }
  return out;
}

bool is_content_header(std::string_view name) {
  return (name.size() >= 8 && same_field_name(name.substr(0, 8), "content-")) || same_field_name(name, "mime-version");
}

ContentType ContentType::parse(std::string_view value) {
  internal::ensure_gmime();
  std::string text(value);
  internal::GObjectPtr<GMimeContentType> parsed(g_mime_content_type_parse(nullptr, text.c_str()));
  ContentType out;
  if (!parsed) {
    return out;  // RFC 2045 section 5.2: an unparsable type means text/plain
  }
  const char* type = g_mime_content_type_get_media_type(parsed.get());
  const char* subtype = g_mime_content_type_get_media_subtype(parsed.get());
  if (type == nullptr || subtype == nullptr) {
    return out;
  }
  out.media_type = ascii_lower(type);
  out.subtype = ascii_lower(subtype);
  GMimeParamList* parameters = g_mime_content_type_get_parameters(parsed.get());
  int count = parameters ? g_mime_param_list_length(parameters) : 0;
  for (int i = 0; i < count; ++i) {
    GMimeParam* parameter = g_mime_param_list_get_parameter_at(parameters, i);
    const char* name = g_mime_param_get_name(parameter);
    const char* parameter_value = g_mime_param_get_value(parameter);
    if (name != nullptr) {
      out.parameters.emplace_back(ascii_lower(name), parameter_value ? parameter_value : "");
    }
  }
  return out;
}

std::string ContentType::mime_type() const {
  return media_type + "/" + subtype;
}

std::optional<std::string> ContentType::parameter(std::string_view name) const {
  for (const auto& [key, value] : parameters) {
    if (same_field_name(key, name))
      return value;
  }
  return std::nullopt;
}

bool ContentType::is(std::string_view type, std::string_view sub) const {
  return same_field_name(media_type, type) && same_field_name(subtype, sub);
}

namespace {

void collect_mailboxes(InternetAddressList* list, std::vector<EmailAddress>& out, int depth) {
  int count = internet_address_list_length(list);
  for (int i = 0; i < count; ++i) {
    InternetAddress* address = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(address)) {
      if (depth < 2) {
        collect_mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(address)), out, depth + 1);
      }
    } else if (INTERNET_ADDRESS_IS_MAILBOX(address)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(address));
      out.push_back(EmailAddress::parse(addr ? addr : ""));
    }
  }
}

}  // namespace

std::vector<EmailAddress> parse_addresses(std::string_view value) {
  internal::ensure_gmime();
  std::string text(value);
  internal::GObjectPtr<InternetAddressList> list(internet_address_list_parse(nullptr, text.c_str()));
  std::vector<EmailAddress> out;
  if (list) {
    collect_mailboxes(list.get(), out, 0);
  }
  return out;
}

std::string decode_header_text(std::string_view value) {
  internal::ensure_gmime();
  std::string text(value);
  internal::GString decoded(g_mime_utils_header_decode_text(nullptr, text.c_str()));
  return decoded ? std::string(decoded.get()) : text;
}

std::optional<TimePoint> parse_date(std::string_view value) {
  internal::ensure_gmime();
  std::string text(value);
  internal::GDateTimePtr date(g_mime_utils_header_decode_date(text.c_str()));
  if (!date) {
    return std::nullopt;
  }
  return from_unix_seconds(g_date_time_to_unix(date.get()));
}

std::string format_date(TimePoint time) {
  internal::ensure_gmime();
  internal::GDateTimePtr date(g_date_time_new_from_unix_utc(to_unix_seconds(time)));
  internal::GString text(date ? g_mime_utils_header_format_date(date.get()) : nullptr);
  return text ? std::string(text.get()) : std::string();
}

}  // namespace mailseal::mime
