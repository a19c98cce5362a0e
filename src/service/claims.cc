#include "mailseal/service/claims.h"

#include <algorithm>

namespace mailseal::service {

namespace {

constexpr std::string_view kPending = "pending";
constexpr std::string_view kVerified = "verified";
constexpr std::string_view kListed = "listed";

}  // namespace

std::string_view to_string(ClaimState state) noexcept {
  switch (state) {
    case ClaimState::Pending:
      return kPending;
    case ClaimState::Verified:
      return kVerified;
    case ClaimState::Listed:
      return kListed;
  }
  return kPending;
}

std::optional<ClaimState> claim_state_from(std::string_view text) noexcept {
  for (ClaimState state : {ClaimState::Pending, ClaimState::Verified, ClaimState::Listed}) {
    if (text == to_string(state))
      return state;
  }
  return std::nullopt;
}

bool is_served(const Claim& claim) noexcept {
  return claim.state == ClaimState::Verified || claim.state == ClaimState::Listed;
}

bool is_stale(const Claim& claim, TimePoint now) noexcept {
  return claim.state == ClaimState::Pending && claim.expires_at <= now;
}

std::optional<std::size_t> served_claim(std::span<const Claim> claims) noexcept {
  // Proof beats a listing; among equals, the newest decision.
  auto rank = [](const Claim& claim) { return claim.state == ClaimState::Verified ? 2 : 1; };
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < claims.size(); ++i) {
    if (!is_served(claims[i]))
      continue;
    if (!best || rank(claims[i]) > rank(claims[*best]) ||
        (rank(claims[i]) == rank(claims[*best]) && claims[i].claimed_at > claims[*best].claimed_at))
      best = i;
  }
  return best;
}

PublishStep on_publish(std::span<const Claim> claims, const Identity& account, Verification verification,
                       TimePoint now) noexcept {
  auto own = std::find_if(claims.begin(), claims.end(), [&](const Claim& claim) { return claim.account == account; });
  const bool own_served = own != claims.end() && is_served(*own);
  if (verification == Verification::None) {
    if (own_served)
      return PublishStep::Keep;
    std::optional<std::size_t> served = served_claim(claims);
    return served ? PublishStep::Taken : PublishStep::List;
  }
  // Verified or listed stays; a listing made before the service verified
  // addresses is served until someone proves the address (which drops it).
  if (own_served)
    return PublishStep::Keep;
  if (own != claims.end() && !is_stale(*own, now) && own->token_expires_at > now)
    return PublishStep::Keep;
  return PublishStep::Challenge;
}

ChallengeAnswer answer_challenge(const Claim& claim, TimePoint now) noexcept {
  if (claim.state == ClaimState::Verified)
    return ChallengeAnswer::AlreadyConfirmed;
  if (claim.state != ClaimState::Pending || is_stale(claim, now) || claim.token_expires_at <= now)
    return ChallengeAnswer::Expired;
  return ChallengeAnswer::Confirm;
}

std::optional<Claim> served_for_another(const Claim& claim, std::span<const Claim> claims_to_address) {
  std::optional<std::size_t> served = served_claim(claims_to_address);
  if (!served || claims_to_address[*served].account == claim.account)
    return std::nullopt;
  return claims_to_address[*served];
}

Claim pending_claim(std::string address, Identity account, TimePoint now, const ClaimLifetimes& lifetimes) {
  return Claim{std::move(address),    std::move(account),
               ClaimState::Pending,   now,
               now + lifetimes.claim, now + std::min(lifetimes.token, lifetimes.claim)};
}

}  // namespace mailseal::service
