#pragma once
// Where the key service keeps its rate limits' token buckets
// (docs/service.md, "Back ends"): in the process (limits.h's RateLimiter,
// the SQLite back end: every process on a file keeps its own) or in the
// database (PostgreSQL: every process on it takes from the same buckets).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "mailseal/common/time.h"
#include "mailseal/service/limits.h"

namespace mailseal::service {

class ServiceStore;

class Buckets {
 public:
  virtual ~Buckets() = default;
  // As RateLimiter's: how long until `cost` tokens are there (takes
  // nothing); takes `cost` tokens whatever is there; takes them only if
  // they are there (else how long to wait).
  virtual std::optional<std::chrono::seconds> wait(const std::string& key, const Rate& rate, TimePoint now,
                                                   std::uint32_t cost = 1) = 0;
  virtual void take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost = 1) = 0;
  virtual std::optional<std::chrono::seconds> admit(const std::string& key, const Rate& rate, TimePoint now,
                                                    std::uint32_t cost = 1) = 0;
};

// This process's buckets; safe to share between threads. Each kind of key
// ("lookup/", "address-mails/"...) has its own RateLimiter: a flood of keys
// of one kind, which a RateLimiter answers by refusing new keys of it until
// its least recent bucket refilled, never keeps another kind from working
// (challenge mails to many addresses must not stop lookups).
class MemoryBuckets final : public Buckets {
 public:
  std::optional<std::chrono::seconds> wait(const std::string& key, const Rate& rate, TimePoint now,
                                           std::uint32_t cost) override;
  void take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost) override;
  std::optional<std::chrono::seconds> admit(const std::string& key, const Rate& rate, TimePoint now,
                                            std::uint32_t cost) override;

 private:
  RateLimiter& limiter_for(const std::string& key);
  std::mutex mutex_;
  std::map<std::string, RateLimiter, std::less<>> limiters_;  // by the key up to its '/'
};

// The database's buckets, through one connection (a request's).
class StoredBuckets final : public Buckets {
 public:
  explicit StoredBuckets(ServiceStore& store) : store_(store) {}
  std::optional<std::chrono::seconds> wait(const std::string& key, const Rate& rate, TimePoint now,
                                           std::uint32_t cost) override;
  void take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost) override;
  std::optional<std::chrono::seconds> admit(const std::string& key, const Rate& rate, TimePoint now,
                                            std::uint32_t cost) override;

 private:
  ServiceStore& store_;
};

}  // namespace mailseal::service
