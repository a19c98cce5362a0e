#include "mailseal/udf/shamir.h"

#include <algorithm>
#include <array>
#include <set>

#include <fmt/format.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/udf/udf.h"
#include "udf/internal/bignum.h"

namespace mailseal::udf {

namespace {

// Appendix A: the prime for an L-byte secret is 2^(8L) + kPrimeOffsets[L - 1].
constexpr std::array<unsigned long, kMaxSecretBytes> kPrimeOffsets = {
    1,   1,   43,  15,  15,  21,  81,  13,  15,  13,   7,   61,  111, 25,  451, 51,  85,  175, 253, 7,   87,  427,
    27,  133, 235, 375, 423, 735, 357, 115, 81,  297,  175, 57,  45,  127, 61,  37,  91,  27,  15,  241, 231, 55,
    105, 127, 115, 231, 207, 181, 37,  235, 163, 1093, 187, 211, 21,  841, 445, 165, 777, 583, 133, 75};

ossl::Bignum field_prime(std::size_t secret_bytes) {
  return internal::power_of_two_plus(static_cast<int>(secret_bytes * 8), kPrimeOffsets[secret_bytes - 1]);
}

void check_secret_size(std::size_t size) {
  if (size == 0 || size > kMaxSecretBytes) {
    throw Error(ErrorCode::Usage, fmt::format("a shared secret must be 1 to {} bytes, not {}", kMaxSecretBytes, size));
  }
}

void check_counts(int share_count, int quorum) {
  if (quorum < 2 || quorum > kMaxQuorum) {
    throw Error(ErrorCode::Usage, fmt::format("the quorum must be between 2 and {}, not {}", kMaxQuorum, quorum));
  }
  if (share_count < quorum || share_count > kMaxShares) {
    throw Error(ErrorCode::Usage, fmt::format("the number of shares must be between the quorum ({}) and {}, not {}",
                                              quorum, kMaxShares, share_count));
  }
}

// f(x) = a_0 + a_1 x + ... by Horner's rule, mod p.
ossl::Bignum evaluate(const std::vector<ossl::Bignum>& coefficients, unsigned long x, const BIGNUM* prime,
                      BN_CTX* context) {
  auto result = internal::new_bignum();
  BN_zero(result.get());
  auto x_value = internal::bignum_from_word(x);
  for (auto it = coefficients.rbegin(); it != coefficients.rend(); ++it) {
    ossl::check(BN_mod_mul(result.get(), result.get(), x_value.get(), prime, context), "share arithmetic failed");
    ossl::check(BN_mod_add(result.get(), result.get(), it->get(), prime, context), "share arithmetic failed");
  }
  return result;
}

// Returns the shares, or an empty vector if one of them does not fit in
// `secret_bytes` (the caller then picks other coefficients, section 4.5.1).
std::vector<Share> make_shares(const std::vector<ossl::Bignum>& coefficients, std::size_t secret_bytes,
                               int share_count) {
  auto prime = field_prime(secret_bytes);
  auto limit = internal::power_of_two_plus(static_cast<int>(secret_bytes * 8), 0);
  ossl::BnCtx context(ossl::check_ptr(BN_CTX_secure_new(), "cannot allocate a BN context"));
  std::vector<Share> shares;
  int quorum = static_cast<int>(coefficients.size());
  for (int x = 1; x <= share_count; ++x) {
    auto value = evaluate(coefficients, static_cast<unsigned long>(x), prime.get(), context.get());
    if (BN_cmp(value.get(), limit.get()) >= 0) {
      return {};
    }
    shares.push_back(Share{quorum, x, internal::bignum_to_bytes(value.get(), secret_bytes)});
  }
  return shares;
}

// Lagrange interpolation of the polynomial through `points` evaluated at `at`.
ossl::Bignum interpolate(std::span<const Share* const> points, long at, const BIGNUM* prime, BN_CTX* context) {
  auto accumulator = internal::new_bignum();
  BN_zero(accumulator.get());
  for (const Share* point : points) {
    auto numerator = internal::bignum_from_word(1);
    auto denominator = internal::bignum_from_word(1);
    for (const Share* other : points) {
      if (other == point) {
        continue;
      }
      // (at - x_j) / (x_i - x_j), with differences reduced into the field.
      auto factor = internal::new_bignum();
      long difference = at - other->x;
      ossl::check(BN_set_word(factor.get(), static_cast<unsigned long>(difference < 0 ? -difference : difference)),
                  "share arithmetic failed");
      BN_set_negative(factor.get(), difference < 0);
      ossl::check(BN_nnmod(factor.get(), factor.get(), prime, context), "share arithmetic failed");
      ossl::check(BN_mod_mul(numerator.get(), numerator.get(), factor.get(), prime, context),
                  "share arithmetic failed");
      long spread = point->x - other->x;
      ossl::check(BN_set_word(factor.get(), static_cast<unsigned long>(spread < 0 ? -spread : spread)),
                  "share arithmetic failed");
      BN_set_negative(factor.get(), spread < 0);
      ossl::check(BN_nnmod(factor.get(), factor.get(), prime, context), "share arithmetic failed");
      ossl::check(BN_mod_mul(denominator.get(), denominator.get(), factor.get(), prime, context),
                  "share arithmetic failed");
    }
    ossl::check_ptr(BN_mod_inverse(denominator.get(), denominator.get(), prime, context), "share arithmetic failed");
    auto term = internal::bignum_from_bytes(point->value);
    ossl::check(BN_mod_mul(term.get(), term.get(), numerator.get(), prime, context), "share arithmetic failed");
    ossl::check(BN_mod_mul(term.get(), term.get(), denominator.get(), prime, context), "share arithmetic failed");
    ossl::check(BN_mod_add(accumulator.get(), accumulator.get(), term.get(), prime, context),
                "share arithmetic failed");
  }
  return accumulator;
}

}  // namespace

std::string Share::to_string() const {
  SecretBytes data;
  data.reserve(1 + value.size());
  data.push_back(static_cast<std::uint8_t>(quorum << 4 | (x - 1)));
  data.insert(data.end(), value.begin(), value.end());
  return present_fixed(TypeId::ShamirShare, data);
}

Share Share::parse(std::string_view text) {
  FixedUdf fixed = parse_fixed(text);
  if (fixed.type != TypeId::ShamirShare) {
    throw Error(ErrorCode::Malformed, "not a recovery share: a share starts with 'S'");
  }
  if (fixed.data.size() < 2 || fixed.data.size() - 1 > kMaxSecretBytes) {
    throw Error(ErrorCode::Malformed, "recovery share has an impossible length");
  }
  Share share;
  share.quorum = fixed.data[0] >> 4;
  share.x = (fixed.data[0] & 0x0f) + 1;
  share.value.assign(fixed.data.begin() + 1, fixed.data.end());
  secure_wipe(fixed.data.data(), fixed.data.size());
  if (share.quorum < 2) {
    throw Error(ErrorCode::Malformed, "recovery share names a quorum below 2");
  }
  return share;
}

std::vector<Share> split_secret(ByteView secret, int share_count, int quorum) {
  check_secret_size(secret.size());
  check_counts(share_count, quorum);
  auto prime = field_prime(secret.size());
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::vector<ossl::Bignum> coefficients;
    coefficients.push_back(internal::bignum_from_bytes(secret));
    for (int i = 1; i < quorum; ++i) {
      auto coefficient = internal::new_bignum();
      ossl::check(BN_priv_rand_range(coefficient.get(), prime.get()), "random number generator failed");
      coefficients.push_back(std::move(coefficient));
    }
    auto shares = make_shares(coefficients, secret.size(), share_count);
    if (!shares.empty()) {
      return shares;
    }
  }
  // Each attempt fails with probability below share_count * 2^-(8L - 9); 64
  // failures in a row means the random generator is broken.
  throw Error(ErrorCode::Internal, "could not find polynomial coefficients for the shares");
}

std::vector<Share> split_secret_with_coefficients(ByteView secret, std::span<const Bytes> coefficients,
                                                  int share_count) {
  check_secret_size(secret.size());
  int quorum = static_cast<int>(coefficients.size()) + 1;
  check_counts(share_count, quorum);
  auto prime = field_prime(secret.size());
  std::vector<ossl::Bignum> polynomial;
  polynomial.push_back(internal::bignum_from_bytes(secret));
  for (const Bytes& coefficient : coefficients) {
    auto value = internal::bignum_from_bytes(coefficient);
    if (BN_cmp(value.get(), prime.get()) >= 0) {
      throw Error(ErrorCode::Usage, "a polynomial coefficient is not below the field prime");
    }
    polynomial.push_back(std::move(value));
  }
  auto shares = make_shares(polynomial, secret.size(), share_count);
  if (shares.empty()) {
    throw Error(ErrorCode::Usage, "these coefficients give a share that does not fit the secret's length");
  }
  return shares;
}

SecretBytes combine_shares(std::span<const Share> shares) {
  if (shares.empty()) {
    throw Error(ErrorCode::Usage, "no recovery shares given");
  }
  int quorum = shares.front().quorum;
  std::size_t secret_bytes = shares.front().value.size();
  std::set<int> seen;
  std::vector<const Share*> distinct;
  for (const Share& share : shares) {
    if (share.quorum != quorum || share.value.size() != secret_bytes) {
      throw Error(ErrorCode::Malformed, "the recovery shares belong to different secrets");
    }
    if (share.x < 1 || share.x > kMaxShares) {
      throw Error(ErrorCode::Malformed, "a recovery share has an impossible index");
    }
    if (seen.insert(share.x).second) {
      distinct.push_back(&share);
    } else {
      // The same share twice is harmless; two different values for one x are not.
      auto first = std::find_if(distinct.begin(), distinct.end(), [&](const Share* s) { return s->x == share.x; });
      if ((*first)->value != share.value) {
        throw Error(ErrorCode::Malformed, fmt::format("two different recovery shares claim to be share {}", share.x));
      }
    }
  }
  check_secret_size(secret_bytes);
  if (static_cast<int>(distinct.size()) < quorum) {
    throw Error(ErrorCode::Usage, fmt::format("{} recovery shares are needed and {} {} given", quorum, distinct.size(),
                                              distinct.size() == 1 ? "was" : "were"));
  }
  auto prime = field_prime(secret_bytes);
  ossl::BnCtx context(ossl::check_ptr(BN_CTX_secure_new(), "cannot allocate a BN context"));
  std::span<const Share* const> basis(distinct.data(), static_cast<std::size_t>(quorum));
  for (std::size_t i = static_cast<std::size_t>(quorum); i < distinct.size(); ++i) {
    auto expected = interpolate(basis, distinct[i]->x, prime.get(), context.get());
    auto actual = internal::bignum_from_bytes(distinct[i]->value);
    if (BN_cmp(expected.get(), actual.get()) != 0) {
      throw Error(ErrorCode::Malformed, "the recovery shares do not agree: at least one is mistyped or damaged");
    }
  }
  auto secret = interpolate(basis, 0, prime.get(), context.get());
  auto limit = internal::power_of_two_plus(static_cast<int>(secret_bytes * 8), 0);
  if (BN_cmp(secret.get(), limit.get()) >= 0) {
    throw Error(ErrorCode::Malformed, "the recovery shares do not give a valid secret: one is mistyped or damaged");
  }
  return internal::bignum_to_bytes(secret.get(), secret_bytes);
}

}  // namespace mailseal::udf
