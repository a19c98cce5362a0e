#include "mailseal/smtp/protocol.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"

namespace mailseal::smtp {

namespace {

std::string_view trim_left(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  return text;
}

std::string_view trim_right(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

bool is_esmtp_keyword(std::string_view word) {
  if (word.empty() || !std::isalnum(static_cast<unsigned char>(word.front())))
    return false;
  return std::all_of(word.begin(), word.end(), [](unsigned char c) { return std::isalnum(c) || c == '-'; });
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return c > 32 && c < 127; });
}

}  // namespace

std::optional<Command> parse_command(std::string_view line) {
  std::size_t end = 0;
  while (end < line.size() && std::isalpha(static_cast<unsigned char>(line[end])))
    ++end;
  if (end == 0 || end > 16)
    return std::nullopt;
  if (end < line.size() && line[end] != ' ')
    return std::nullopt;
  return Command{ascii_upper(line.substr(0, end)), std::string(trim_right(trim_left(line.substr(end))))};
}

bool looks_like_http(std::string_view line) {
  // A request line: METHOD SP request-target SP HTTP-version (RFC 9112 section 3).
  std::size_t first = line.find(' ');
  if (first != std::string_view::npos && first > 0) {
    std::size_t second = line.find(' ', first + 1);
    if (second != std::string_view::npos && second > first + 1 && line.substr(second + 1).starts_with("HTTP/"))
      return true;
  }
  // A header field: a token directly followed by ':' (RFC 9110 section 5.1).
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return false;
  return std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

PathArgument parse_path_argument(std::string_view argument, std::string_view keyword) {
  std::string prefix = ascii_upper(keyword) + ":";
  if (argument.size() < prefix.size() || ascii_upper(argument.substr(0, prefix.size())) != prefix)
    throw Error(ErrorCode::Malformed, fmt::format("expected {}<address>", prefix));
  std::string_view rest = trim_left(argument.substr(prefix.size()));
  if (rest.empty() || rest.front() != '<')
    throw Error(ErrorCode::Malformed, "the address must be in angle brackets");
  std::size_t close = rest.find('>');
  if (close == std::string_view::npos)
    throw Error(ErrorCode::Malformed, "no closing angle bracket");
  PathArgument out;
  std::string_view path = rest.substr(1, close - 1);
  // A source route (RFC 5321 section 4.1.2, "@a,@b:user@c") is obsolete: its
  // hosts are ignored (appendix C).
  if (!path.empty() && path.front() == '@') {
    std::size_t colon = path.find(':');
    if (colon == std::string_view::npos)
      throw Error(ErrorCode::Malformed, "a source route without a mailbox");
    path.remove_prefix(colon + 1);
  }
  if (!is_printable_ascii(path) && !path.empty()) {
    // SMTPUTF8 is not offered, so an address is printable ASCII.
    throw Error(ErrorCode::Malformed, "the address has characters SMTP does not allow");
  }
  out.path = std::string(path);
  std::string_view parameters = rest.substr(close + 1);
  if (!parameters.empty() && parameters.front() != ' ')
    throw Error(ErrorCode::Malformed, "text after the address must be parameters");
  while (true) {
    parameters = trim_left(parameters);
    if (parameters.empty())
      break;
    std::size_t space = parameters.find(' ');
    std::string_view word = parameters.substr(0, space);
    parameters = space == std::string_view::npos ? std::string_view{} : parameters.substr(space);
    std::size_t equals = word.find('=');
    std::string_view key = word.substr(0, equals);
    std::string_view value = equals == std::string_view::npos ? std::string_view{} : word.substr(equals + 1);
    if (!is_esmtp_keyword(key) || !is_printable_ascii(value) || value.find('=') != std::string_view::npos)
      throw Error(ErrorCode::Malformed, "a parameter is not KEYWORD or KEYWORD=VALUE");
    out.parameters.emplace_back(ascii_upper(key), std::string(value));
  }
  return out;
}

std::string Reply::text() const {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty())
      out += ' ';
    out += line;
  }
  return out;
}

std::string smtp_reply_text(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) >= 127)
      c = '?';
  }
  return out;
}

std::string Reply::serialize() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i)
    out += fmt::format("{}{}{}\r\n", code, i + 1 < lines.size() ? '-' : ' ', smtp_reply_text(lines[i]));
  if (lines.empty())
    out = fmt::format("{}\r\n", code);
  return out;
}

Reply reply(int code, std::string line) {
  return Reply{code, {std::move(line)}};
}

bool ReplyReader::feed(std::string_view line) {
  if (line.size() < 3 || !std::all_of(line.begin(), line.begin() + 3, [](unsigned char c) { return std::isdigit(c); }))
    throw Error(ErrorCode::Malformed, "the server's reply does not start with a three-digit code");
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code < 200 || code > 599)
    throw Error(ErrorCode::Malformed, fmt::format("the server replied with an invalid code {}", code));
  if (started_ && code != reply_.code)
    throw Error(ErrorCode::Malformed, "the server's multi-line reply changes its code");
  bool last = line.size() == 3 || line[3] == ' ';
  if (!last && line[3] != '-')
    throw Error(ErrorCode::Malformed, "the server's reply line has no separator after the code");
  reply_.code = code;
  reply_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
  started_ = true;
  if (reply_.lines.size() > 1000)
    throw Error(ErrorCode::Malformed, "the server's reply is too long");
  return last;
}

bool DataReader::feed(std::string_view line, bool too_long, bool crlf) {
  const bool after_crlf = previous_crlf_;
  previous_crlf_ = crlf;
  if (!too_long && line == "." && crlf && after_crlf)
    return true;
  if (!crlf || line.find('\r') != std::string_view::npos)
    bare_line_ending_ = true;
  if (too_long)
    line_too_long_ = true;
  if (!line.empty() && line.front() == '.')
    line.remove_prefix(1);
  size_ += line.size() + 2;
  if (size_ > max_size_) {
    over_size_ = true;
    message_.clear();
    message_.shrink_to_fit();
    return false;
  }
  if (!eight_bit_)
    eight_bit_ = std::any_of(line.begin(), line.end(), [](unsigned char c) { return c >= 128; });
  message_.append(line);
  message_.append("\r\n");
  return false;
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (line_start && c == '.')
      out += '.';
    if (c == '\n' && (out.empty() || out.back() != '\r'))
      out += '\r';
    if (c == '\r' && (i + 1 >= message.size() || message[i + 1] != '\n')) {
      out += "\r\n";  // a bare CR is a line ending too (as CrlfSink reads it)
      line_start = true;
      continue;
    }
    out += c;
    line_start = c == '\n';
  }
  if (!out.empty() && !line_start)
    out += "\r\n";
  out += ".\r\n";
  return out;
}

std::optional<std::size_t> parse_size_parameter(std::string_view value) {
  std::size_t size = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), size);
  if (error != std::errc{} || end != value.data() + value.size() || value.empty())
    return std::nullopt;
  return size;
}

}  // namespace mailseal::smtp
