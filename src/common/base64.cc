#include "mailseal/common/base64.h"

#include <climits>

#include <openssl/evp.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"

namespace mailseal {

std::string encode_base64(ByteView data) {
  if (data.size() > static_cast<std::size_t>(INT_MAX / 4 * 3 - 3)) {
    throw Error(ErrorCode::Usage, "too much data to encode at once");
  }
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

Bytes decode_base64(std::string_view text) {
  ossl::EncodeCtx context(ossl::check_ptr(EVP_ENCODE_CTX_new(), "cannot allocate a base64 context"));
  EVP_DecodeInit(context.get());
  // EVP_DecodeUpdate skips white space and line breaks itself. Chunks keep
  // each call within int range.
  static constexpr std::size_t kChunk = 1 << 26;
  Bytes out(text.size() / 4 * 3 + 3 + 64);
  int total = 0;
  int length = 0;
  for (std::size_t offset = 0; offset < text.size(); offset += kChunk) {
    std::size_t size = std::min(kChunk, text.size() - offset);
    if (EVP_DecodeUpdate(context.get(), out.data() + total, &length,
                         reinterpret_cast<const unsigned char*>(text.data() + offset), static_cast<int>(size)) < 0) {
      ossl::take_errors();
      throw Error(ErrorCode::Malformed, "invalid base64 content");
    }
    total += length;
  }
  if (EVP_DecodeFinal(context.get(), out.data() + total, &length) < 0) {
    ossl::take_errors();
    throw Error(ErrorCode::Malformed, "invalid base64 content (truncated?)");
  }
  total += length;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

}  // namespace mailseal
