#pragma once
// Whether decrypted or signed content that is a multipart may stay in its
// temporary file (docs/smime.md, "Large messages"): its part structure is
// scanned from the file in bounded memory, in the form it is released in
// (every line ending CRLF, as keep_as_released in reader.cc and the
// release's CrlfSink make it), and it stays only when reading it whole would
// take nothing out of its parts that reading its start does not: no part is
// S/MIME, message/* or otherwise judged by reading, and every part reading
// may transform (a Legacy Display Element, RFC 9788) lies within the start
// that is read in memory.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/bytes.h"

namespace mailseal::smime::internal {

class MultipartScan {
 public:
  // Nesting of multiparts (the content's own one included) and a part's
  // header block, beyond which content is read whole.
  static constexpr std::size_t kMaxNesting = 6;
  static constexpr std::size_t kMaxHeaderBlock = 256 * 1024;
  // All the parts' header blocks together: each is parsed, and content
  // whose parts are mostly header fields (found in review: 80 parts of
  // 250 KiB parameters took 3.8 s where reading whole took 0.6 s) is read
  // whole instead.
  static constexpr std::uint64_t kMaxHeaderBytes = 1024 * 1024;

  // `prefix`: how many bytes of the content (as in the file) reading takes
  // in memory; the rest follows them unchanged but for line endings.
  explicit MultipartScan(std::uint64_t prefix) : prefix_(prefix) {}

  // The content as it is in the file, in chunks of any size.
  void write(ByteView raw);
  // After the last chunk: true when the content may stay in its file.
  bool finish();

  // Why not: empty while it still may.
  const std::string& refusal() const noexcept { return refusal_; }
  // How much of the content (as in the file) the start read in memory must
  // hold: the end of the last delimiter line that ends a part holding a
  // Legacy Display Element (or a part around one); 0 when none does.
  std::uint64_t needed_prefix() const noexcept { return needed_prefix_; }

 private:
  struct Level {
    std::string delimiter;       // "--" boundary
    std::size_t parts = 0;
    bool in_part = false;        // a part has begun and not ended
    bool part_transformed = false;  // that part holds a part reading may change
  };

  void take_line_bytes(const std::uint8_t* bytes, std::size_t count);
  void end_line(std::uint64_t raw_end, bool bare_cr);
  // The level whose delimiter the current line is, or -1.
  int delimiter_level(bool& closing) const;
  void on_delimiter(std::size_t level, bool closing, std::uint64_t raw_end);
  void on_header_block();
  void refuse(std::string why);

  std::uint64_t prefix_;
  std::uint64_t needed_prefix_ = 0;
  std::string refusal_;
  std::vector<Level> levels_;
  bool in_header_ = true;     // reading an entity's header block (the content's first)
  std::string header_;        // that block so far, CRLF line endings
  std::string line_;          // the current line (without its ending), up to a cap
  std::uint64_t line_length_ = 0;
  bool tail_padding_ = true;  // the line's bytes past the cap are all transport padding
  bool after_cr_ = false;     // the last byte was a CR (its LF may follow)
  bool previous_bare_cr_ = false;
  std::uint64_t offset_ = 0;  // raw bytes seen
  bool seen_entity_ = false;  // the content's own header block has been read
  std::uint64_t header_bytes_ = 0;  // header blocks parsed so far
};

// MultipartScan over a file's bytes [0, size), read through `fd` in chunks
// (stopping at the first refusal), `prefix` the most that may be read in
// memory: nullopt when the content is to be read whole, else how much of it
// the start read in memory must hold (needed_prefix).
std::optional<std::uint64_t> multipart_spooled_prefix(int fd, std::uint64_t size, std::uint64_t prefix);

}  // namespace mailseal::smime::internal
