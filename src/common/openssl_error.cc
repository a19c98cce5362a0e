#include <climits>

#include <fmt/format.h>
#include <openssl/err.h>

#include "common/openssl.h"

namespace mailseal::ossl {

std::string take_errors() {
  std::string out;
  unsigned long code = 0;
  const char* data = nullptr;
  int flags = 0;
  while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!out.empty()) {
      out += "; ";
    }
    // ERR_error_string gives "error:CODE:lib:func:reason"; the reason is what helps.
    std::string_view text(buffer);
    auto last_colon = text.rfind(':');
    out += last_colon == std::string_view::npos ? text : text.substr(last_colon + 1);
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      out += fmt::format(" ({})", data);
    }
  }
  return out;
}

void fail(std::string_view what, ErrorCode code) {
  std::string detail = take_errors();
  if (detail.empty()) {
    throw Error(code, std::string(what));
  }
  throw Error(code, fmt::format("{}: {}", what, detail));
}

Bio memory_reader(const void* data, std::size_t size) {
  if (size > static_cast<std::size_t>(INT_MAX)) {
    throw Error(ErrorCode::Unsupported, "input larger than 2 GiB");
  }
  return Bio(check_ptr(BIO_new_mem_buf(data, static_cast<int>(size)), "cannot allocate a memory BIO"));
}

Bio memory_writer() {
  return Bio(check_ptr(BIO_new(BIO_s_mem()), "cannot allocate a memory BIO"));
}

std::string_view memory_contents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string_view(data, static_cast<std::size_t>(size)) : std::string_view();
}

}  // namespace mailseal::ossl
