#include "service/internal/lookup_memo.h"

namespace mailseal::service {

namespace {

constexpr std::string_view kAddress = "address ";
constexpr std::string_view kAccount = "account ";

}  // namespace

std::optional<LookupMemo::Ticket> LookupMemo::ticket() {
  std::lock_guard lock(mutex_);
  if (!in_use_)
    return std::nullopt;
  return Ticket{changes_};
}

std::optional<std::string> LookupMemo::find(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (!in_use_)
    return std::nullopt;
  auto found = entries_.find(address);
  if (found == entries_.end())
    return std::nullopt;
  return found->second.answer;
}

bool LookupMemo::keep(const std::string& address, const std::string& account, const Ticket& ticket,
                      std::string answer) {
  std::lock_guard lock(mutex_);
  if (!in_use_ || ticket.changes != changes_)
    return false;
  forget_address(address);
  if (bytes_ + answer.size() > kMaxBytes)
    forget_all();
  bytes_ += answer.size();
  by_account_[account].insert(address);
  entries_.insert_or_assign(address, Entry{account, std::move(answer)});
  return true;
}

void LookupMemo::notified(std::string_view payload) {
  std::lock_guard lock(mutex_);
  ++changes_;
  if (payload.starts_with(kAddress)) {
    forget_address(std::string(payload.substr(kAddress.size())));
  } else if (payload.starts_with(kAccount)) {
    auto found = by_account_.find(payload.substr(kAccount.size()));
    if (found == by_account_.end())
      return;
    const std::set<std::string> addresses = std::move(found->second);
    by_account_.erase(found);
    for (const auto& address : addresses)
      forget_address(address);
  } else {
    forget_all();
  }
}

void LookupMemo::connected() {
  std::lock_guard lock(mutex_);
  ++changes_;
  forget_all();
  in_use_ = true;
}

void LookupMemo::disconnected() {
  std::lock_guard lock(mutex_);
  ++changes_;
  forget_all();
  in_use_ = false;
}

bool LookupMemo::in_use() {
  std::lock_guard lock(mutex_);
  return in_use_;
}

std::size_t LookupMemo::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::string LookupMemo::address_payload(std::string_view address) {
  return std::string(kAddress) + std::string(address);
}

std::string LookupMemo::account_payload(std::string_view fingerprint) {
  return std::string(kAccount) + std::string(fingerprint);
}

void LookupMemo::forget_address(const std::string& address) {
  auto found = entries_.find(address);
  if (found == entries_.end())
    return;
  bytes_ -= found->second.answer.size();
  if (auto owner = by_account_.find(found->second.account); owner != by_account_.end()) {
    owner->second.erase(address);
    if (owner->second.empty())
      by_account_.erase(owner);
  }
  entries_.erase(found);
}

void LookupMemo::forget_all() {
  entries_.clear();
  by_account_.clear();
  bytes_ = 0;
}

}  // namespace mailseal::service
