#include <mutex>

#include "mailseal/mime/mime.h"
#include "mime/internal/gmime.h"

namespace mailseal::mime::internal {

void ensure_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

}  // namespace mailseal::mime::internal

namespace mailseal::mime {

void warm_up() {
  internal::ensure_gmime();
}

}  // namespace mailseal::mime
