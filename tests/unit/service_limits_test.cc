// The key service's limits (limits.h) with `now` passed in: the token
// buckets, their bounded memory, the join queue's rules, the --limit
// syntax, which client a forwarded request is from, and the connection
// reservations of the accept policy.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/service/limits.h"

namespace mailseal::service {
namespace {

using std::chrono::seconds;

const TimePoint kStart = from_unix_seconds(1'800'000'000);

using Instant = ConnectionReservations::Instant;
const Instant kBoot{};

TEST(ConnectionReservations, ACapIsReservationsPlusOpenConnections) {
  ConnectionReservations reservations(seconds(5));
  EXPECT_TRUE(reservations.reserve("client", 0, 2, kBoot));
  EXPECT_TRUE(reservations.reserve("client", 0, 2, kBoot));
  EXPECT_FALSE(reservations.reserve("client", 0, 2, kBoot)) << "two reserved: the cap";
  EXPECT_TRUE(reservations.reserve("other", 0, 2, kBoot)) << "clients are independent";
  // One starts: counted as open by the server from now, its reservation goes.
  reservations.started("client");
  EXPECT_FALSE(reservations.reserve("client", 1, 2, kBoot));
  EXPECT_TRUE(reservations.reserve("client", 0, 2, kBoot)) << "the open one closed";
}

TEST(ConnectionReservations, AClientWhoseReservationsLapsedIsAdmittedAgain) {
  ConnectionReservations reservations(seconds(5));
  // Three connections let in that never start (the library refused them).
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(reservations.reserve("client", 0, 3, kBoot)) << i;
  EXPECT_FALSE(reservations.reserve("client", 0, 3, kBoot + seconds(5))) << "not lapsed yet";
  EXPECT_TRUE(reservations.reserve("client", 0, 3, kBoot + seconds(6))) << "lapsed: admitted again";
  EXPECT_TRUE(reservations.reserve("client", 0, 3, kBoot + seconds(6)));
  EXPECT_TRUE(reservations.reserve("client", 0, 3, kBoot + seconds(6)));
  EXPECT_FALSE(reservations.reserve("client", 0, 3, kBoot + seconds(6))) << "the cap holds for the new ones";
}

TEST(ConnectionReservations, LapsedReservationsOfClientsThatNeverCameBackAreSwept) {
  ConnectionReservations reservations(seconds(5));
  constexpr int kGone = 100;
  for (int i = 0; i < kGone; ++i)
    ASSERT_TRUE(reservations.reserve("gone-" + std::to_string(i), 0, 4, kBoot));
  EXPECT_EQ(reservations.clients(), static_cast<std::size_t>(kGone));
  // Each later reservation sweeps a few: enough of them sweep all.
  const int enough = kGone / static_cast<int>(ConnectionReservations::kSweptPerReservation) + 1;
  for (int i = 0; i < enough; ++i) {
    ASSERT_TRUE(reservations.reserve("steady", 0, 1000, kBoot + seconds(6))) << i;
    EXPECT_LE(reservations.clients(), static_cast<std::size_t>(kGone + 1));
  }
  EXPECT_EQ(reservations.clients(), 1u) << "only the client whose reservations have not lapsed";
  // A reservation that started is not swept twice or from the wrong client.
  reservations.started("steady");
  EXPECT_EQ(reservations.clients(), 1u);
  for (int i = 0; i < enough; ++i)
    reservations.started("steady");
  EXPECT_EQ(reservations.clients(), 0u);
}

TEST(ConnectionReservations, EachReservationSweepsABoundedNumber) {
  ConnectionReservations reservations(seconds(5));
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(reservations.reserve("gone-" + std::to_string(i), 0, 4, kBoot));
  ASSERT_TRUE(reservations.reserve("steady", 0, 4, kBoot + seconds(6)));
  EXPECT_EQ(reservations.clients(), 50 - ConnectionReservations::kSweptPerReservation + 1);
}

TEST(RateLimiter, AllowsTheBurstThenRefusesWithTheWait) {
  RateLimiter limiter;
  const Rate rate{3, seconds(60)};  // three a minute: one every 20 s
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(limiter.admit("client", rate, kStart)) << i;
  auto wait = limiter.admit("client", rate, kStart);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, seconds(20));
  // Refused requests take nothing: the wait does not grow.
  EXPECT_EQ(limiter.admit("client", rate, kStart), seconds(20));
}

TEST(RateLimiter, RecoversAfterTheWait) {
  RateLimiter limiter;
  const Rate rate{3, seconds(60)};
  for (int i = 0; i < 3; ++i)
    limiter.admit("client", rate, kStart);
  EXPECT_EQ(limiter.admit("client", rate, kStart + seconds(19)), seconds(1));
  EXPECT_FALSE(limiter.admit("client", rate, kStart + seconds(20)));
  EXPECT_TRUE(limiter.admit("client", rate, kStart + seconds(20)));
  // A whole period refills the whole burst, and no more.
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(limiter.admit("client", rate, kStart + seconds(600))) << i;
  EXPECT_TRUE(limiter.admit("client", rate, kStart + seconds(600)));
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter limiter;
  const Rate rate{1, seconds(60)};
  EXPECT_FALSE(limiter.admit("a", rate, kStart));
  EXPECT_TRUE(limiter.admit("a", rate, kStart));
  EXPECT_FALSE(limiter.admit("b", rate, kStart));
}

TEST(RateLimiter, ZeroIsUnlimited) {
  RateLimiter limiter;
  for (int i = 0; i < 1000; ++i)
    ASSERT_FALSE(limiter.admit("a", Rate{0, seconds(1)}, kStart));
}

TEST(RateLimiter, AClockThatGoesBackAddsNothing) {
  RateLimiter limiter;
  const Rate rate{1, seconds(60)};
  limiter.admit("a", rate, kStart);
  EXPECT_TRUE(limiter.admit("a", rate, kStart - seconds(3600)));
  EXPECT_TRUE(limiter.admit("a", rate, kStart + seconds(59)));
  EXPECT_FALSE(limiter.admit("a", rate, kStart + seconds(60)));
}

TEST(RateLimiter, CostsMoreThanOneAndMoreThanTheBucket) {
  RateLimiter limiter;
  const Rate rate{10, seconds(100)};  // one every 10 s
  EXPECT_FALSE(limiter.wait("a", rate, kStart, 10));
  // More than the bucket holds passes when it is full, leaving it in debt.
  EXPECT_FALSE(limiter.wait("a", rate, kStart, 11));
  limiter.take("a", rate, kStart, 11);
  EXPECT_EQ(limiter.wait("a", rate, kStart, 5), seconds(60));
  EXPECT_EQ(limiter.wait("a", rate, kStart, 50), seconds(110));
  EXPECT_FALSE(limiter.wait("a", rate, kStart + seconds(110), 50));
}

// Found by an attacker's review: wrong PINs are taken without a wait(), and
// 400 of them locked a profile's joins without a PIN out for three hours.
TEST(RateLimiter, DebtIsBoundedByOneBucket) {
  RateLimiter limiter;
  const Rate rate{20, seconds(600)};
  for (int i = 0; i < 400; ++i)
    limiter.take("joins/x", rate, kStart);
  EXPECT_EQ(limiter.wait("joins/x", rate, kStart), seconds(630)) << "21 tokens to refill, one every 30 s";
  EXPECT_FALSE(limiter.wait("joins/x", rate, kStart + seconds(630)));
}

TEST(RecipientKey, SubaddressesShareTheMailboxAllowance) {
  EXPECT_EQ(recipient_key("Victim+1@Example.ORG"), "victim@example.org");
  EXPECT_EQ(recipient_key("victim+a+b@example.org"), "victim@example.org");
  EXPECT_EQ(recipient_key("victim@example.org"), "victim@example.org");
  EXPECT_EQ(recipient_key("odd@domain+tag"), "odd@domain+tag") << "a '+' after the '@' is no tag";
  EXPECT_NE(recipient_key("victim@example.org"), recipient_key("victim@example.net"));
}

TEST(RateLimiter, MemoryIsBoundedByItsCapacity) {
  RateLimiter limiter(1000);
  const Rate rate{1, seconds(3600)};
  // An attacker with 100,000 source addresses.
  for (int i = 0; i < 100000; ++i)
    limiter.admit("client-" + std::to_string(i), rate, kStart);
  EXPECT_EQ(limiter.size(), 1000u);
}

TEST(RateLimiter, TheBucketUsedLeastRecentlyIsForgottenOnceItRefilled) {
  RateLimiter limiter(2);
  const Rate rate{1, seconds(10)};
  limiter.admit("busy", rate, kStart);
  limiter.admit("old", rate, kStart);
  limiter.admit("busy", rate, kStart + seconds(1));  // refused, but used: it stays
  // "old" is the least recent, but still refilling: forgetting it would give
  // its key a full bucket back, so the new key waits for room instead.
  EXPECT_EQ(limiter.admit("new", rate, kStart + seconds(2)), seconds(8));
  EXPECT_EQ(limiter.size(), 2u);
  EXPECT_EQ(limiter.admit("old", rate, kStart + seconds(3)), seconds(7)) << "not reset";
  // Once the least recent one ("busy" now) refilled, it gives way.
  EXPECT_FALSE(limiter.admit("new", rate, kStart + seconds(11)));
  EXPECT_EQ(limiter.size(), 2u);
}

// Found by an attacker's review: 100,000 fresh keys (a block of IPv6 /64s)
// pushed every real bucket out, and the victim's bucket came back full.
TEST(RateLimiter, AFloodOfNewKeysResetsNobody) {
  RateLimiter limiter(1000);
  const Rate per_day{3, seconds(86400)};
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(limiter.admit("address-mails/victim@example.org", per_day, kStart));
  const Rate flood{600, seconds(60)};
  for (int i = 0; i < 100000; ++i)
    limiter.admit("client-" + std::to_string(i), flood, kStart + seconds(1));
  EXPECT_TRUE(limiter.admit("address-mails/victim@example.org", per_day, kStart + seconds(2)))
      << "the victim's bucket is still empty";
  // And the victim's slowly refilling bucket, least recent of all, does not
  // keep the flood's refilled buckets from giving way to a new client.
  EXPECT_FALSE(limiter.admit("client-new", flood, kStart + seconds(3)));
}

TEST(RateLimits, ParsesNameCountPeriod) {
  RateLimits limits;
  set_rate_limit(limits, "lookup=5/1m");
  EXPECT_EQ(limits.lookup.count, 5u);
  EXPECT_EQ(limits.lookup.period, seconds(60));
  set_rate_limit(limits, "address-mails=3/1d");
  EXPECT_EQ(limits.address_mails.period, seconds(86400));
  set_rate_limit(limits, "joins=0/30s");
  EXPECT_EQ(limits.joins.count, 0u);
  set_rate_limit(limits, "signed=7/45");
  EXPECT_EQ(limits.signed_request.period, seconds(45));
  for (const char* bad : {"lookup", "lookup=5", "nothing=5/1m", "lookup=-1/1m", "lookup=5/0s", "lookup=5/1y",
                          "lookup=x/1m", "lookup=5/1000d", "lookup=2000000/1m"}) {
    EXPECT_THROW(set_rate_limit(limits, bad), Error) << bad;
  }
  EXPECT_EQ(rate_limit_names().size(), 8u);
}

TEST(JoinQueue, TheOldestRequestsWithoutAPinGoWhenTheLaneIsFull) {
  Quotas quotas;
  quotas.waiting_joins = 32;
  EXPECT_EQ(joins_to_evict(0, quotas), 0u);
  EXPECT_EQ(joins_to_evict(31, quotas), 0u);
  EXPECT_EQ(joins_to_evict(32, quotas), 1u);
  EXPECT_EQ(joins_to_evict(100, quotas), 69u);  // a queue filled under an older, larger cap
}

TEST(JoinQueue, RequestsExpireAfterTheirLifetime) {
  Quotas quotas;  // an hour by default
  EXPECT_EQ(quotas.join_lifetime, seconds(3600));
  EXPECT_FALSE(join_expired(kStart, kStart + seconds(3599), quotas));
  EXPECT_TRUE(join_expired(kStart, kStart + seconds(3600), quotas));
}

TEST(ClientAddress, AnUntrustedPeerIsTheClientWhateverItForwards) {
  const std::vector<std::string> proxies = {"10.0.0.1"};
  EXPECT_EQ(client_address("192.0.2.7", "203.0.113.9", ForwardingHeader::XForwardedFor, proxies), "192.0.2.7");
  EXPECT_EQ(client_address("192.0.2.7", "for=203.0.113.9", ForwardingHeader::Forwarded, proxies), "192.0.2.7");
  EXPECT_EQ(client_address("192.0.2.7", "", ForwardingHeader::XForwardedFor, {}), "192.0.2.7");
}

TEST(ClientAddress, ATrustedProxyNamesTheRightmostUntrustedHop) {
  const std::vector<std::string> proxies = {"10.0.0.1", "10.0.0.2"};
  // The client forged "1.1.1.1"; the proxy appended what it saw.
  EXPECT_EQ(client_address("10.0.0.1", "1.1.1.1, 198.51.100.4", ForwardingHeader::XForwardedFor, proxies),
            "198.51.100.4");
  // Two proxies in a row.
  EXPECT_EQ(client_address("10.0.0.1", "1.1.1.1, 198.51.100.4, 10.0.0.2", ForwardingHeader::XForwardedFor, proxies),
            "198.51.100.4");
  EXPECT_EQ(client_address("10.0.0.1", "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https",
                           ForwardingHeader::Forwarded, proxies),
            "2001:db8::7");
  EXPECT_EQ(client_address("10.0.0.1", "for=192.0.2.60:8080;by=10.0.0.1", ForwardingHeader::Forwarded, proxies),
            "192.0.2.60");
  // A port after the address, as some proxies write X-Forwarded-For.
  EXPECT_EQ(client_address("10.0.0.1", "198.51.100.4:1111", ForwardingHeader::XForwardedFor, proxies), "198.51.100.4");
  EXPECT_EQ(client_address("10.0.0.1", "[2001:db8::7]:4711", ForwardingHeader::XForwardedFor, proxies), "2001:db8::7");
  // Nothing forwarded: the proxy's own request.
  EXPECT_EQ(client_address("10.0.0.1", "", ForwardingHeader::XForwardedFor, proxies), "10.0.0.1");
  // What the proxy wrote that is no address (RFC 7239's obfuscated
  // identifiers, "unknown", garbage) keys its clients apart, never as the
  // proxy itself, which all of them would then share.
  EXPECT_EQ(client_address("10.0.0.1", "1.1.1.1, not-an-address", ForwardingHeader::XForwardedFor, proxies),
            "hop:not-an-address");
  EXPECT_EQ(client_address("10.0.0.1", "for=_hidden1", ForwardingHeader::Forwarded, proxies), "hop:for=_hidden1");
  EXPECT_NE(client_address("10.0.0.1", "for=_hidden2", ForwardingHeader::Forwarded, proxies),
            client_address("10.0.0.1", "for=_hidden1", ForwardingHeader::Forwarded, proxies));
  EXPECT_EQ(client_address("10.0.0.1", "for=unknown", ForwardingHeader::Forwarded, proxies), "hop:for=unknown");
  EXPECT_EQ(client_address("10.0.0.1", std::string(200, 'x'), ForwardingHeader::XForwardedFor, proxies).size(), 68u)
      << "bounded";
}

TEST(ClientAddress, IPv6ClientsAreLimitedByTheirSlash64) {
  EXPECT_EQ(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(canonical_ip("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(canonical_ip("[2001:DB8::1]"), "2001:db8::1");
  EXPECT_EQ(canonical_ip("example.org"), std::nullopt);
}

}  // namespace
}  // namespace mailseal::service
