#include <openssl/core_names.h>
#include <openssl/params.h>

#include "common/openssl.h"
#include "udf/internal/hash.h"

namespace mailseal::udf::internal {

std::string_view digest_name(DigestAlgorithm algorithm) noexcept {
  return algorithm == DigestAlgorithm::Sha3_512 ? "SHA3-512" : "SHA512";
}

namespace {

ossl::Md fetch_digest(DigestAlgorithm algorithm) {
  return ossl::Md(ossl::check_ptr(EVP_MD_fetch(nullptr, digest_name(algorithm).data(), nullptr),
                                  "cannot load the digest algorithm"));
}

}  // namespace

Bytes digest(DigestAlgorithm algorithm, ByteView first, ByteView second, ByteView third) {
  auto md = fetch_digest(algorithm);
  ossl::MdCtx context(ossl::check_ptr(EVP_MD_CTX_new(), "cannot allocate a digest context"));
  ossl::check(EVP_DigestInit_ex2(context.get(), md.get(), nullptr), "digest init failed");
  for (ByteView piece : {first, second, third}) {
    ossl::check(EVP_DigestUpdate(context.get(), piece.data(), piece.size()), "digest update failed");
  }
  Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md.get())));
  unsigned int length = 0;
  ossl::check(EVP_DigestFinal_ex(context.get(), out.data(), &length), "digest final failed");
  out.resize(length);
  return out;
}

Bytes hmac(DigestAlgorithm algorithm, ByteView key, ByteView first, ByteView second, ByteView third) {
  ossl::Mac mac(ossl::check_ptr(EVP_MAC_fetch(nullptr, "HMAC", nullptr), "cannot load HMAC"));
  ossl::MacCtx context(ossl::check_ptr(EVP_MAC_CTX_new(mac.get()), "cannot allocate an HMAC context"));
  std::string name(digest_name(algorithm));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name.data(), 0),
      OSSL_PARAM_construct_end(),
  };
  // HMAC with an empty key is legitimate (HKDF-Extract with no salt).
  static const std::uint8_t kEmpty = 0;
  const std::uint8_t* key_data = key.empty() ? &kEmpty : key.data();
  ossl::check(EVP_MAC_init(context.get(), key_data, key.size(), params), "HMAC init failed");
  for (ByteView piece : {first, second, third}) {
    ossl::check(EVP_MAC_update(context.get(), piece.data(), piece.size()), "HMAC update failed");
  }
  Bytes out(EVP_MAC_CTX_get_mac_size(context.get()));
  std::size_t length = 0;
  ossl::check(EVP_MAC_final(context.get(), out.data(), &length, out.size()), "HMAC final failed");
  out.resize(length);
  return out;
}

SecretBytes hkdf_extract(DigestAlgorithm algorithm, ByteView salt, ByteView input_key_material) {
  Bytes prk = hmac(algorithm, salt, input_key_material);
  SecretBytes out(prk.begin(), prk.end());
  secure_wipe(prk.data(), prk.size());
  return out;
}

SecretBytes hkdf_expand(DigestAlgorithm algorithm, ByteView pseudo_random_key, ByteView info, std::size_t length) {
  ossl::Kdf kdf(ossl::check_ptr(EVP_KDF_fetch(nullptr, "HKDF", nullptr), "cannot load HKDF"));
  ossl::KdfCtx context(ossl::check_ptr(EVP_KDF_CTX_new(kdf.get()), "cannot allocate an HKDF context"));
  std::string name(digest_name(algorithm));
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, name.data(), 0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(pseudo_random_key.data()),
                                        pseudo_random_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.data()), info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(length);
  ossl::check(EVP_KDF_derive(context.get(), out.data(), out.size(), params), "HKDF expand failed");
  return out;
}

}  // namespace mailseal::udf::internal
