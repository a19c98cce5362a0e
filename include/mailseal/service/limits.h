#pragma once
// What the key service allows one client, one profile and one address
// (docs/service.md, "Abuse"): rate limits as token buckets with `now`
// passed in, the quotas of a publication, the rules of the join queue, and
// the connection limits of the HTTP server. Values and pure functions, so
// that the service applies them and tests check them without a clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mailseal/common/time.h"

namespace mailseal::service {

// `count` requests per `period`: a bucket of `count` tokens that refills
// `count` tokens a period (so a burst of `count`, then one every
// period / count). count 0: unlimited.
struct Rate {
  std::uint32_t count = 0;
  std::chrono::seconds period{1};
};

// What each limiter takes its tokens for (docs/service.md lists the
// defaults and why). Per client: an address, an IPv6 /64 (client_key).
struct RateLimits {
  Rate lookup{600, std::chrono::seconds(60)};        // per client: unsigned reads (lookups, pages, health)
  Rate signed_request{120, std::chrono::seconds(60)};  // per client: every other request
  Rate new_profile{20, std::chrono::hours(1)};       // per client: the first publication of a profile
  Rate client_mails{32, std::chrono::hours(1)};      // per client: challenge mails its publications cause
  Rate account{300, std::chrono::seconds(60)};       // per profile: requests about it that change something
  Rate account_mails{64, std::chrono::hours(24)};    // per profile: challenge mails
  Rate address_mails{5, std::chrono::hours(24)};     // per address: challenge mails it receives
  Rate joins{20, std::chrono::minutes(10)};          // per profile: join requests without a PIN, wrong PINs
};

// The names `--limit NAME=COUNT/PERIOD` takes, in RateLimits' order.
std::vector<std::string_view> rate_limit_names();
// Sets one limit from "NAME=COUNT/PERIOD" (PERIOD: 30s, 10m, 1h, 1d; COUNT
// 0: unlimited). Error(Usage) naming what is wrong.
void set_rate_limit(RateLimits& limits, std::string_view text);

// What one profile may keep on the service, and how its join queue works.
struct Quotas {
  std::size_t document_bytes = 1024 * 1024;  // a publication as stored (413 beyond)
  std::size_t addresses = 32;                // addresses a root names (400 beyond)
  std::size_t devices = 64;                  // devices listed (400 beyond)
  std::size_t certificates = 256;            // certificates published (400 beyond)
  std::size_t trust_records = 100000;        // trust records a profile keeps (429 beyond)
  // Join requests without a PIN waiting at once; a new one evicts the
  // oldest. Requests made with a valid PIN have their own lane (bounded by
  // the open invitations) and are never evicted by them.
  std::size_t waiting_joins = 32;
  std::chrono::seconds join_lifetime{3600};  // a request nobody decided is dropped then
  // A rejected request (by the owner, evicted or expired) is deleted with
  // its keys this long after it expired or would have (made +
  // join_lifetime): until then its device learns on sync that it was
  // rejected; afterwards the service answers 404.
  std::chrono::seconds rejected_retention{7 * 24 * 3600};
};

// Which join requests go when a new one without a PIN arrives: given the
// creation times of the waiting ones without a PIN (oldest first), how
// many of the oldest to evict so that the new one fits.
std::size_t joins_to_evict(std::size_t waiting_without_pin, const Quotas& quotas) noexcept;
// Whether a pending join request made at `created_at` has expired at `now`.
bool join_expired(TimePoint created_at, TimePoint now, const Quotas& quotas) noexcept;

// Token buckets by key, at most `capacity` of them. When full, one of the
// buckets used least recently is forgotten, but only one that refilled: a
// forgotten bucket starts full, so forgetting one that is not would hand
// its key its allowance back, and an attacker with many client addresses
// could reset anyone's limits by flooding new keys. While none of the least
// recent ones has refilled, a new key gets no bucket: wait() answers how
// long until there is room, take() records nothing. Not thread-safe: its
// owner serialises calls.
class RateLimiter {
 public:
  static constexpr std::size_t kDefaultCapacity = 100000;
  explicit RateLimiter(std::size_t capacity = kDefaultCapacity);

  // How long until `cost` tokens are in the bucket of `key` at `now`
  // (a cost above the rate's count: until the bucket is full); nullopt when
  // they are there now. Takes nothing.
  std::optional<std::chrono::seconds> wait(const std::string& key, const Rate& rate, TimePoint now,
                                           std::uint32_t cost = 1);
  // Takes `cost` tokens (check wait() first: taking more than there are
  // leaves the bucket in debt, repaid by the refill).
  void take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost = 1);
  // wait(), and take() when nothing to wait for.
  std::optional<std::chrono::seconds> admit(const std::string& key, const Rate& rate, TimePoint now,
                                            std::uint32_t cost = 1);
  std::size_t size() const noexcept { return buckets_.size(); }

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;
    TimePoint updated{};
    TimePoint full_at{};  // when the refill makes it full again
  };
  // The key's bucket refilled to `now`; nullptr when it has none and there
  // is no room for one.
  Bucket* bucket(const std::string& key, const Rate& rate, TimePoint now);
  std::list<Bucket>::iterator refilled_near_the_end(TimePoint now);
  std::chrono::seconds until_room(TimePoint now) const;
  std::size_t capacity_;
  std::list<Bucket> recent_;  // most recently used first
  std::unordered_map<std::string, std::list<Bucket>::iterator> buckets_;
};

// The HTTP server's limits against slow and greedy clients.
struct ConnectionLimits {
  unsigned workers = 8;                    // threads, each serving many connections (epoll)
  unsigned connections = 1000;             // open at once, in all
  unsigned connections_per_client = 128;   // open at once from one client address (not trusted proxies)
  std::chrono::seconds request{30};        // to send a request's header and body, and to take its answer
  std::chrono::seconds idle{10};           // without a byte either way
};

// The connections the server let in whose start has not come yet, by client
// key, each with when it was let in. The server's workers accept in
// parallel: counted only once started, two connections of one client could
// both pass its cap. A connection let in that never starts (the HTTP library
// refused it after the accept policy, out of memory) keeps its reservation
// until it lapses. Lapsed reservations of clients that do not come back are
// swept a few at each reservation, so that neither the map nor the work of
// an accept grows with the number of clients ever seen. Monotonic time is
// passed in (`now`); not thread-safe: its owner serialises calls.
class ConnectionReservations {
 public:
  using Instant = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::seconds kDefaultLapse{5};
  // Lapsed reservations (of any client) swept by one reserve(), at most.
  static constexpr std::size_t kSweptPerReservation = 8;
  explicit ConnectionReservations(std::chrono::seconds lapse = kDefaultLapse) : lapse_(lapse) {}

  // Whether a client with `open` started connections may have one more
  // under `cap`, counting its reservations that have not lapsed; if so the
  // new one is reserved.
  bool reserve(const std::string& key, unsigned open, unsigned cap, Instant now);
  // A connection of the client started: its oldest reservation goes (the
  // connection is counted as open from now on).
  void started(const std::string& key);
  // Clients holding a reservation, lapsed or not (for tests).
  std::size_t clients() const noexcept { return by_client_.size(); }

 private:
  // Drops the client's lapsed reservations, and the client when none is left.
  void drop_lapsed(const std::string& key, Instant now);
  std::chrono::seconds lapse_;
  std::unordered_map<std::string, std::deque<Instant>> by_client_;
  // Every reservation in the order made (so oldest first): what to sweep.
  // An entry whose reservation started already sweeps nothing.
  std::deque<std::pair<Instant, std::string>> made_;
};

// The client a request is from: `peer` (the TCP peer's address) unless it
// is a trusted proxy; then the rightmost address of the forwarding header's
// chain that is not a trusted proxy (the proxies append what they saw, a
// client can forge only what is left of that). `forwarded` is the value of
// X-Forwarded-For ("a, b") or of Forwarded ("for=a, for=\"[b]\"") as
// `header` says, every instance joined by commas. A malformed entry ends
// the walk at the last trusted hop.
enum class ForwardingHeader { XForwardedFor, Forwarded };
std::string client_address(const std::string& peer, std::string_view forwarded, ForwardingHeader header,
                           const std::vector<std::string>& trusted_proxies);
// The key a client's rate limits are kept under: its address, or for IPv6
// its /64 (one subscriber gets a /64 and can use any address in it).
std::string client_key(const std::string& address);
// The key the challenge mails to an address are limited under: the mailbox
// without a "+tag" (most providers deliver local+anything@ to local@, so
// the tags would otherwise each get their own allowance), case folded.
std::string recipient_key(std::string_view address);

// The address in a canonical text form (inet_ntop), or nullopt when it is
// not an IP address.
std::optional<std::string> canonical_ip(std::string_view text);

}  // namespace mailseal::service
