#pragma once
// The key service's wire protocol (docs/service.md), shared by the service
// and its clients: how a request is signed and how the signature travels.
//
// A request that changes state (and a read of anything not public) carries
//   Authorization: Mailseal-Signature key="K", time="T", nonce="N", signature="S"
// where K names the signing key (DESIGN.md section 6: "root" for the profile
// root, a device id, or "device" for a joining device's own key), T is Unix
// time, N 16 random bytes in hex, and S the base64 signature (ECDSA or
// RSA-PSS, SHA-256) over signing_input(). The service refuses a request
// outside kMaxClockSkew of its clock, and any nonce it has seen.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/time.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::keyservice {

inline constexpr std::string_view kAuthorizationScheme = "Mailseal-Signature";
inline constexpr std::chrono::seconds kMaxClockSkew{300};
// What one request body may be: at most 4 MiB, JSON nested at most 32 deep.
inline constexpr std::size_t kMaxBodyBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxJsonDepth = 32;
inline constexpr std::string_view kRootKey = "root";
inline constexpr std::string_view kJoiningDeviceKey = "device";

struct RequestAuthorization {
  std::string key;
  TimePoint time{};
  std::string nonce;
  Bytes signature;
};

// What the signature covers: a fixed label, the method, the request target
// (path and query), time, nonce and the SHA-512 of the body, one per line.
std::string signing_input(std::string_view method, std::string_view target, TimePoint time, std::string_view nonce,
                          ByteView body);

// The Authorization header value for a request made at `now`, with a fresh nonce.
std::string authorize(const crypto::PrivateKey& key, std::string_view key_id, std::string_view method,
                      std::string_view target, ByteView body, TimePoint now);

// Error(Malformed) naming what is wrong.
RequestAuthorization parse_authorization(std::string_view header);

// True if `authorization` is a valid signature of `key` over the request.
bool verify_authorization(const crypto::PublicKey& key, const RequestAuthorization& authorization,
                          std::string_view method, std::string_view target, ByteView body);

}  // namespace mailseal::keyservice
