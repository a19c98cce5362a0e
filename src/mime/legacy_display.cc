// RFC 9788 Legacy Display Elements, added and removed (mime/legacy_display.h).
// Every edit keeps the bytes around it as they were: header fields other than
// the ones changed, preambles, delimiters and parts that are not main body
// parts.

#include "mailseal/mime/legacy_display.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/text.h"
#include "mailseal/mime/mime.h"
#include "mime/internal/gmime.h"

namespace mailseal::mime {

namespace {

// Nesting deeper than this is not looked into.
constexpr int kMaxDepth = 8;

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Non-ASCII characters of UTF-8 text as character references ("&#233;");
// bytes that are not UTF-8 are kept.
std::string ascii_references(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (length <= 1 || i + length > text.size()) {
      out.push_back(text[i++]);
      continue;
    }
    std::uint32_t code = c & (0x3F >> (length - 1));
    for (std::size_t k = 1; k < length; ++k)
      code = code << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out += fmt::format("&#{};", code);
    i += length;
  }
  return out;
}

// The text of character data with references resolved (the five named ones
// and numeric ones); others are left as written.
std::string unescape_markup(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::size_t end = text[i] == '&' ? text.find(';', i) : std::string_view::npos;
    if (end == std::string_view::npos || end - i > 10) {
      out.push_back(text[i]);
      continue;
    }
    std::string name = ascii_lower(text.substr(i + 1, end - i - 1));
    static const std::pair<std::string_view, char> kNamed[] = {
        {"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
    auto named = std::find_if(std::begin(kNamed), std::end(kNamed), [&](const auto& n) { return n.first == name; });
    std::uint32_t code = 0;
    if (named != std::end(kNamed)) {
      code = static_cast<unsigned char>(named->second);
    } else if (name.size() > 1 && name[0] == '#') {
      bool hex = name[1] == 'x';
      std::string digits = name.substr(hex ? 2 : 1);
      if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [&](unsigned char c) {
            return hex ? std::isxdigit(c) != 0 : std::isdigit(c) != 0;
          })) {
        out.push_back(text[i]);
        continue;
      }
      code = static_cast<std::uint32_t>(std::stoul(digits, nullptr, hex ? 16 : 10));
    } else {
      out.push_back(text[i]);
      continue;
    }
    if (code == 0 || code > 0x10FFFF) {
      out.push_back(text[i]);
      continue;
    }
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | code >> 6));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | code >> 12));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | code >> 18));
      out.push_back(static_cast<char>(0x80 | (code >> 12 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
    i = end;
  }
  return out;
}

std::string encode_quoted_printable(std::string_view text) {
  internal::ensure_gmime();
  // GMime's encoder ends lines with LF; a CR before it would become "=0D".
  std::string lf;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n'))
      lf.push_back(text[i]);
  }
  GMimeEncoding state;
  g_mime_encoding_init_encode(&state, GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  std::string out(g_mime_encoding_outlen(&state, lf.size()), '\0');
  out.resize(g_mime_encoding_flush(&state, lf.data(), lf.size(), out.data()));
  return to_crlf(out);
}

std::string encode_body(std::string_view text, std::string_view encoding) {
  if (encoding == "base64")
    return encode_base64_lines(as_bytes(text));
  if (encoding == "quoted-printable")
    return encode_quoted_printable(text);
  return std::string(text);
}

// `block` (a header block as written) with the first field `name` given
// `value`, or with that field appended; every other line kept.
std::string set_field(std::string_view block, std::string_view name, std::string_view value) {
  std::string out;
  bool done = false;
  bool skipping = false;
  std::size_t position = 0;
  while (position < block.size()) {
    std::size_t end = block.find('\n', position);
    std::size_t next = end == std::string_view::npos ? block.size() : end + 1;
    std::string_view line = block.substr(position, next - position);
    const bool continuation = line.front() == ' ' || line.front() == '\t';
    if (!continuation) {
      skipping = false;
      std::size_t colon = line.find(':');
      if (!done && colon != std::string_view::npos && same_field_name(line.substr(0, colon), name)) {
        out += fmt::format("{}: {}\r\n", line.substr(0, colon), value);
        done = skipping = true;
      }
    }
    if (!skipping)
      out.append(line);
    position = next;
  }
  if (!done) {
    if (!out.empty() && out.back() != '\n')
      out += "\r\n";
    out += fmt::format("{}: {}\r\n", name, value);
  }
  return out;
}

// The main body parts of `entity` changed by `leaf` (RFC 9788): nullopt when
// none changed.
using Leaf = std::function<std::optional<std::string>(const Entity&)>;

std::optional<std::string> transform(std::string_view bytes, const Leaf& leaf, int depth) {
  if (depth > kMaxDepth)
    return std::nullopt;
  Entity entity = Entity::parse(bytes);
  const ContentType& type = entity.content_type;
  if (!type.is_multipart()) {
    auto disposition = entity.headers.get("Content-Disposition");
    if (disposition &&
        ascii_lower(disposition->substr(0, disposition->find(';'))).find("attachment") != std::string::npos)
      return std::nullopt;
    if (!type.is("text", "plain") && !type.is("text", "html"))
      return std::nullopt;
    return leaf(entity);
  }
  auto boundary = type.parameter("boundary");
  if (!boundary || type.subtype == "signed" || type.subtype == "encrypted")
    return std::nullopt;
  MultipartBody multipart = split_multipart(entity.body, *boundary);
  const std::size_t count = type.subtype == "alternative" ? multipart.parts.size() : std::min<std::size_t>(1, multipart.parts.size());
  std::string out(bytes.substr(0, static_cast<std::size_t>(entity.body.data() - bytes.data())));
  std::size_t copied = 0;  // of the body
  bool changed = false;
  for (std::size_t i = 0; i < count; ++i) {
    std::string_view part = multipart.parts[i];
    std::optional<std::string> replaced = transform(part, leaf, depth + 1);
    if (!replaced)
      continue;
    std::size_t offset = static_cast<std::size_t>(part.data() - entity.body.data());
    out.append(entity.body.substr(copied, offset - copied));
    out += *replaced;
    copied = offset + part.size();
    changed = true;
  }
  if (!changed)
    return std::nullopt;
  out.append(entity.body.substr(copied));
  return out;
}

// The entity with a new header block and body; the empty line between them
// as it was.
std::string rebuild(const Entity& entity, std::string_view header_block, std::string_view body) {
  std::size_t body_offset = static_cast<std::size_t>(entity.body.data() - entity.raw.data());
  std::string_view separator = entity.raw.substr(entity.header_block.size(), body_offset - entity.header_block.size());
  if (separator.empty())
    separator = "\r\n";
  return std::string(header_block) + std::string(separator) + std::string(body);
}

std::string raw_content_type(const Entity& entity) {
  for (const auto& field : entity.headers.fields()) {
    if (same_field_name(field.name, "Content-Type"))
      return field.raw_value;
  }
  return "text/plain; charset=us-ascii";
}

std::optional<std::string> add_to_part(const Entity& entity, std::span<const DisplayedField> fields) {
  const bool html = entity.content_type.is("text", "html");
  std::string element = html ? legacy_display_html(fields) : legacy_display_text(fields);
  std::string content_type = raw_content_type(entity);
  const std::string charset = ascii_lower(entity.content_type.parameter("charset").value_or(""));
  if (!is_ascii(element)) {
    if (charset == "us-ascii" || charset.empty())
      content_type = with_parameter(without_parameter(content_type, "charset"), "charset", "utf-8");
    else if (charset != "utf-8" && charset != "utf8")
      return std::nullopt;  // another charset: the UTF-8 value does not fit
  }
  Bytes decoded_bytes;
  try {
    decoded_bytes = decode_body(entity);
  } catch (const Error&) {
    return std::nullopt;
  }
  std::string text(decoded_bytes.begin(), decoded_bytes.end());
  if (html) {
    // After the body's start tag, else at the top.
    std::string folded = ascii_lower(text);
    std::size_t at = 0;
    for (std::size_t tag = folded.find("<body"); tag != std::string::npos; tag = folded.find("<body", tag + 1)) {
      char next = tag + 5 < folded.size() ? folded[tag + 5] : '\0';
      if (next == '>' || next == '/' || is_space(next)) {
        std::size_t close = folded.find('>', tag);
        at = close == std::string::npos ? 0 : close + 1;
        break;
      }
    }
    text.insert(at, element);
  } else {
    text.insert(0, element);
  }
  std::string block(entity.header_block);
  std::string encoding = entity.transfer_encoding;
  if (!is_ascii(element) && (encoding == "7bit" || encoding.empty())) {
    encoding = "8bit";  // inside the encryption; the transport never sees it
    block = set_field(block, "Content-Transfer-Encoding", encoding);
  }
  block = set_field(block, "Content-Type", with_parameter(content_type, kLegacyDisplayParameter, "1"));
  return rebuild(entity, block, encode_body(text, encoding));
}

// Whether `lines` are each "Name: value" for one of `fields`, none twice.
bool only_protected_fields(const std::vector<std::string_view>& lines, std::span<const DisplayedField> fields) {
  if (lines.empty())
    return false;
  std::vector<bool> used(fields.size(), false);
  for (std::string_view line : lines) {
    bool found = false;
    for (std::size_t i = 0; i < fields.size() && !found; ++i) {
      const auto& field = fields[i];
      if (used[i] || line.size() != field.name.size() + 2 + field.value.size())
        continue;
      if (same_field_name(line.substr(0, field.name.size()), field.name) &&
          line.substr(field.name.size(), 2) == ": " && line.substr(field.name.size() + 2) == field.value) {
        used[i] = found = true;
      }
    }
    if (!found)
      return false;
  }
  return true;
}

// Whether `text` begins with a line "Name: value" (an RFC 5322 field name).
bool starts_with_field_line(std::string_view text) {
  std::size_t colon = text.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon > 76)
    return false;
  return std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(colon),
                     [](char c) { return c > ' ' && c < 0x7f; });
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t position = 0;
  while (position <= text.size()) {
    std::size_t end = text.find('\n', position);
    std::string_view line = text.substr(position, end == std::string_view::npos ? std::string_view::npos : end - position);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos)
      break;
    position = end + 1;
  }
  return lines;
}

// The length of the text/plain element at the top of `text` (its lines and
// the empty line after them), or 0 when there is none of protected fields.
std::size_t text_element(std::string_view text, std::span<const DisplayedField> fields) {
  std::vector<std::string_view> lines;
  std::size_t position = 0;
  while (position < text.size() && lines.size() <= fields.size()) {
    std::size_t end = text.find('\n', position);
    if (end == std::string_view::npos)
      return 0;  // no empty line ends it
    std::string_view line = text.substr(position, end - position);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    position = end + 1;
    if (line.empty()) {
      // A second block of fields right after it stays with the first: a
      // decoy element must not silence the warning about the next one.
      if (!only_protected_fields(lines, fields) || starts_with_field_line(text.substr(position)))
        return 0;
      return position;
    }
    lines.push_back(line);
  }
  return 0;
}

// The end of a start tag that begins at `start` ('<'), quotes respected.
std::size_t tag_end(std::string_view text, std::size_t start) {
  char quote = 0;
  for (std::size_t i = start + 1; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '<') {
      return std::string_view::npos;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Whether a start tag's attributes give it class kLegacyDisplayClass.
bool has_legacy_class(std::string_view tag) {
  std::size_t i = 0;
  while (i < tag.size()) {
    while (i < tag.size() && (is_space(tag[i]) || tag[i] == '/'))
      ++i;
    std::size_t name_start = i;
    while (i < tag.size() && !is_space(tag[i]) && tag[i] != '=' && tag[i] != '/')
      ++i;
    std::string name = ascii_lower(tag.substr(name_start, i - name_start));
    while (i < tag.size() && is_space(tag[i]))
      ++i;
    std::string_view value;
    if (i < tag.size() && tag[i] == '=') {
      ++i;
      while (i < tag.size() && is_space(tag[i]))
        ++i;
      if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) {
        std::size_t close = tag.find(tag[i], i + 1);
        if (close == std::string_view::npos)
          return false;
        value = tag.substr(i + 1, close - i - 1);
        i = close + 1;
      } else {
        std::size_t start = i;
        while (i < tag.size() && !is_space(tag[i]))
          ++i;
        value = tag.substr(start, i - start);
      }
    }
    if (name == "class") {
      std::string classes(value);
      for (char& c : classes)
        c = is_space(c) ? ' ' : c;
      std::size_t at = 0;
      while (at < classes.size()) {
        std::size_t end = std::min(classes.find(' ', at), classes.size());
        if (std::string_view(classes).substr(at, end - at) == kLegacyDisplayClass)
          return true;
        at = end + 1;
      }
      return false;
    }
    if (name.empty())
      ++i;
  }
  return false;
}

// The name of the tag that begins at `start` ('<' then a letter), folded.
std::string tag_name(std::string_view folded, std::size_t start) {
  std::size_t end = start + 1;
  while (end < folded.size() && (std::isalnum(static_cast<unsigned char>(folded[end])) != 0 || folded[end] == '-'))
    ++end;
  return std::string(folded.substr(start + 1, end - start - 1));
}

// Whether an HTML tokenizer that has read `folded` (lowercased) is in the
// data state: outside any comment, tag, raw-text element (script, style,
// textarea, title...) and CDATA section, so that bytes taken out right here
// cannot change how the bytes after them are read. An approximation that
// errs one way: whatever it does not follow exactly (foreign content, CDATA,
// noscript, plaintext, anything unterminated) answers false, and the element
// is kept.
bool in_data_state(std::string_view folded) {
  static constexpr std::string_view kRawText[] = {"script", "style", "textarea", "title", "xmp", "iframe", "noembed"};
  static constexpr std::string_view kRefused[] = {"svg", "math", "noscript", "noframes", "plaintext"};
  std::size_t i = 0;
  while ((i = folded.find('<', i)) != std::string_view::npos) {
    std::string_view rest = folded.substr(i);
    std::size_t end = std::string_view::npos;
    if (rest.starts_with("<!--")) {
      // "<!-->" ends at once, as in browsers; "--!>" ends one too.
      const std::size_t close = folded.find("-->", i + 2), bang = folded.find("--!>", i + 2);
      end = std::min(close == std::string_view::npos ? close : close + 2,
                     bang == std::string_view::npos ? bang : bang + 3);
    } else if (rest.starts_with("<!doctype") || rest.starts_with("<?") || rest.starts_with("</")) {
      end = folded.find('>', i);
    } else if (rest.starts_with("<!")) {
      return false;  // CDATA and other declarations
    } else if (rest.size() > 1 && std::isalpha(static_cast<unsigned char>(rest[1])) != 0) {
      const std::string name = tag_name(folded, i);
      if (std::find(std::begin(kRefused), std::end(kRefused), name) != std::end(kRefused))
        return false;
      end = tag_end(folded, i);
      if (end != std::string_view::npos &&
          std::find(std::begin(kRawText), std::end(kRawText), name) != std::end(kRawText)) {
        std::size_t close = folded.find("</" + name, end);
        if (close == std::string_view::npos)
          return false;
        end = close;  // the end tag is read next
      }
    } else {
      end = i;  // a '<' that starts nothing is text
    }
    if (end == std::string_view::npos)
      return false;
    i = end + 1;
  }
  return true;
}

// Whether a div's start tag (from "<div" to its '>') is one a browser and
// this code both end at the same '>': nothing but attribute characters.
bool plain_start_tag(std::string_view tag) {
  return std::all_of(tag.begin(), tag.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || is_space(c) ||
           std::string_view("=\"'-_:;.,#%").find(c) != std::string_view::npos;
  });
}

// The first div of class kLegacyDisplayClass from `from`: its start, and the
// '>' ending its start tag.
std::optional<std::pair<std::size_t, std::size_t>> next_legacy_div(std::string_view text, std::string_view folded,
                                                                   std::size_t from) {
  for (std::size_t start = folded.find("<div", from); start != std::string::npos;
       start = folded.find("<div", start + 1)) {
    char next = start + 4 < folded.size() ? folded[start + 4] : '\0';
    if (next != '>' && !is_space(next))
      continue;
    std::size_t open_end = tag_end(text, start);
    if (open_end != std::string_view::npos && has_legacy_class(text.substr(start + 4, open_end - start - 4)))
      return std::make_pair(start, open_end);
  }
  return std::nullopt;
}

// The [begin, end) range of the HTML element (and the line break after it)
// when taking it out changes nothing else: the first div of the class, in
// the data state, a plain start tag, an end tag "</div>", nothing inside but
// protected fields (text and <pre>, no other '<' or '>'), and no second div
// of the class after it (a decoy first element must not silence the warning
// about a second). nullopt otherwise.
std::optional<std::pair<std::size_t, std::size_t>> html_element(std::string_view text,
                                                                std::span<const DisplayedField> fields) {
  const std::string folded = ascii_lower(text);
  auto div = next_legacy_div(text, folded, 0);
  if (!div)
    return std::nullopt;
  const auto [start, open_end] = *div;
  if (!in_data_state(std::string_view(folded).substr(0, start)) ||
      !plain_start_tag(std::string_view(text).substr(start + 1, open_end - start - 1)))
    return std::nullopt;
  std::size_t close = folded.find("</div", open_end);
  if (close == std::string::npos || folded.compare(close, 6, "</div>") != 0)
    return std::nullopt;
  std::string inner = folded.substr(open_end + 1, close - open_end - 1);
  std::string original(text.substr(open_end + 1, close - open_end - 1));
  for (std::string_view tag : {"<pre>", "</pre>"}) {
    for (std::size_t at = inner.find(tag); at != std::string::npos; at = inner.find(tag)) {
      inner.erase(at, tag.size());
      original.erase(at, tag.size());
    }
  }
  if (original.find_first_of("<>") != std::string::npos)
    return std::nullopt;
  std::string unescaped = unescape_markup(original);
  std::vector<std::string_view> lines;
  for (std::string_view line : split_lines(unescaped)) {
    while (!line.empty() && is_space(line.front()))
      line.remove_prefix(1);
    while (!line.empty() && is_space(line.back()))
      line.remove_suffix(1);
    if (!line.empty())
      lines.push_back(line);
  }
  if (!only_protected_fields(lines, fields))
    return std::nullopt;
  std::size_t end = close + 6;
  if (text.substr(end, 2) == "\r\n")
    end += 2;
  else if (text.substr(end, 1) == "\n")
    end += 1;
  if (next_legacy_div(text, folded, end))
    return std::nullopt;
  return std::make_pair(start, end);
}

std::optional<std::string> remove_from_part(const Entity& entity, std::span<const DisplayedField> fields,
                                            std::size_t& kept) {
  auto mark = entity.content_type.parameter(kLegacyDisplayParameter);
  if (!mark || *mark != "1")
    return std::nullopt;
  Bytes decoded_bytes;
  try {
    decoded_bytes = decode_body(entity);
  } catch (const Error&) {
    ++kept;
    return std::nullopt;
  }
  std::string text(decoded_bytes.begin(), decoded_bytes.end());
  if (entity.content_type.is("text", "html")) {
    auto range = html_element(text, fields);
    if (!range) {
      ++kept;
      return std::nullopt;
    }
    text.erase(range->first, range->second - range->first);
  } else {
    std::size_t length = text_element(text, fields);
    if (length == 0) {
      ++kept;
      return std::nullopt;
    }
    text.erase(0, length);
  }
  std::string block = set_field(entity.header_block, "Content-Type",
                                without_parameter(raw_content_type(entity), kLegacyDisplayParameter));
  return rebuild(entity, block, encode_body(text, entity.transfer_encoding));
}

}  // namespace

DisplayedField displayed_field(std::string_view name, std::string_view raw_value) {
  HeaderField field{std::string(name), std::string(raw_value)};
  std::string value = decode_header_text(field.value());
  for (char& c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      c = ' ';
  }
  return {std::string(name), std::move(value)};
}

std::string legacy_display_text(std::span<const DisplayedField> fields) {
  std::string out;
  for (const auto& field : fields)
    out += fmt::format("{}: {}\r\n", field.name, field.value);
  return out + "\r\n";
}

std::string legacy_display_html(std::span<const DisplayedField> fields) {
  std::string lines;
  for (const auto& field : fields) {
    if (!lines.empty())
      lines += "\r\n";
    lines += ascii_references(escape_markup(fmt::format("{}: {}", field.name, field.value)));
  }
  return fmt::format("<div class=\"{}\">\r\n<pre>{}</pre>\r\n</div>\r\n", kLegacyDisplayClass, lines);
}

std::optional<std::string> add_legacy_display(std::string_view entity, std::span<const DisplayedField> fields) {
  if (fields.empty())
    return std::nullopt;
  return transform(entity, [&](const Entity& part) { return add_to_part(part, fields); }, 0);
}

LegacyDisplayRemoval remove_legacy_display(std::string_view entity, std::span<const DisplayedField> fields) {
  LegacyDisplayRemoval out;
  std::optional<std::string> changed = transform(
      entity,
      [&](const Entity& part) {
        std::optional<std::string> removed = remove_from_part(part, fields, out.kept);
        out.removed += removed ? 1 : 0;
        return removed;
      },
      0);
  out.entity = changed ? std::move(*changed) : std::string(entity);
  return out;
}

std::string with_parameter(std::string_view content_type, std::string_view name, std::string_view value) {
  std::string_view base = content_type;
  while (!base.empty() && (is_space(base.back()) || base.back() == ';'))
    base.remove_suffix(1);
  std::string quoted;
  for (char c : value) {
    if (c == '"' || c == '\\')
      quoted.push_back('\\');
    quoted.push_back(c);
  }
  return fmt::format("{}; {}=\"{}\"", base, name, quoted);
}

std::string without_parameter(std::string_view content_type, std::string_view name) {
  std::string out(content_type);
  char quote = 0;
  int comment = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (quote != 0) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quote = 0;
      continue;
    }
    if (c == '"' || c == '(' || c == ')') {
      quote = c == '"' ? '"' : 0;
      comment += c == '(' ? 1 : c == ')' ? -1 : 0;
      continue;
    }
    if (c != ';' || comment > 0)
      continue;
    std::size_t j = i + 1;
    while (j < out.size() && is_space(out[j]))
      ++j;
    std::size_t name_start = j;
    while (j < out.size() && out[j] != '=' && out[j] != ';' && !is_space(out[j]))
      ++j;
    std::string_view found = std::string_view(out).substr(name_start, j - name_start);
    // RFC 2231 forms (name*, name*0) are the same parameter.
    if (!same_field_name(found.substr(0, std::min(found.size(), name.size())), name) ||
        (found.size() > name.size() && found[name.size()] != '*'))
      continue;
    while (j < out.size() && is_space(out[j]))
      ++j;
    if (j < out.size() && out[j] == '=')
      ++j;
    while (j < out.size() && is_space(out[j]))
      ++j;
    if (j < out.size() && out[j] == '"') {
      for (++j; j < out.size() && out[j] != '"'; ++j) {
        if (out[j] == '\\')
          ++j;
      }
      j = std::min(j + 1, out.size());
    } else {
      while (j < out.size() && out[j] != ';' && !is_space(out[j]))
        ++j;
    }
    out.erase(i, j - i);
    --i;
  }
  return out;
}

}  // namespace mailseal::mime
