#pragma once
// Rules of the key-service protocol (docs/service.md) that the service and
// its clients both apply: what a device id and a profile fingerprint are,
// what counts as a profile root, how long an invitation may last, and what a
// device name may be. Written once here so that the two sides cannot drift.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mailseal/common/ids.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::keyservice {

// A device id is the fingerprint of the device's signature key at 100 bits:
// short, unique, and above the UDF draft's minimum.
inline constexpr int kDeviceIdBits = 100;
DeviceId device_id_of(const crypto::PublicKey& signature_key);

// A profile is named by the full-precision fingerprint of its root's key:
// the identity of its root.
Identity profile_fingerprint_of(const crypto::Certificate& root);

// A profile root is a self-signed CA certificate (DESIGN.md section 2).
bool is_profile_root(const crypto::Certificate& certificate);

// Two certificates of one profile root: both profile roots, for the same key
// (so the same fingerprint) under the same name. A renewed root
// (docs/profile.md, "The root's renewal") is one, and everything the other
// issued verifies under it. The one with the later notAfter is the newer.
bool same_profile_root(const crypto::Certificate& one, const crypto::Certificate& other);

// A PIN invitation lasts at least a second and at most a week.
inline constexpr std::chrono::seconds kMaxInvitationLifetime{7 * 24 * 3600};
bool invitation_lifetime_allowed(std::chrono::seconds lifetime);

// A device's name, as its owner gave it: 1 to 100 bytes.
inline constexpr std::size_t kMaxDeviceNameLength = 100;
bool device_name_allowed(std::string_view name);

// The token of a challenge mail (docs/service.md, "Verified addresses"):
// 32 random bytes as 64 lower-case hex digits, in the link
// PUBLIC_URL/verify/TOKEN and in a signed confirmation.
inline constexpr std::size_t kVerificationTokenDigits = 64;
inline constexpr std::string_view kVerifyPath = "/verify/";
bool is_verification_token(std::string_view text) noexcept;
// The token in what a person pastes: the token itself, or a link ending in
// /verify/TOKEN (a trailing slash, query or fragment ignored). nullopt
// when neither.
std::optional<std::string> verification_token_in(std::string_view text);

}  // namespace mailseal::keyservice
