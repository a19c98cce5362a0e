#include "crypto/internal/issuance_memo.h"

namespace mailseal::crypto::internal {

namespace {

// About 150 bytes an entry: well under a megabyte, and room for the chains of
// thousands of correspondents.
constexpr std::size_t kProcessMemoCapacity = 4096;

}  // namespace

IssuanceMemo::IssuanceMemo(std::size_t capacity) : capacity_(capacity) {}

bool IssuanceMemo::contains(const Issuance& issuance) const {
  std::lock_guard lock(mutex_);
  return remembered_.contains(issuance);
}

void IssuanceMemo::remember(const Issuance& issuance) {
  std::lock_guard lock(mutex_);
  if (capacity_ == 0 || !remembered_.insert(issuance).second) {
    return;
  }
  oldest_first_.push_back(issuance);
  if (oldest_first_.size() > capacity_) {
    remembered_.erase(oldest_first_.front());
    oldest_first_.pop_front();
  }
}

std::size_t IssuanceMemo::size() const {
  std::lock_guard lock(mutex_);
  return remembered_.size();
}

IssuanceMemo& verified_issuances() {
  static IssuanceMemo memo(kProcessMemoCapacity);
  return memo;
}

}  // namespace mailseal::crypto::internal
