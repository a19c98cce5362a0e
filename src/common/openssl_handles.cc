// The deleters that mailseal/common/openssl_handles.h declares, and the
// owner helpers of common/openssl.h that are not inline.

#include "common/openssl.h"

namespace mailseal::ossl {

void PkeyFree::operator()(evp_pkey_st* key) const noexcept {
  EVP_PKEY_free(key);
}

void X509Free::operator()(x509_st* certificate) const noexcept {
  X509_free(certificate);
}

X509Cert add_reference(X509* certificate) {
  if (certificate != nullptr) {
    check(X509_up_ref(certificate), "cannot take a reference to a certificate");
  }
  return X509Cert(certificate);
}

Pkey add_reference(EVP_PKEY* key) {
  if (key != nullptr) {
    check(EVP_PKEY_up_ref(key), "cannot take a reference to a key");
  }
  return Pkey(key);
}

SecretBytes pkcs8_der(const PKCS8_PRIV_KEY_INFO* info, std::string_view what, ErrorCode code) {
  unsigned char* der = nullptr;
  int length = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
  check(length, what, code);
  SecretAllocation owned(der, static_cast<std::size_t>(length));
  return owned.bytes();
}

}  // namespace mailseal::ossl
