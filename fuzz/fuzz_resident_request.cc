// The resident process's request (src/resident/internal/request.h): what any
// process of the user can send to the resident socket. Properties: decoding
// never crashes and reserves nothing a count claims but the bytes cannot
// hold; a request that decodes encodes back to the same bytes; the
// command-line classifier takes any decoded command line.

#include <cstdlib>
#include <string_view>
#include <vector>

#include "fuzz.h"
#include "resident/internal/request.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  resident::Request request;
  try {
    request = resident::decode(input);
  } catch (const resident::MalformedRequest&) {
    return;
  }
  if (resident::encode(request) != std::vector<std::uint8_t>(input.begin(), input.end()))
    std::abort();
  std::vector<std::string_view> words(request.arguments.begin(), request.arguments.end());
  static_cast<void>(resident::runs_in_resident(words));
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
