#pragma once
// The SMTP protocol (RFC 5321) as pure functions over lines: what the gateway
// and its upstream client parse and write. Nothing here touches a socket, so
// every parser of untrusted bytes can be fuzzed alone.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailseal::smtp {

// RFC 5321 section 4.5.3.1: a command line is at most 512 octets with CRLF;
// AUTH lines may be longer (RFC 4954 section 4), so commands get 4096; a
// text line is at most 1000 octets with CRLF.
inline constexpr std::size_t kMaxCommandLine = 4096;
inline constexpr std::size_t kMaxTextLine = 1000;
inline constexpr std::size_t kMaxRecipients = 100;

struct Command {
  std::string verb;      // upper case: "EHLO", "MAIL", ...
  std::string argument;  // the rest of the line, leading spaces removed
};

// Splits a command line (without its line ending). nullopt when the line is
// empty or its verb is not letters.
std::optional<Command> parse_command(std::string_view line);

// True for a line no SMTP client sends but a web browser (or another HTTP
// client) does: an HTTP request line ("POST / HTTP/1.1") or a header field
// ("Host: 127.0.0.1:10587"). The gateway closes such a connection at once,
// so that a web page cannot speak SMTP to it (cross-protocol requests).
bool looks_like_http(std::string_view line);

// The argument of MAIL FROM: or RCPT TO:, e.g. "FROM:<a@b> SIZE=10".
struct PathArgument {
  std::string path;                                             // inside the angle brackets; empty for the null path <>
  std::vector<std::pair<std::string, std::string>> parameters;  // keyword upper case, value as written
};

// Parses `argument` after the keyword ("FROM" or "TO", case-insensitive).
// Throws Error(Malformed) naming what is wrong.
PathArgument parse_path_argument(std::string_view argument, std::string_view keyword);

// A reply: the code and one or more lines of text. Multi-line replies are
// written "250-..." for every line but the last (RFC 5321 section 4.2.1).
// Text made safe for an SMTP reply line: printable US-ASCII only (RFC 5321
// section 4.2, textstring), every other byte becomes '?'. Protocol safety,
// not display: a value from a message, a client or an upstream cannot end
// the line early or inject a reply of its own.
std::string smtp_reply_text(std::string_view text);

// A reply; serialize() passes every line through smtp_reply_text.
struct Reply {
  int code = 0;
  std::vector<std::string> lines;

  bool positive() const noexcept { return code >= 200 && code < 400; }
  bool transient() const noexcept { return code >= 400 && code < 500; }
  std::string text() const;  // the lines joined by spaces
  std::string serialize() const;
};

Reply reply(int code, std::string line);

// Reads a reply line by line: feed() returns true once the last line has
// been read. Throws Error(Malformed) for a line that is not a reply line, or
// whose code differs from the first line's.
class ReplyReader {
 public:
  bool feed(std::string_view line);
  Reply take() { return std::move(reply_); }

 private:
  Reply reply_;
  bool started_ = false;
};

// The message of a DATA command, line by line: undoes dot-stuffing (RFC 5321
// section 4.5.2), restores CRLF, stops at the end of data, and keeps counting
// (without storing) past the size limit so that the client can be told.
//
// The data ends only at CRLF "." CRLF (SMTP smuggling): a "." line counts
// only when it and the line before it (or the DATA command) ended with CRLF.
// A line ended by a bare LF, or holding a bare CR, marks the message as
// having a bare line ending; the gateway refuses such a message whole.
class DataReader {
 public:
  explicit DataReader(std::size_t max_size) : max_size_(max_size) {}

  // One line without its line ending; `too_long` when the connection cut it
  // at kMaxTextLine; `crlf` false when it ended with a bare LF. Returns true
  // at the end of data.
  bool feed(std::string_view line, bool too_long = false, bool crlf = true);

  bool bare_line_ending() const noexcept { return bare_line_ending_; }
  bool over_size() const noexcept { return over_size_; }
  bool line_too_long() const noexcept { return line_too_long_; }
  bool has_eight_bit() const noexcept { return eight_bit_; }
  std::string take() { return std::move(message_); }

 private:
  std::size_t max_size_;
  std::size_t size_ = 0;
  std::string message_;
  bool over_size_ = false;
  bool line_too_long_ = false;
  bool eight_bit_ = false;
  bool bare_line_ending_ = false;
  bool previous_crlf_ = true;  // the DATA command's own CRLF
};

// The message as DATA sends it: dot-stuffed, CRLF line endings, ended by
// the final "." line.
std::string dot_stuff(std::string_view message);

// xtext (RFC 3461 section 4) is not decoded: parameters are passed on as
// written, only SIZE and BODY are read.
std::optional<std::size_t> parse_size_parameter(std::string_view value);

}  // namespace mailseal::smtp
