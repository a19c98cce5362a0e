#include <algorithm>

#include <fmt/format.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/certificate.h"

namespace mailseal::crypto {

namespace {
constexpr std::size_t kMaxChainLength = 16;
}

std::string verify_chain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                         const std::vector<Certificate>& anchors, TimePoint at) {
  ossl::X509Store store(ossl::check_ptr(X509_STORE_new(), "cannot allocate a certificate store"));
  for (const auto& anchor : anchors) {
    ossl::check(X509_STORE_add_cert(store.get(), anchor.native()), "cannot add a trust anchor");
  }
  ossl::X509Stack untrusted(ossl::check_ptr(sk_X509_new_null(), "cannot allocate a certificate stack"));
  for (const auto& certificate : intermediates) {
    ossl::X509Cert reference = ossl::add_reference(certificate.native());
    ossl::check(sk_X509_push(untrusted.get(), reference.get()), "cannot build a certificate stack");
    reference.release();  // the stack holds it now
  }
  ossl::X509StoreCtx context(ossl::check_ptr(X509_STORE_CTX_new(), "cannot allocate a verification context"));
  ossl::check(X509_STORE_CTX_init(context.get(), store.get(), leaf.native(), untrusted.get()),
              "cannot set up verification");
  X509_VERIFY_PARAM* params = X509_STORE_CTX_get0_param(context.get());
  X509_VERIFY_PARAM_set_time(params, static_cast<time_t>(at.time_since_epoch().count()));
  X509_VERIFY_PARAM_set_purpose(params, X509_PURPOSE_SMIME_SIGN);
  X509_VERIFY_PARAM_set_depth(params, static_cast<int>(kMaxChainLength));
  // An anchor need not be self-signed: a user may trust an intermediate CA
  // (their company's issuing CA) without trusting the root above it.
  X509_VERIFY_PARAM_set_flags(params, X509_V_FLAG_PARTIAL_CHAIN);
  int result = X509_verify_cert(context.get());
  ossl::take_errors();
  if (result == 1) {
    return {};
  }
  int error = X509_STORE_CTX_get_error(context.get());
  return fmt::format("{} (at depth {})", X509_verify_cert_error_string(error),
                     X509_STORE_CTX_get_error_depth(context.get()));
}

std::vector<Certificate> build_chain(const Certificate& leaf, const std::vector<Certificate>& pool) {
  std::vector<Certificate> chain;
  chain.reserve(kMaxChainLength);  // `current` points into it
  const Certificate* current = &leaf;
  while (chain.size() < kMaxChainLength && !(current->is_self_issued() && current->is_issued_by(*current))) {
    const Certificate* issuer = nullptr;
    for (const auto& candidate : pool) {
      bool already_used = candidate == leaf || std::find(chain.begin(), chain.end(), candidate) != chain.end();
      // A self-issued certificate that its own key did not sign is forged (a
      // root's name and key under another signature): never an issuer.
      bool forged_root = candidate.is_self_issued() && !candidate.is_issued_by(candidate);
      if (!already_used && !forged_root && current->is_issued_by(candidate)) {
        issuer = &candidate;
        break;
      }
    }
    if (issuer == nullptr) {
      break;
    }
    chain.push_back(*issuer);
    current = &chain.back();
  }
  return chain;
}

}  // namespace mailseal::crypto
