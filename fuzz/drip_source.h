#pragma once
// A byte source that hands out at most `step` bytes a read, so that a reader
// under test crosses every chunk border: the streaming readers of issue 15, in
// fuzz_cms_stream, fuzz_signed_stream and their unit tests (which include it
// from here).

#include <algorithm>
#include <cstddef>

#include "mailseal/smime/io.h"

namespace mailseal::fuzz {

class DripSource : public smime::ByteSource {
 public:
  DripSource(ByteView bytes, std::size_t step) : bytes_(bytes), step_(step) {}
  std::size_t read(std::span<std::uint8_t> buffer) override {
    std::size_t n = std::min({buffer.size(), step_, bytes_.size() - position_});
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(position_), n, buffer.begin());
    position_ += n;
    return n;
  }

 private:
  ByteView bytes_;
  std::size_t step_;
  std::size_t position_ = 0;
};

}  // namespace mailseal::fuzz
