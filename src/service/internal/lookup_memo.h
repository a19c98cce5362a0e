#pragma once
// Lookups answered without the database (docs/service.md, "Back ends",
// "Lookups from memory"): each process keeps the answers of
// GET /v1/addresses/ADDRESS it rendered, by address, and forgets them when
// PostgreSQL tells it (LISTEN/NOTIFY, lookup_listener.h) that a transaction
// changed what the address or its profile answers. The memo is used only
// while the listener is connected: an answer is kept only if no
// invalidation and no loss of the listener happened between the moment its
// lookup began (`ticket`) and the moment it is kept, so an answer read
// before a change is never kept after that change's notification was
// processed. Thread-safe; no clock: a lookup's answer does not depend on the
// time (claims.h: served_claim takes no `now`, pending claims are never
// served, certificates are served as published).

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace mailseal::service {

class LookupMemo {
 public:
  // Beyond this many bytes of answers the memo is emptied (as RenderedProfiles).
  static constexpr std::size_t kMaxBytes = 64 * 1024 * 1024;

  // Taken before a lookup reads the database; nullopt while the memo is
  // not in use (the listener is not connected).
  struct Ticket {
    std::uint64_t changes = 0;  // invalidations and connections seen so far
  };
  std::optional<Ticket> ticket();

  // The answer kept for the address (as EmailAddress::str()), if the memo
  // is in use.
  std::optional<std::string> find(const std::string& address);
  // Keeps the answer that a lookup which took `ticket` rendered for the
  // address, served from profile `account`; dropped (false) when anything
  // was invalidated, or the listener was lost, since the ticket.
  bool keep(const std::string& address, const std::string& account, const Ticket& ticket, std::string answer);

  // What the listener reports: a notification's payload
  // ("address ADDRESS" or "account FINGERPRINT"; anything else forgets
  // everything), the listener (re)connected and listening, or lost.
  void notified(std::string_view payload);
  void connected();
  void disconnected();

  bool in_use();
  std::size_t size();

  // The payloads that storage.cc sends, in one place.
  static std::string address_payload(std::string_view address);
  static std::string account_payload(std::string_view fingerprint);

 private:
  void forget_address(const std::string& address);  // mutex_ held
  void forget_all();                                 // mutex_ held

  struct Entry {
    std::string account;
    std::string answer;
  };
  std::mutex mutex_;
  bool in_use_ = false;
  std::uint64_t changes_ = 0;
  std::map<std::string, Entry, std::less<>> entries_;                 // by address
  std::map<std::string, std::set<std::string>, std::less<>> by_account_;  // account -> its addresses kept
  std::size_t bytes_ = 0;
};

}  // namespace mailseal::service
