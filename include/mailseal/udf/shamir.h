#pragma once
// Shamir secret sharing with UDF share presentation (type 144), over the prime
// field of draft-hallambaker-mesh-udf-13 Appendix A: p is the smallest prime
// above 2^(8L) for an L-byte secret.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"

namespace mailseal::udf {

inline constexpr int kMaxShares = 16;  // x - 1 is four bits
inline constexpr int kMaxQuorum = 15;  // the threshold is four bits
inline constexpr std::size_t kMaxSecretBytes = 64;

// One point (x, f(x)) of the polynomial, with the quorum needed to recover.
struct Share {
  int quorum = 0;
  int x = 0;          // 1..16
  SecretBytes value;  // f(x), big-endian, as long as the secret

  // "SAYC-UW4N-..." (section 4.5).
  std::string to_string() const;
  // Throws Error(Malformed) for anything that is not a share UDF.
  static Share parse(std::string_view text);
};

// Splits `secret` (1..64 bytes) into `share_count` shares of which any
// `quorum` recover it. Coefficients are fresh random values; a polynomial
// giving a share value that does not fit in the secret's length is replaced
// (section 4.5.1).
std::vector<Share> split_secret(ByteView secret, int share_count, int quorum);

// The same with the polynomial coefficients a_1..a_{quorum-1} given, big-endian
// (for the draft's test vectors). Throws Error(Usage) if a share would not fit.
std::vector<Share> split_secret_with_coefficients(ByteView secret, std::span<const Bytes> coefficients,
                                                  int share_count);

// Recovers the secret by Lagrange interpolation at x = 0 (Appendix B). Needs
// at least `quorum` distinct shares of one secret; extra shares are checked
// against the polynomial, so a corrupted share is reported, not silently used.
SecretBytes combine_shares(std::span<const Share> shares);

}  // namespace mailseal::udf
