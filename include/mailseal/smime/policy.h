#pragma once
// What the engine accepts, passed in as a value (STYLE.md, after Sequoia's
// Policy): the reference time, the digests, key sizes, clock tolerances.
// The reference time is the caller's `now`: the engine never reads the clock.

#include <chrono>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/time.h"

namespace mailseal::smime {

struct Policy {
  TimePoint now;
  // A signing time later than now by more than this is "in the future".
  std::chrono::seconds clock_skew{std::chrono::minutes(5)};
  // Thunderbird marks a signature bad when the Date header and the signing
  // time differ by more than an hour; so does mailseal (a replayed signature
  // under a new date is the attack it stops).
  std::chrono::seconds date_tolerance{std::chrono::hours(1)};
  bool accept_sha1 = false;
  int min_rsa_bits = 2048;
  // Nesting limit for layers (signatures, encryption) of one message.
  int max_layers = 8;
  // The reader's own addresses (a profile's): a signed message whose signed
  // To/Cc name none of them may have been forwarded by someone else
  // (surreptitious forwarding); reported, not refused. Empty: not checked.
  std::vector<EmailAddress> reader_addresses;

  // The standard settings, judging at `now`.
  static Policy standard(TimePoint now) {
    Policy policy;
    policy.now = now;
    return policy;
  }
};

}  // namespace mailseal::smime
