#pragma once
// The owners of the OpenSSL handles that public headers hold: a key and a
// certificate. The C types are forward-declared and the deleters defined out
// of line, so that a public header needs no OpenSSL header (STYLE.md;
// Ladybird's forward-declared C types). src/common/openssl.h includes this
// file and defines every other owner beside these: one owner per C handle
// type, in one header per library.

#include <memory>

struct evp_pkey_st;  // EVP_PKEY
struct x509_st;      // X509

namespace mailseal::ossl {

struct PkeyFree {
  void operator()(evp_pkey_st* key) const noexcept;  // EVP_PKEY_free
};
struct X509Free {
  void operator()(x509_st* certificate) const noexcept;  // X509_free
};

// A reference to a key (public, or a key pair).
using Pkey = std::unique_ptr<evp_pkey_st, PkeyFree>;
// A reference to a certificate.
using X509Cert = std::unique_ptr<x509_st, X509Free>;

}  // namespace mailseal::ossl
