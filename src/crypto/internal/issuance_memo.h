#pragma once
// The certificate signatures this process has seen verify, so that the same
// signature is not verified again for every message: a gateway evaluates the
// same recipients' chains, message after message (bench/smime_profile.md,
// "Certificate signatures verified once").

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>

namespace mailseal::crypto::internal {

// The SHA-256 of a certificate's complete DER, its signature included.
using DerDigest = std::array<std::uint8_t, 32>;

// A subject certificate and the issuer whose key verified its signature and
// whose name it chains to, each named by the digest of its whole DER: a
// tampered certificate, or another issuer with the same name or key, is
// another issuance.
struct Issuance {
  DerDigest subject{};
  DerDigest issuer{};
  auto operator<=>(const Issuance&) const = default;
};

// Issuances that verified, at most `capacity`: once full, the oldest is
// forgotten (and verified again when it is next asked for), so that a
// correspondent or a key service handing out ever new certificates cannot
// make a long-running gateway grow. Only successes are remembered: a "no" is
// always the verifier's own. Thread-safe (gateway sessions run in parallel).
class IssuanceMemo {
 public:
  explicit IssuanceMemo(std::size_t capacity);
  IssuanceMemo(const IssuanceMemo&) = delete;
  IssuanceMemo& operator=(const IssuanceMemo&) = delete;

  bool contains(const Issuance& issuance) const;
  void remember(const Issuance& issuance);
  std::size_t size() const;
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  // Ordered, not hashed: the digests come from certificates others chose.
  std::set<Issuance> remembered_;
  std::deque<Issuance> oldest_first_;
};

// The memo Certificate::is_issued_by consults, one for the process: every
// session of a gateway, and every other caller, verifies a certificate
// signature once.
IssuanceMemo& verified_issuances();

}  // namespace mailseal::crypto::internal
