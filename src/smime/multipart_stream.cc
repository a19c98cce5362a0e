// A multipart/signed body split as it streams (see
// internal/multipart_stream.h): lines are found with memchr; a line that
// starts as a delimiter could is held until it ends or cannot be one; every
// other byte goes to the part it belongs to at once, but for the line break
// it ends with, held until the next line shows whether a delimiter takes it.

#include "smime/internal/multipart_stream.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"

namespace mailseal::smime::internal {

namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kMaxBoundary = 200;  // as mime::split_multipart

[[noreturn]] void malformed(std::string_view what) { throw Error(ErrorCode::Malformed, std::string(what)); }

bool is_padding(char c) { return c == ' ' || c == '\t' || c == '\r'; }

class Splitter {
 public:
  Splitter(std::string_view boundary, std::uint64_t max_first, ByteSink& first)
      : delimiter_("--" + std::string(boundary)), max_first_(max_first), first_(first) {}

  // False once the closing delimiter is read.
  bool feed(ByteView bytes) {
    const char* text = reinterpret_cast<const char*>(bytes.data());
    std::size_t position = 0;
    while (position < bytes.size() && !closed_) {
      const void* found = std::memchr(text + position, '\n', bytes.size() - position);
      const std::size_t end = found ? static_cast<std::size_t>(static_cast<const char*>(found) - text) + 1 : bytes.size();
      const std::string_view piece(text + position, end - position);
      position = end;
      if (candidate_)
        take_candidate(piece, found != nullptr);
      else
        write_line_bytes(as_bytes(piece), found != nullptr);
      if (found)
        candidate_ = true;  // a new line starts
    }
    return !closed_;
  }

  DetachedParts finish() {
    // The last line, without a line break: a delimiter too (split_multipart).
    if (candidate_ && !line_.empty() && !closed_) {
      if (is_delimiter(line_))
        on_delimiter();
      else
        write_line_bytes(as_bytes(line_), false);
    }
    return DetachedParts{parts_, std::move(signature_)};
  }

 private:
  // Whether `line` (without or with its line break) is or may yet be a delimiter line.
  bool may_be_delimiter(std::string_view line) const {
    const std::size_t common = std::min(line.size(), delimiter_.size());
    if (line.substr(0, common) != std::string_view(delimiter_).substr(0, common))
      return false;
    std::string_view rest = line.substr(common);
    if (!rest.empty() && rest.front() == '-') {
      if (rest.size() >= 2 && rest[1] != '-')
        return false;
      rest.remove_prefix(std::min<std::size_t>(2, rest.size()));
    }
    while (!rest.empty() && rest.back() == '\n')
      rest.remove_suffix(1);
    return std::all_of(rest.begin(), rest.end(), is_padding);
  }

  // split_multipart's test of a whole line.
  bool is_delimiter(std::string_view line) const {
    if (line.substr(0, delimiter_.size()) != delimiter_)
      return false;
    std::string_view rest = line.substr(delimiter_.size());
    if (rest.substr(0, 2) == "--")
      rest.remove_prefix(2);
    while (!rest.empty() && rest.back() == '\n')
      rest.remove_suffix(1);
    return std::all_of(rest.begin(), rest.end(), is_padding);
  }

  void take_candidate(std::string_view piece, bool line_ends) {
    line_.append(piece);
    if (!may_be_delimiter(line_)) {
      candidate_ = false;
      write_line_bytes(as_bytes(line_), line_ends);
      line_.clear();
      return;
    }
    if (line_ends) {
      if (is_delimiter(line_)) {
        on_delimiter();
      } else {
        write_line_bytes(as_bytes(line_), true);  // a line shorter than the delimiter
      }
      line_.clear();
      return;
    }
    if (line_.size() > kMaxDelimiterLine)
      malformed(fmt::format("a line of the multipart/signed part looks like its boundary for over {} bytes",
                            kMaxDelimiterLine));
  }

  void on_delimiter() {
    const bool closing = line_.size() >= delimiter_.size() + 2 && line_.compare(delimiter_.size(), 2, "--") == 0;
    if (part_ >= 0) {
      if (parts_ >= mime::kMaxParts)
        malformed("a multipart entity has too many parts");
      ++parts_;
    }
    held_.clear();  // the line break before a delimiter belongs to it
    ++part_;
    closed_ = closing;
  }

  // Bytes of the current line to the current part; the line break that ends
  // it (or a CR that may start one) held back.
  void write_line_bytes(ByteView bytes, bool line_ends) {
    if (bytes.empty())
      return;
    const std::size_t total = held_.size() + bytes.size();
    auto at = [&](std::size_t index) -> char {
      return index < held_.size() ? held_[index] : static_cast<char>(bytes[index - held_.size()]);
    };
    std::size_t hold = 0;
    if (line_ends)
      hold = total >= 2 && at(total - 2) == '\r' ? 2 : 1;
    else if (at(total - 1) == '\r')
      hold = 1;
    const std::size_t emit = total - hold;
    std::string next_held;
    for (std::size_t i = emit; i < total; ++i)
      next_held.push_back(at(i));
    const std::size_t from_held = std::min(emit, held_.size());
    emit_to_part(as_bytes(std::string_view(held_).substr(0, from_held)));
    if (emit > held_.size())
      emit_to_part(bytes.first(emit - held_.size()));
    held_ = std::move(next_held);
  }

  void emit_to_part(ByteView bytes) {
    if (bytes.empty())
      return;
    if (part_ == 0) {
      first_size_ += bytes.size();
      if (first_size_ > max_first_)
        throw Error(ErrorCode::RejectedByPolicy,
                    fmt::format("the signed part of the multipart/signed is larger than {} bytes", max_first_));
      first_.write(bytes);
    } else if (part_ == 1) {
      if (signature_.size() + bytes.size() > kMaxSignaturePart)
        malformed(fmt::format("the signature part of the multipart/signed is larger than {} bytes", kMaxSignaturePart));
      signature_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
  }

  const std::string delimiter_;
  const std::uint64_t max_first_;
  std::uint64_t first_size_ = 0;
  ByteSink& first_;
  std::string line_;     // a line that may be a delimiter, so far
  std::string held_;     // the line break held back
  bool candidate_ = true;
  bool closed_ = false;
  long part_ = -1;       // -1: the preamble
  std::size_t parts_ = 0;
  std::string signature_;
};

}  // namespace

DetachedParts read_detached_parts(ByteSource& body, std::string_view boundary, std::uint64_t max_first,
                                  ByteSink& first) {
  if (boundary.empty() || boundary.size() > kMaxBoundary)
    malformed("a multipart entity has no valid boundary");
  Splitter splitter(boundary, max_first, first);
  std::vector<std::uint8_t> buffer(kReadChunk);
  while (std::size_t n = body.read(buffer)) {
    if (!splitter.feed(ByteView(buffer.data(), n)))
      break;
  }
  return splitter.finish();
}

}  // namespace mailseal::smime::internal
