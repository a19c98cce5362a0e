#pragma once
// GMime handles: each GObject owned by one unique_ptr releasing it with
// g_object_unref; strings GMime allocates freed with g_free.

#include <memory>

#include <gmime/gmime.h>

namespace mailseal::mime::internal {

// g_mime_init, once per process.
void ensure_gmime();

struct GObjectUnref {
  void operator()(void* object) const noexcept {
    if (object != nullptr)
      g_object_unref(object);
  }
};
template <typename T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(void* memory) const noexcept { g_free(memory); }
};
using GString = std::unique_ptr<char, GFree>;

struct GDateTimeUnref {
  void operator()(GDateTime* date) const noexcept {
    if (date != nullptr)
      g_date_time_unref(date);
  }
};
using GDateTimePtr = std::unique_ptr<GDateTime, GDateTimeUnref>;

}  // namespace mailseal::mime::internal
