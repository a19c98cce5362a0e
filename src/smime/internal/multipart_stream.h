#pragma once
// The parts of a multipart/signed body read as it streams (RFC 2046 section
// 5.1.1, RFC 8551 section 3.5): the bytes between the first two boundary
// delimiters (the line break before a delimiter belongs to it) pass to a
// sink as they arrive; the signature part, small, is kept. The rules are
// mime::split_multipart's, for a body held whole.

#include <cstddef>
#include <string>
#include <string_view>

#include "mailseal/smime/io.h"

namespace mailseal::smime::internal {

// The signature part is read whole; a larger one is refused.
inline constexpr std::size_t kMaxSignaturePart = 1024 * 1024;
// A delimiter line is "--" boundary, "--" when closing, then transport
// padding; a line that could still be one is held up to this length.
inline constexpr std::size_t kMaxDelimiterLine = 64 * 1024;

struct DetachedParts {
  std::size_t parts = 0;        // parts ended by a delimiter (split_multipart's count)
  std::string signature_part;   // the second, as it stands
};

// Reads `body` up to its closing delimiter (or end): the first part's bytes
// to `first`, the second kept. Error(Malformed) for a boundary that is empty
// or over 200 characters, a signature part over kMaxSignaturePart, a
// delimiter-like line over kMaxDelimiterLine, more than mime::kMaxParts parts;
// Error(RejectedByPolicy) for a first part over `max_first` bytes (the input
// may be endless: standard input).
DetachedParts read_detached_parts(ByteSource& body, std::string_view boundary, std::uint64_t max_first,
                                  ByteSink& first);

}  // namespace mailseal::smime::internal
