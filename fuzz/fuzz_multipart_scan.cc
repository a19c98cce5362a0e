// The scan of a large multipart content's part structure (issue 15,
// src/smime/multipart_scan.cc) on untrusted bytes: decrypted content whose
// start is read in memory and whose rest follows from its file when the scan
// lets it. Input: a first byte choosing where the start ends (at one of the
// content's line ends), then the content. Properties: nothing crashes, leaks
// or reads out of bounds; how the bytes arrive does not change the verdict
// or its reason; and where the scan lets the content stay, reading the start
// and appending the rest in CRLF gives what reading it whole gives, byte for
// byte, with the same notes, warnings and identity problems (or both throw).

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/smime.h"
#include "smime/internal/compose.h"
#include "smime/internal/multipart_scan.h"
#include "smime/internal/reading.h"

namespace mailseal::fuzz {

namespace {

std::string verdict(std::string_view content, std::uint64_t prefix, std::size_t step) {
  smime::internal::MultipartScan scan(prefix);
  for (std::size_t at = 0; at < content.size(); at += step)
    scan.write(as_bytes(content.substr(at, step)));
  return scan.finish() ? "stays" : scan.refusal();
}

struct NoKeys : smime::KeyProvider {
  std::span<const smime::DecryptionKey> keys() override { return {}; }
};

// Reading decrypted `content` (as read_decrypted does for a streamed
// message) and what its release writes, then `rest` in CRLF; or the error.
std::string read(std::string content, std::string_view rest) {
  static const mime::Entity top = mime::Entity::parse(
      "From: a@example.com\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\n");
  NoKeys keys;
  try {
    smime::ReadResult result = smime::internal::read_decrypted(
        top, smime::internal::Decryption{std::move(content), "AES-256-GCM", true}, keys,
        smime::Policy::standard(from_unix_seconds(1'800'000'000)));
    std::string out = std::to_string(result.layers.size()) + std::to_string(result.decrypted) +
                      std::to_string(result.signed_part_only) + std::to_string(result.encrypted_part_only) + "|";
    for (const auto* list : {&result.notes, &result.warnings, &result.identity_problems}) {
      for (const auto& line : *list)
        out += line + "\n";
      out += "|";
    }
    smime::Release release = smime::Release::of_decrypted(result, smime::BadSignature::Release,
                                                           smime::Unauthenticated::Release);
    if (!release.released())
      return out + "withheld";
    return out + release.content() + mime::to_crlf(rest);
  } catch (const Error& error) {
    return std::string("error: ") + error.what();
  }
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  if (input.empty())
    return;
  const std::string_view content = as_string_view(input.subspan(1));
  std::vector<std::size_t> line_ends;
  for (std::size_t at = content.find('\n'); at != std::string_view::npos; at = content.find('\n', at + 1))
    line_ends.push_back(at + 1);
  const std::size_t prefix = line_ends.empty() ? 0 : line_ends[input[0] % line_ends.size()];
  const std::string whole = verdict(content, prefix, content.size() + 1);
  if (verdict(content, prefix, 1 + input.size() % 7) != whole || verdict(content, prefix, 1) != whole)
    std::abort();  // how the bytes arrive must not matter
  // As read_spooled: the start read in memory holds the whole header block.
  const std::optional<std::size_t> body = smime::internal::find_body(content);
  if (whole != "stays" || !body || prefix < *body)
    return;
  const std::string streamed = read(std::string(content.substr(0, prefix)), content.substr(prefix));
  const std::string in_memory = read(std::string(content), "");
  if (streamed != in_memory) {
    std::fprintf(stderr, "streamed:  %s\nin memory: %s\n", streamed.c_str(), in_memory.c_str());
    std::abort();  // the content stayed in its file, and came out otherwise
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
