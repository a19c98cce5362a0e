#include "mailseal/service/limits.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"

namespace mailseal::service {

namespace {

struct NamedRate {
  std::string_view name;
  Rate RateLimits::*member;
};

constexpr std::array<NamedRate, 8> kNamedRates = {{
    {"lookup", &RateLimits::lookup},
    {"signed", &RateLimits::signed_request},
    {"new-profile", &RateLimits::new_profile},
    {"client-mails", &RateLimits::client_mails},
    {"account", &RateLimits::account},
    {"account-mails", &RateLimits::account_mails},
    {"address-mails", &RateLimits::address_mails},
    {"joins", &RateLimits::joins},
}};

std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty())
    return std::nullopt;
  return value;
}

// "30s", "10m", "1h", "1d"; a bare number is seconds.
std::optional<std::chrono::seconds> period_of(std::string_view text) {
  std::uint64_t unit = 1;
  if (!text.empty() && std::string_view("smhd").find(text.back()) != std::string_view::npos) {
    constexpr std::array<std::uint64_t, 4> kUnits = {1, 60, 3600, 86400};
    unit = kUnits[std::string_view("smhd").find(text.back())];
    text.remove_suffix(1);
  }
  auto value = number(text);
  if (!value || *value == 0 || *value > 366 * 86400 / unit)
    return std::nullopt;
  return std::chrono::seconds(static_cast<std::int64_t>(*value * unit));
}

}  // namespace

std::vector<std::string_view> rate_limit_names() {
  std::vector<std::string_view> out;
  for (const auto& named : kNamedRates)
    out.push_back(named.name);
  return out;
}

void set_rate_limit(RateLimits& limits, std::string_view text) {
  const auto equals = text.find('=');
  const auto slash = text.find('/', equals == std::string_view::npos ? 0 : equals);
  if (equals == std::string_view::npos || slash == std::string_view::npos)
    throw Error(ErrorCode::Usage, fmt::format("--limit '{}' is not NAME=COUNT/PERIOD", text),
                "for example --limit lookup=600/1m (PERIOD: 30s, 10m, 1h, 1d; COUNT 0: unlimited)");
  const std::string_view name = text.substr(0, equals);
  auto named = std::find_if(kNamedRates.begin(), kNamedRates.end(), [&](const NamedRate& n) { return n.name == name; });
  if (named == kNamedRates.end())
    throw Error(ErrorCode::Usage, fmt::format("--limit: no limit is named '{}'", name),
                fmt::format("the limits: {}", fmt::join(rate_limit_names(), ", ")));
  auto count = number(text.substr(equals + 1, slash - equals - 1));
  auto period = period_of(text.substr(slash + 1));
  if (!count || *count > 1000000 || !period)
    throw Error(ErrorCode::Usage,
                fmt::format("--limit '{}': COUNT is 0 to 1000000 and PERIOD 1s to 366d (30s, 10m, 1h, 1d)", text));
  limits.*(named->member) = Rate{static_cast<std::uint32_t>(*count), *period};
}

std::size_t joins_to_evict(std::size_t waiting_without_pin, const Quotas& quotas) noexcept {
  const std::size_t room = std::max<std::size_t>(quotas.waiting_joins, 1);
  return waiting_without_pin + 1 > room ? waiting_without_pin + 1 - room : 0;
}

bool join_expired(TimePoint created_at, TimePoint now, const Quotas& quotas) noexcept {
  return now >= created_at + quotas.join_lifetime;
}

void ConnectionReservations::drop_lapsed(const std::string& key, Instant now) {
  auto found = by_client_.find(key);
  if (found == by_client_.end())
    return;
  std::deque<Instant>& reserved = found->second;
  while (!reserved.empty() && now - reserved.front() > lapse_)
    reserved.pop_front();
  if (reserved.empty())
    by_client_.erase(found);
}

bool ConnectionReservations::reserve(const std::string& key, unsigned open, unsigned cap, Instant now) {
  for (std::size_t swept = 0; swept < kSweptPerReservation && !made_.empty() && now - made_.front().first > lapse_;
       ++swept) {
    drop_lapsed(made_.front().second, now);
    made_.pop_front();
  }
  drop_lapsed(key, now);
  auto found = by_client_.find(key);
  const std::size_t reserved = found == by_client_.end() ? 0 : found->second.size();
  if (open + reserved >= cap)
    return false;
  by_client_[key].push_back(now);
  made_.emplace_back(now, key);
  return true;
}

void ConnectionReservations::started(const std::string& key) {
  auto found = by_client_.find(key);
  if (found == by_client_.end())
    return;
  found->second.pop_front();
  if (found->second.empty())
    by_client_.erase(found);
}

RateLimiter::RateLimiter(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

namespace {

std::chrono::seconds whole_seconds_at_least_one(double seconds) {
  return std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(seconds - 1e-9))));
}

// When a bucket holding `tokens` at `at` is full again.
TimePoint full_again(double tokens, const Rate& rate, TimePoint at) {
  const double missing = std::max(0.0, static_cast<double>(rate.count) - tokens);
  const double seconds = missing * static_cast<double>(rate.period.count()) / rate.count;
  return at + std::chrono::ceil<std::chrono::seconds>(std::chrono::duration<double>(seconds));
}

}  // namespace

// One of the least recently used buckets that has refilled (it can be
// forgotten: it would start full anyway). Only the last kScanned are
// looked at, so that one bucket that refills slowly (a day's allowance)
// does not keep the others from giving way.
std::list<RateLimiter::Bucket>::iterator RateLimiter::refilled_near_the_end(TimePoint now) {
  constexpr std::size_t kScanned = 64;
  auto at = recent_.end();
  for (std::size_t scanned = 0; scanned < kScanned && at != recent_.begin(); ++scanned) {
    --at;
    if (at->full_at <= now)
      return at;
  }
  return recent_.end();
}

// How long until refilled_near_the_end finds one.
std::chrono::seconds RateLimiter::until_room(TimePoint now) const {
  constexpr std::size_t kScanned = 64;
  TimePoint soonest = TimePoint::max();
  std::size_t scanned = 0;
  for (auto at = recent_.rbegin(); at != recent_.rend() && scanned < kScanned; ++at, ++scanned)
    soonest = std::min(soonest, at->full_at);
  return whole_seconds_at_least_one(std::chrono::duration<double>(soonest - now).count());
}

RateLimiter::Bucket* RateLimiter::bucket(const std::string& key, const Rate& rate, TimePoint now) {
  auto found = buckets_.find(key);
  if (found == buckets_.end()) {
    if (buckets_.size() >= capacity_) {
      auto refilled = refilled_near_the_end(now);
      if (refilled == recent_.end())
        return nullptr;
      buckets_.erase(refilled->key);
      recent_.erase(refilled);
    }
    recent_.push_front({key, static_cast<double>(rate.count), now, now});
    found = buckets_.emplace(key, recent_.begin()).first;
  } else {
    recent_.splice(recent_.begin(), recent_, found->second);
  }
  Bucket& bucket = *found->second;
  // A clock that went back adds nothing (and takes nothing away).
  if (now > bucket.updated) {
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    const double refill = elapsed * rate.count / static_cast<double>(rate.period.count());
    bucket.tokens = std::min<double>(rate.count, bucket.tokens + refill);
    bucket.updated = now;
  }
  return &bucket;
}

std::optional<std::chrono::seconds> RateLimiter::wait(const std::string& key, const Rate& rate, TimePoint now,
                                                      std::uint32_t cost) {
  if (rate.count == 0 || cost == 0)
    return std::nullopt;
  const Bucket* found = bucket(key, rate, now);
  if (found == nullptr)  // no room yet
    return until_room(now);
  // A cost above what the bucket holds passes when the bucket is full, and
  // leaves it in debt for the rest.
  const double needed = std::min<double>(cost, rate.count);
  if (found->tokens >= needed)
    return std::nullopt;
  // The time the missing tokens take, rounded up to whole seconds.
  const double missing = needed - found->tokens;
  return whole_seconds_at_least_one(missing * static_cast<double>(rate.period.count()) / rate.count);
}

void RateLimiter::take(const std::string& key, const Rate& rate, TimePoint now, std::uint32_t cost) {
  if (rate.count == 0)
    return;
  Bucket* found = bucket(key, rate, now);
  if (found == nullptr)
    return;  // no room: wait() refused it, or the caller counts a refusal
  // The debt is bounded: requests refused for other reasons but still
  // counted (wrong PINs) can hold a bucket empty for a period, not for as
  // long as the attacker keeps sending.
  found->tokens = std::max(found->tokens - cost, -static_cast<double>(rate.count));
  found->full_at = full_again(found->tokens, rate, now);
}

std::optional<std::chrono::seconds> RateLimiter::admit(const std::string& key, const Rate& rate, TimePoint now,
                                                       std::uint32_t cost) {
  auto waiting = wait(key, rate, now, cost);
  if (!waiting)
    take(key, rate, now, cost);
  return waiting;
}

std::optional<std::string> canonical_ip(std::string_view text) {
  std::string address(text);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1 && inet_ntop(AF_INET, &v4, out, sizeof out))
    return std::string(out);
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    // An IPv4 client seen through an IPv6 socket is that IPv4 address.
    if (IN6_IS_ADDR_V4MAPPED(&v6) && inet_ntop(AF_INET, &v6.s6_addr[12], out, sizeof out))
      return std::string(out);
    if (inet_ntop(AF_INET6, &v6, out, sizeof out))
      return std::string(out);
  }
  return std::nullopt;
}

std::string client_key(const std::string& address) {
  in6_addr v6{};
  if (address.find(':') == std::string::npos || inet_pton(AF_INET6, address.c_str(), &v6) != 1)
    return address;
  std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), 0);
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &v6, out, sizeof out);
  return std::string(out) + "/64";
}

std::string recipient_key(std::string_view address) {
  const std::string folded = ascii_lower(address);
  const std::size_t at = folded.rfind('@');
  if (at == std::string::npos)
    return folded;
  const std::size_t plus = folded.find('+');
  if (plus == std::string::npos || plus > at)
    return folded;
  return folded.substr(0, plus) + folded.substr(at);
}

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// The address of one hop: X-Forwarded-For's "a" or "[a]", or Forwarded's
// element "for=a;proto=https" (RFC 7239 section 4; the value maybe quoted,
// IPv6 in brackets, a port after it).
std::optional<std::string> hop_address(std::string_view entry, ForwardingHeader header) {
  entry = trim(entry);
  if (header == ForwardingHeader::Forwarded) {
    std::optional<std::string_view> found;
    while (!entry.empty()) {
      const auto semicolon = entry.find(';');
      std::string_view pair = trim(entry.substr(0, semicolon));
      if (pair.size() > 4 && (pair.substr(0, 4) == "for=" || pair.substr(0, 4) == "For=" || pair.substr(0, 4) == "FOR="))
        found = pair.substr(4);
      entry = semicolon == std::string_view::npos ? std::string_view() : entry.substr(semicolon + 1);
    }
    if (!found)
      return std::nullopt;
    entry = *found;
    if (entry.size() >= 2 && entry.front() == '"' && entry.back() == '"')
      entry = entry.substr(1, entry.size() - 2);
  }
  // Both headers: a port after the address, as some proxies write it
  // ("192.0.2.1:4711", "[2001:db8::1]:4711").
  if (entry.starts_with('[')) {
    entry = entry.substr(0, entry.find(']') + 1);
  } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
    entry = entry.substr(0, entry.find(':'));
  }
  return canonical_ip(entry);
}

// What a trusted proxy wrote where an address should be, when it is none:
// RFC 7239's "unknown" or an obfuscated identifier ("_hidden1"). The proxy
// tells its clients apart by it, so they are limited apart too, never as the
// proxy itself. Bounded, and marked so it cannot pass for an address.
std::string opaque_hop(std::string_view entry) {
  std::string out = "hop:";
  for (char c : trim(entry).substr(0, 64))
    out.push_back(c > ' ' && c < 0x7f ? c : '?');
  return out;
}

}  // namespace

std::string client_address(const std::string& peer, std::string_view forwarded, ForwardingHeader header,
                           const std::vector<std::string>& trusted_proxies) {
  auto trusted = [&](const std::string& address) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), address) != trusted_proxies.end();
  };
  std::string client = canonical_ip(peer).value_or(peer);
  while (trusted(client) && !trim(forwarded).empty()) {
    const auto comma = forwarded.rfind(',');
    const std::string_view entry = comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
    forwarded = comma == std::string_view::npos ? std::string_view() : forwarded.substr(0, comma);
    auto address = hop_address(entry, header);
    if (!address)
      return opaque_hop(entry);
    client = *address;
  }
  return client;
}

}  // namespace mailseal::service
