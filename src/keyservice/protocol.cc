#include "mailseal/keyservice/protocol.h"

#include <fmt/format.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/udf/udf.h"

namespace mailseal::keyservice {

namespace {

constexpr std::string_view kLabel = "mailseal-request-1";
constexpr std::size_t kNonceBytes = 16;
constexpr std::size_t kMaxHeaderBytes = 4096;

Error malformed(std::string_view what) {
  return Error(ErrorCode::Malformed, fmt::format("bad Authorization header: {}", what));
}

}  // namespace

std::string signing_input(std::string_view method, std::string_view target, TimePoint time, std::string_view nonce,
                          ByteView body) {
  Bytes digest = udf::typed_content_digest(udf::DigestAlgorithm::Sha2_512, "application/octet-stream", body);
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", kLabel, method, target, to_unix_seconds(time), nonce, to_hex(digest));
}

std::string authorize(const crypto::PrivateKey& key, std::string_view key_id, std::string_view method,
                      std::string_view target, ByteView body, TimePoint now) {
  std::string nonce = to_hex(crypto::random_bytes(kNonceBytes));
  Bytes signature = key.sign(as_bytes(signing_input(method, target, now, nonce, body)));
  return fmt::format(R"({} key="{}", time="{}", nonce="{}", signature="{}")", kAuthorizationScheme, key_id,
                     to_unix_seconds(now), nonce, encode_base64(signature));
}

RequestAuthorization parse_authorization(std::string_view header) {
  if (header.size() > kMaxHeaderBytes)
    throw malformed("too long");
  if (!header.starts_with(kAuthorizationScheme) || header.size() <= kAuthorizationScheme.size() ||
      header[kAuthorizationScheme.size()] != ' ') {
    throw malformed(fmt::format("the scheme must be {}", kAuthorizationScheme));
  }
  std::string_view rest = header.substr(kAuthorizationScheme.size() + 1);
  RequestAuthorization out;
  bool have_key = false, have_time = false, have_nonce = false, have_signature = false;
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ','))
      rest.remove_prefix(1);
    if (rest.empty())
      break;
    auto equals = rest.find("=\"");
    if (equals == std::string_view::npos)
      throw malformed("parameters are name=\"value\"");
    std::string_view name = rest.substr(0, equals);
    rest.remove_prefix(equals + 2);
    auto quote = rest.find('"');
    if (quote == std::string_view::npos)
      throw malformed("an unterminated value");
    std::string_view value = rest.substr(0, quote);
    rest.remove_prefix(quote + 1);
    if (name == "key" && !have_key) {
      out.key = std::string(value);
      have_key = !value.empty();
    } else if (name == "time" && !have_time) {
      if (value.empty() || value.size() > 12 || value.find_first_not_of("0123456789") != std::string_view::npos)
        throw malformed("time is Unix seconds");
      out.time = from_unix_seconds(std::stoll(std::string(value)));
      have_time = true;
    } else if (name == "nonce" && !have_nonce) {
      if (value.size() != 2 * kNonceBytes || value.find_first_not_of("0123456789abcdef") != std::string_view::npos)
        throw malformed("nonce is 32 lower-case hex digits");
      out.nonce = std::string(value);
      have_nonce = true;
    } else if (name == "signature" && !have_signature) {
      out.signature = decode_base64(value);
      have_signature = !out.signature.empty();
    } else {
      throw malformed(fmt::format("unknown or repeated parameter '{}'", name));
    }
  }
  if (!(have_key && have_time && have_nonce && have_signature))
    throw malformed("key, time, nonce and signature are all needed");
  return out;
}

bool verify_authorization(const crypto::PublicKey& key, const RequestAuthorization& authorization,
                          std::string_view method, std::string_view target, ByteView body) {
  return key.verify(as_bytes(signing_input(method, target, authorization.time, authorization.nonce, body)),
                    authorization.signature);
}

}  // namespace mailseal::keyservice
