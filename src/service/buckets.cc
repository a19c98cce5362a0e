#include "service/internal/buckets.h"

#include "service/storage.h"

namespace mailseal::service {

std::optional<std::chrono::seconds> MemoryBuckets::wait(const std::string& key, const Rate& rate, TimePoint now,
                                                        std::uint32_t cost) {
  std::lock_guard lock(mutex_);
  return limiter_.wait(key, rate, now, cost);
}

void MemoryBuckets::take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost) {
  std::lock_guard lock(mutex_);
  limiter_.take(key, rate, now, cost);
}

std::optional<std::chrono::seconds> MemoryBuckets::admit(const std::string& key, const Rate& rate, TimePoint now,
                                                         std::uint32_t cost) {
  std::lock_guard lock(mutex_);
  return limiter_.admit(key, rate, now, cost);
}

std::optional<std::chrono::seconds> StoredBuckets::wait(const std::string& key, const Rate& rate, TimePoint now,
                                                        std::uint32_t cost) {
  return store_.tokens_wait(key, rate, now, cost);
}

void StoredBuckets::take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost) {
  store_.take_tokens(key, rate, now, cost, true);
}

std::optional<std::chrono::seconds> StoredBuckets::admit(const std::string& key, const Rate& rate, TimePoint now,
                                                         std::uint32_t cost) {
  return store_.take_tokens(key, rate, now, cost, false);
}

}  // namespace mailseal::service
