#include <mutex>

#include "mime/internal/gmime.h"

namespace mailseal::mime::internal {

void ensure_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

}  // namespace mailseal::mime::internal
