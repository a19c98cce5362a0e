#include "mailseal/common/time.h"

namespace mailseal {

TimePoint now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace mailseal
