#pragma once
// Who an address belongs to on a key service (docs/service.md, "Verified
// addresses"): the rules over the claims profiles make to an address, as
// pure functions of the claims and `now`, so that the service applies them
// and tests can check them without a database or a clock.
//
// A profile claims every address its root names when it publishes. On a
// service that verifies addresses the claim stays *pending* (not served,
// blocking nobody; several profiles may have one for the same address)
// until the challenge mailed to the address is answered; the first claim
// verified is served and every other claim to the address is dropped. A
// pending claim whose challenge was never answered expires.

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"

namespace mailseal::service {

// How long a pending claim lasts (from its newest challenge), and how long
// the link in a challenge mail works. The defaults: a day to open the mail,
// a second day before the claim is forgotten.
inline constexpr std::chrono::seconds kDefaultClaimLifetime{48 * 3600};
inline constexpr std::chrono::seconds kDefaultTokenLifetime{24 * 3600};

struct ClaimLifetimes {
  std::chrono::seconds claim = kDefaultClaimLifetime;
  std::chrono::seconds token = kDefaultTokenLifetime;
};

// Whether the service proves that a publisher receives mail at an address
// before serving it (`serve --smtp`), or lists whoever publishes first
// (`serve --unverified`, the behaviour before verification existed).
enum class Verification { Mail, None };

enum class ClaimState {
  Pending,   // a challenge was mailed; not served
  Verified,  // the challenge was answered: the link in it, or a signed confirmation
  Listed,    // served without proof: published to an unverified service (or before verification existed)
};
std::string_view to_string(ClaimState state) noexcept;
std::optional<ClaimState> claim_state_from(std::string_view text) noexcept;

struct Claim {
  std::string address;  // normalised, as EmailAddress::str()
  Identity account;     // the claiming profile
  ClaimState state = ClaimState::Pending;
  TimePoint claimed_at{};        // the newest challenge (Pending), or when it was decided
  TimePoint expires_at{};        // Pending: dropped from then on
  TimePoint token_expires_at{};  // Pending: the challenge's link works until then
};

// True for a verified or listed claim: lookups serve it.
bool is_served(const Claim& claim) noexcept;
// True for a pending claim past its expiry: it is dropped.
bool is_stale(const Claim& claim, TimePoint now) noexcept;

// The claim a lookup of the address serves among all claims to it: the
// verified one, else the listed one (the newest of each, should there be
// several), never a pending one. nullopt: the address is not served.
std::optional<std::size_t> served_claim(std::span<const Claim> claims) noexcept;

// What a publication does with an address its root names, given every
// claim to the address and `account`, the publishing profile.
enum class PublishStep {
  Keep,       // the profile's claim stays as it is (served, or pending with a live challenge)
  Challenge,  // a new pending claim (or a new challenge for the profile's stale one), and a mail
  List,       // an unverified service lists the address for the profile at once
  Taken,      // an unverified service: another profile has the address (409, as before)
};
PublishStep on_publish(std::span<const Claim> claims, const Identity& account, Verification verification,
                       TimePoint now) noexcept;

// What answering a challenge (its link, or a signed confirmation) does to
// the claim it was made for.
enum class ChallengeAnswer {
  Confirm,           // the claim becomes verified; every other claim to the address is dropped
  AlreadyConfirmed,  // a replayed link: nothing changes
  Expired,           // the link or the claim has expired: nothing changes
};
ChallengeAnswer answer_challenge(const Claim& claim, TimePoint now) noexcept;

// The served claim of another profile to the claim's address, if any. A
// link (a button on a page) does not replace it: the person who receives the
// address's mail may press it thinking it is their own, after a squatter
// published again (found by review). Only the signed confirmation, made on a
// device of the new profile, replaces a served address.
std::optional<Claim> served_for_another(const Claim& claim, std::span<const Claim> claims_to_address);

// A new pending claim of `account` to `address` at `now`, or the renewal
// of its stale one.
Claim pending_claim(std::string address, Identity account, TimePoint now, const ClaimLifetimes& lifetimes);

}  // namespace mailseal::service
