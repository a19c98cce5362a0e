#pragma once
// An incremental reader of BER (X.690) from a byte stream, for the outer
// layers of CMS (RFC 5652): definite and indefinite lengths, constructed
// OCTET STRINGs in chunks of any size, through a buffer of bounded size, so
// that a message of any size is read in constant memory.
//
// Strict: an element that runs past its parent, a primitive element with an
// indefinite length, a reserved length octet, a tag number in the long form
// that the short form could hold, an end-of-contents where none may be, nesting
// deeper than kMaxBerNesting, and bytes after the outermost element are all
// Error(Malformed). The caller walks the structure it expects: next() reads the
// header of the next element of the current constructed one, then enter()
// steps into it, or read_primitive(), read_element() or skip() takes it whole,
// or the octets of an OCTET STRING are streamed with read_octets().

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/smime/io.h"

namespace mailseal::smime::internal {

// Deeper nesting is refused (CMS's outer layers need fewer than ten).
inline constexpr std::size_t kMaxBerNesting = 32;

// X.690 section 8.1.2.2: the class of a tag.
enum class TagClass : std::uint8_t { Universal = 0, Application = 1, Context = 2, Private = 3 };

// Universal tag numbers the CMS layers use (X.680 section 8.4).
inline constexpr std::uint32_t kTagInteger = 2;
inline constexpr std::uint32_t kTagOctetString = 4;
inline constexpr std::uint32_t kTagObjectIdentifier = 6;
inline constexpr std::uint32_t kTagSequence = 16;
inline constexpr std::uint32_t kTagSet = 17;

// The identifier and length octets of one element.
struct BerHeader {
  TagClass tag_class = TagClass::Universal;
  bool constructed = false;
  std::uint32_t tag = 0;
  std::optional<std::uint64_t> length;  // nullopt: indefinite (constructed only)
  Bytes octets;                         // the identifier and length octets as read

  bool is(TagClass wanted_class, std::uint32_t wanted_tag) const noexcept {
    return tag_class == wanted_class && tag == wanted_tag;
  }
  bool is_universal(std::uint32_t wanted_tag) const noexcept { return is(TagClass::Universal, wanted_tag); }
};

class BerReader {
 public:
  // Reads from `source`, at most `max_size` bytes in all.
  BerReader(ByteSource& source, std::uint64_t max_size);

  // The header of the next element inside the current constructed element (at
  // first: the outermost element), or nullopt at its end. The element is then
  // pending: it must be entered, read, skipped or streamed before the next.
  std::optional<BerHeader> next();
  // Steps into the pending constructed element.
  void enter();
  // Steps out of the current constructed element, which must be at its end
  // (every element in it taken): consumes an indefinite length's end-of-contents.
  void leave();
  // The contents of the pending primitive element; Error(Malformed) naming
  // `what` when it is longer than `max_size`.
  Bytes read_primitive(std::size_t max_size, std::string_view what);
  // The pending element whole, its header included, as read (BER stays BER);
  // Error(Malformed) naming `what` when longer than `max_size`.
  Bytes read_element(std::size_t max_size, std::string_view what);
  // Passes over the pending element.
  void skip();
  // Streams the contents of the pending element as an OCTET STRING: its
  // primitive contents, or for a constructed one the contents of the OCTET
  // STRINGs inside (X.690 section 8.7.3), in order. Call begin_octets() once,
  // then read_octets() until it returns 0.
  void begin_octets();
  std::size_t read_octets(std::span<std::uint8_t> buffer);
  // Requires the end of the input: nothing may follow the outermost element.
  void finish();

  std::uint64_t position() const noexcept { return position_; }
  std::size_t depth() const noexcept { return frames_.size() - 1; }

 private:
  struct Frame {
    bool indefinite = false;
    std::uint64_t end = 0;  // definite: where it ends; indefinite: the limit of its parent
  };
  bool at_end_of_frame();
  std::uint8_t read_byte(Bytes& octets);
  BerHeader read_header();
  void read_exact(std::uint8_t* out, std::size_t count);
  std::size_t read_some(std::uint8_t* out, std::size_t count);
  bool fill(std::size_t wanted);
  BerHeader take_pending();

  ByteSource& source_;
  std::uint64_t max_size_;
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool source_ended_ = false;
  std::uint64_t position_ = 0;
  std::vector<Frame> frames_;
  std::optional<BerHeader> pending_;
  // read_octets(): the depth below which the OCTET STRING ends, and what is
  // left of the primitive chunk being read.
  std::optional<std::size_t> octets_depth_;
  std::uint64_t chunk_left_ = 0;
};

}  // namespace mailseal::smime::internal
