// The incremental BER reader (X.690 section 8.1).

#include "smime/internal/ber_reader.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "mailseal/common/error.h"

namespace mailseal::smime::internal {

namespace {

constexpr std::size_t kBufferBytes = 64 * 1024;
// X.690 section 8.1.3.5: 0xFF as the first length octet is reserved.
constexpr std::uint8_t kReservedLength = 0xFF;
constexpr std::uint8_t kIndefiniteLength = 0x80;
// Tag numbers above 2^28 and lengths of more than 8 octets do not occur in CMS.
constexpr int kMaxTagOctets = 4;
constexpr std::size_t kMaxLengthOctets = 8;

[[noreturn]] void malformed(std::string_view what) {
  throw Error(ErrorCode::Malformed, fmt::format("the CMS structure is not valid BER: {}", what));
}

}  // namespace

BerReader::BerReader(ByteSource& source, std::uint64_t max_size)
    : source_(source), max_size_(max_size), buffer_(kBufferBytes) {
  frames_.push_back(Frame{false, max_size_});
}

bool BerReader::fill(std::size_t wanted) {
  while (end_ - begin_ < wanted && !source_ended_) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    std::size_t n = source_.read(std::span<std::uint8_t>(buffer_.data() + end_, buffer_.size() - end_));
    if (n == 0)
      source_ended_ = true;
    end_ += n;
  }
  return end_ - begin_ >= wanted;
}

std::size_t BerReader::read_some(std::uint8_t* out, std::size_t count) {
  if (count == 0)
    return 0;
  if (position_ + count > frames_.back().end)
    malformed("an element runs past the element that holds it, or past the size limit");
  if (begin_ == end_ && count >= buffer_.size() / 2 && !source_ended_) {
    // A large read straight into the caller's buffer: one copy fewer.
    std::size_t n = source_.read(std::span<std::uint8_t>(out, count));
    if (n == 0)
      malformed("it ends early (truncated)");
    position_ += n;
    return n;
  }
  if (!fill(1))
    malformed("it ends early (truncated)");
  std::size_t n = std::min(count, end_ - begin_);
  std::memcpy(out, buffer_.data() + begin_, n);
  begin_ += n;
  position_ += n;
  return n;
}

void BerReader::read_exact(std::uint8_t* out, std::size_t count) {
  while (count > 0) {
    std::size_t n = read_some(out, count);
    out += n;
    count -= n;
  }
}

std::uint8_t BerReader::read_byte(Bytes& octets) {
  std::uint8_t byte = 0;
  read_exact(&byte, 1);
  octets.push_back(byte);
  return byte;
}

bool BerReader::at_end_of_frame() {
  const Frame& frame = frames_.back();
  if (frames_.size() == 1)
    return !fill(1);
  if (!frame.indefinite)
    return position_ == frame.end;
  return fill(2) && buffer_[begin_] == 0 && buffer_[begin_ + 1] == 0;
}

BerHeader BerReader::read_header() {
  BerHeader header;
  std::uint8_t identifier = read_byte(header.octets);
  header.tag_class = static_cast<TagClass>(identifier >> 6);
  header.constructed = (identifier & 0x20) != 0;
  header.tag = identifier & 0x1F;
  if (header.tag == 0x1F) {
    // X.690 section 8.1.2.4: base 128, the first octet not 0x80, and only for
    // tag numbers the short form cannot hold.
    header.tag = 0;
    for (int i = 0;; ++i) {
      if (i == kMaxTagOctets)
        malformed("a tag number is too large");
      std::uint8_t octet = read_byte(header.octets);
      if (i == 0 && octet == 0x80)
        malformed("a tag number has a leading zero octet");
      header.tag = (header.tag << 7) | (octet & 0x7F);
      if ((octet & 0x80) == 0)
        break;
    }
    if (header.tag < 0x1F)
      malformed("a small tag number is written in the long form");
  }
  if (identifier == 0)
    malformed("an end-of-contents appears where no indefinite length ends");
  std::uint8_t first = read_byte(header.octets);
  if (first == kIndefiniteLength) {
    if (!header.constructed)
      malformed("a primitive element has an indefinite length");
    return header;
  }
  if (first == kReservedLength)
    malformed("a length uses the reserved octet 0xFF");
  if ((first & 0x80) == 0) {
    header.length = first;
    return header;
  }
  const std::size_t count = first & 0x7F;
  if (count > kMaxLengthOctets)
    malformed("a length has more than 8 octets");
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (length >> 55 != 0)
      malformed("a length is too large");
    length = (length << 8) | read_byte(header.octets);
  }
  header.length = length;
  return header;
}

std::optional<BerHeader> BerReader::next() {
  if (pending_ || octets_depth_)
    throw Error(ErrorCode::Internal, "the BER reader was asked for an element before it finished the last one");
  if (at_end_of_frame())
    return std::nullopt;
  BerHeader header = read_header();
  if (header.length && *header.length > frames_.back().end - position_)
    malformed("an element's length runs past the element that holds it, or past the size limit");
  pending_ = header;
  return header;
}

BerHeader BerReader::take_pending() {
  if (!pending_)
    throw Error(ErrorCode::Internal, "the BER reader has no element to read");
  BerHeader header = std::move(*pending_);
  pending_.reset();
  return header;
}

void BerReader::enter() {
  BerHeader header = take_pending();
  if (!header.constructed)
    malformed("a primitive element stands where a constructed one belongs");
  if (depth() >= kMaxBerNesting)
    malformed(fmt::format("elements nest deeper than {}", kMaxBerNesting));
  frames_.push_back(header.length ? Frame{false, position_ + *header.length} : Frame{true, frames_.back().end});
}

void BerReader::leave() {
  if (pending_ || frames_.size() < 2)
    throw Error(ErrorCode::Internal, "the BER reader left an element it had not finished");
  if (!at_end_of_frame())
    malformed("an element holds more than its definition allows");
  if (frames_.back().indefinite) {
    std::uint8_t end_of_contents[2];
    read_exact(end_of_contents, 2);
  }
  frames_.pop_back();
}

Bytes BerReader::read_primitive(std::size_t max_size, std::string_view what) {
  BerHeader header = take_pending();
  if (header.constructed)
    malformed(fmt::format("the {} is constructed where a primitive element belongs", what));
  if (*header.length > max_size)
    malformed(fmt::format("the {} is longer than {} bytes", what, max_size));
  Bytes contents(static_cast<std::size_t>(*header.length));
  read_exact(contents.data(), contents.size());
  return contents;
}

Bytes BerReader::read_element(std::size_t max_size, std::string_view what) {
  if (!pending_)
    throw Error(ErrorCode::Internal, "the BER reader has no element to read");
  Bytes element = pending_->octets;
  if (std::optional<std::uint64_t> length = pending_->length) {
    if (*length > max_size - std::min(max_size, element.size()))
      malformed(fmt::format("the {} is longer than {} bytes", what, max_size));
    take_pending();
    const std::size_t header_size = element.size();
    element.resize(header_size + static_cast<std::size_t>(*length));
    read_exact(element.data() + header_size, static_cast<std::size_t>(*length));
    return element;
  }
  enter();
  while (next()) {
    Bytes child = read_element(max_size - std::min(max_size, element.size()), what);
    if (element.size() + child.size() + 2 > max_size)
      malformed(fmt::format("the {} is longer than {} bytes", what, max_size));
    element.insert(element.end(), child.begin(), child.end());
  }
  leave();
  element.push_back(0);
  element.push_back(0);
  return element;
}

void BerReader::skip() {
  BerHeader header = take_pending();
  if (header.length) {
    std::uint8_t scratch[4096];
    for (std::uint64_t left = *header.length; left > 0;)
      left -= read_some(scratch, static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof scratch)));
    return;
  }
  pending_ = std::move(header);
  enter();
  while (next())
    skip();
  leave();
}

void BerReader::begin_octets() {
  BerHeader header = take_pending();
  octets_depth_ = depth();
  if (!header.constructed) {
    chunk_left_ = *header.length;
    return;
  }
  pending_ = std::move(header);
  enter();
  chunk_left_ = 0;
}

std::size_t BerReader::read_octets(std::span<std::uint8_t> buffer) {
  while (octets_depth_) {
    if (chunk_left_ > 0) {
      std::size_t n = read_some(buffer.data(), static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, buffer.size())));
      chunk_left_ -= n;
      return n;
    }
    if (depth() == *octets_depth_) {
      octets_depth_.reset();
      break;
    }
    // X.690 section 8.7.3.2: a constructed OCTET STRING holds OCTET STRINGs only.
    std::optional<std::size_t> outer = octets_depth_;
    octets_depth_.reset();
    std::optional<BerHeader> chunk = next();
    octets_depth_ = outer;
    if (!chunk) {
      leave();
      continue;
    }
    if (!chunk->is_universal(kTagOctetString))
      malformed("a constructed OCTET STRING holds something other than OCTET STRINGs");
    if (chunk->constructed) {
      enter();
    } else {
      take_pending();
      chunk_left_ = *chunk->length;
    }
  }
  return 0;
}

void BerReader::finish() {
  if (pending_ || octets_depth_ || frames_.size() != 1)
    throw Error(ErrorCode::Internal, "the BER reader finished inside an element");
  if (fill(1))
    malformed("bytes follow the end of the CMS structure");
}

}  // namespace mailseal::smime::internal
