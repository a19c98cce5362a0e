#include "service/internal/buckets.h"

#include "service/storage.h"

namespace mailseal::service {

RateLimiter& MemoryBuckets::limiter_for(const std::string& key) {
  const std::string_view kind = std::string_view(key).substr(0, key.find('/'));
  auto found = limiters_.find(kind);
  if (found == limiters_.end())
    found = limiters_.emplace(std::string(kind), RateLimiter()).first;
  return found->second;
}

std::optional<std::chrono::seconds> MemoryBuckets::wait(const std::string& key, const Rate& rate, TimePoint now,
                                                        std::uint32_t cost) {
  std::lock_guard lock(mutex_);
  return limiter_for(key).wait(key, rate, now, cost);
}

void MemoryBuckets::take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost) {
  std::lock_guard lock(mutex_);
  limiter_for(key).take(key, rate, now, cost);
}

std::optional<std::chrono::seconds> MemoryBuckets::admit(const std::string& key, const Rate& rate, TimePoint now,
                                                         std::uint32_t cost) {
  std::lock_guard lock(mutex_);
  return limiter_for(key).admit(key, rate, now, cost);
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
