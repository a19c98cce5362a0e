// The part structure of a large multipart content, scanned from its file
// (internal/multipart_scan.h). The scan reads lines as mime::split_multipart
// reads them in the released form (a bare CR, which that form makes a line
// break, ends a line here too), and refuses whatever reading would judge or
// transform beyond the start it reads in memory; refused content is read
// whole, as a small message is. Every rule errs towards reading whole.

#include "smime/internal/multipart_scan.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mailseal/common/error.h"
#include "mailseal/mime/legacy_display.h"
#include "mailseal/mime/mime.h"
#include "smime/internal/identity.h"

namespace mailseal::smime::internal {

namespace {

// Of a line in a body, what is kept: enough for "--", a boundary of up to
// 200 characters, "--" and some padding.
constexpr std::size_t kLineHead = 256;
constexpr std::size_t kMaxBoundary = 200;  // as mime::split_multipart
constexpr std::size_t kScanChunk = 256 * 1024;

bool is_padding(char c) { return c == ' ' || c == '\t'; }

bool starts_with(std::string_view text, std::string_view start) { return text.substr(0, start.size()) == start; }

// A part that is S/MIME or that reading would look into or take apart.
bool judged_by_reading(const mime::Entity& entity) {
  const mime::ContentType& type = entity.content_type;
  return is_pkcs7_mime(type) || is_p7m_octet_stream(entity) || type.is("application", "pkcs7-signature") ||
         type.is("application", "x-pkcs7-signature") || type.media_type == "message" ||
         type.is("multipart", "signed") || type.is("multipart", "encrypted") ||
         // its parts are message/rfc822 when they carry no Content-Type (RFC 2046 section 5.1.5)
         type.is("multipart", "digest");
}

}  // namespace

void MultipartScan::refuse(std::string why) {
  if (refusal_.empty())
    refusal_ = std::move(why);
}

void MultipartScan::write(ByteView raw) {
  const std::uint8_t* data = raw.data();
  const std::size_t size = raw.size();
  std::size_t i = 0;
  while (i < size && refusal_.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (data[i] == '\n') {
        end_line(offset_ + i + 1, false);
        ++i;
        continue;
      }
      end_line(offset_ + i, true);
      continue;
    }
    const auto* lf = static_cast<const std::uint8_t*>(std::memchr(data + i, '\n', size - i));
    const std::size_t lf_at = lf ? static_cast<std::size_t>(lf - data) : size;
    const auto* cr = static_cast<const std::uint8_t*>(std::memchr(data + i, '\r', lf_at - i));
    const std::size_t end = cr ? static_cast<std::size_t>(cr - data) : lf_at;
    take_line_bytes(data + i, end - i);
    if (end == size)
      break;
    if (data[end] == '\n') {
      end_line(offset_ + end + 1, false);
    } else {
      after_cr_ = true;
    }
    i = end + 1;
  }
  offset_ += size;
}

void MultipartScan::take_line_bytes(const std::uint8_t* bytes, std::size_t count) {
  if (count == 0)
    return;
  const std::size_t cap = in_header_ ? kMaxHeaderBlock : kLineHead;
  const std::size_t keep = line_.size() < cap ? std::min(count, cap - line_.size()) : 0;
  line_.append(reinterpret_cast<const char*>(bytes), keep);
  // Past the cap only a line that may be a delimiter needs looking at.
  if (count > keep && tail_padding_ && starts_with(line_, "--"))
    tail_padding_ = std::all_of(bytes + keep, bytes + count, [](std::uint8_t c) { return is_padding(char(c)); });
  line_length_ += count;
}

int MultipartScan::delimiter_level(bool& closing) const {
  if (!starts_with(line_, "--") || (line_length_ > line_.size() && !tail_padding_))
    return -1;
  for (std::size_t k = 0; k < levels_.size(); ++k) {
    const std::string& delimiter = levels_[k].delimiter;
    if (!starts_with(line_, delimiter))
      continue;
    std::string_view rest = std::string_view(line_).substr(delimiter.size());
    closing = starts_with(rest, "--");
    if (closing)
      rest.remove_prefix(2);
    if (std::all_of(rest.begin(), rest.end(), is_padding))
      return static_cast<int>(k);
  }
  return -1;
}

void MultipartScan::end_line(std::uint64_t raw_end, bool bare_cr) {
  bool closing = false;
  const int level = delimiter_level(closing);
  if (level >= 0) {
    if (bare_cr || previous_bare_cr_)
      refuse("a bare CR next to a boundary");
    else
      on_delimiter(static_cast<std::size_t>(level), closing, raw_end);
  } else if (in_header_) {
    if (bare_cr)
      refuse("a bare CR in a header block");
    else if (line_length_ > line_.size() || header_.size() + line_.size() + 2 > kMaxHeaderBlock)
      refuse("a header block over the limit");
    else if (line_length_ == 0)
      on_header_block();
    else
      header_.append(line_).append("\r\n");
  }
  line_.clear();
  line_length_ = 0;
  tail_padding_ = true;
  previous_bare_cr_ = bare_cr;
}

void MultipartScan::on_delimiter(std::size_t k, bool closing, std::uint64_t raw_end) {
  if (in_header_) {
    refuse("a part ends inside its header block");
    return;
  }
  if (levels_.size() > k + 1) {
    refuse("a multipart ends without its close delimiter");
    return;
  }
  Level& level = levels_[k];
  if (level.in_part && level.part_transformed) {
    if (raw_end > prefix_) {
      refuse("a part with a Legacy Display Element ends past the start read in memory");
      return;
    }
    needed_prefix_ = std::max(needed_prefix_, raw_end);
  }
  level.in_part = false;
  level.part_transformed = false;
  if (closing) {
    levels_.pop_back();
    return;
  }
  if (++level.parts > mime::kMaxParts) {
    refuse("a multipart with too many parts");
    return;
  }
  level.in_part = true;
  in_header_ = true;
}

void MultipartScan::on_header_block() {
  in_header_ = false;
  const bool top = !seen_entity_;
  seen_entity_ = true;
  mime::Entity entity;
  const std::string block = header_ + "\r\n";
  header_.clear();
  header_bytes_ += block.size();
  if (header_bytes_ > kMaxHeaderBytes) {
    refuse("the parts' header blocks are over 1 MiB in all");
    return;
  }
  try {
    entity = mime::Entity::parse(block);
  } catch (const Error&) {
    refuse("a header block that does not parse");
    return;
  }
  if (entity.headers.count("Content-Type") > 1 || entity.headers.count("Content-Transfer-Encoding") > 1) {
    refuse("two Content-Type or Content-Transfer-Encoding fields");
    return;
  }
  if (judged_by_reading(entity)) {
    refuse("a part that is S/MIME, a message or a multipart reading judges");
    return;
  }
  const mime::ContentType& type = entity.content_type;
  if (!type.is_multipart()) {
    if (top)
      refuse("not a multipart");
    if (type.parameter(mime::kLegacyDisplayParameter)) {
      for (Level& level : levels_)
        level.part_transformed = level.part_transformed || level.in_part;
    }
    return;
  }
  const std::optional<std::string> boundary = type.parameter("boundary");
  if (!boundary || boundary->empty() || boundary->size() > kMaxBoundary) {
    refuse("a multipart without a valid boundary");
    return;
  }
  if (levels_.size() >= kMaxNesting) {
    refuse("multiparts nested too deep");
    return;
  }
  const std::string delimiter = "--" + *boundary;
  for (const Level& level : levels_) {
    if (starts_with(level.delimiter, delimiter) || starts_with(delimiter, level.delimiter)) {
      refuse("a boundary that begins with another one");
      return;
    }
  }
  levels_.push_back(Level{delimiter});
}

bool MultipartScan::finish() {
  if (!refusal_.empty())
    return false;
  if (after_cr_) {
    after_cr_ = false;
    end_line(offset_, true);
  } else if (line_length_ > 0) {
    end_line(offset_, false);
  }
  if (in_header_)
    refuse("the content ends inside a header block");
  else if (!levels_.empty())
    refuse("a multipart ends without its close delimiter");
  return refusal_.empty();
}

std::optional<std::uint64_t> multipart_spooled_prefix(int fd, std::uint64_t size, std::uint64_t prefix) {
  MultipartScan scan(prefix);
  std::vector<std::uint8_t> buffer(kScanChunk);
  for (std::uint64_t offset = 0; offset < size && scan.refusal().empty();) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - offset));
    ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return std::nullopt;  // read whole, which reports the error
    scan.write(ByteView(buffer.data(), static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
  }
  if (!scan.finish())
    return std::nullopt;
  return scan.needed_prefix();
}

}  // namespace mailseal::smime::internal
