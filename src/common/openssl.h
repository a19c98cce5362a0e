#pragma once
// The one place that owns OpenSSL handles (STYLE.md): each C handle type has one
// move-only owner, a unique_ptr with a stateless deleter, and no other code
// calls an OpenSSL free function. The owners public headers hold (ossl::Pkey,
// ossl::X509Cert) come from mailseal/common/openssl_handles.h, which
// forward-declares their C types; every other owner is defined here.
// Library-internal: public headers never include this file.

#include <memory>
#include <string>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mailseal/common/error.h"
#include "mailseal/common/openssl_handles.h"
#include "mailseal/common/secret.h"

namespace mailseal::ossl {

template <auto FreeFunction>
struct FreeWith {
  template <typename T>
  void operator()(T* handle) const noexcept {
    FreeFunction(handle);
  }
};

template <typename T, auto FreeFunction>
using Handle = std::unique_ptr<T, FreeWith<FreeFunction>>;

using PkeyCtx = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtx = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;
using Md = Handle<EVP_MD, EVP_MD_free>;
using Cipher = Handle<EVP_CIPHER, EVP_CIPHER_free>;
using Keymgmt = Handle<EVP_KEYMGMT, EVP_KEYMGMT_free>;
using Signature = Handle<EVP_SIGNATURE, EVP_SIGNATURE_free>;
using AsymCipher = Handle<EVP_ASYM_CIPHER, EVP_ASYM_CIPHER_free>;
using Keyexch = Handle<EVP_KEYEXCH, EVP_KEYEXCH_free>;
using Mac = Handle<EVP_MAC, EVP_MAC_free>;
using MacCtx = Handle<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using Kdf = Handle<EVP_KDF, EVP_KDF_free>;
using KdfCtx = Handle<EVP_KDF_CTX, EVP_KDF_CTX_free>;
using CipherCtx = Handle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using Bignum = Handle<BIGNUM, BN_clear_free>;
using BnCtx = Handle<BN_CTX, BN_CTX_free>;
using EcPoint = Handle<EC_POINT, EC_POINT_free>;
using ParamBld = Handle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using Params = Handle<OSSL_PARAM, OSSL_PARAM_free>;
using EncodeCtx = Handle<EVP_ENCODE_CTX, EVP_ENCODE_CTX_free>;
using Bio = Handle<BIO, BIO_free_all>;
using X509Name = Handle<X509_NAME, X509_NAME_free>;
using X509Extension = Handle<X509_EXTENSION, X509_EXTENSION_free>;
using X509Store = Handle<X509_STORE, X509_STORE_free>;
using X509StoreCtx = Handle<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509Algor = Handle<X509_ALGOR, X509_ALGOR_free>;
using X509Sig = Handle<X509_SIG, X509_SIG_free>;
using X509Crl = Handle<X509_CRL, X509_CRL_free>;
using X509Revoked = Handle<X509_REVOKED, X509_REVOKED_free>;
using Asn1Integer = Handle<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1Time = Handle<ASN1_TIME, ASN1_TIME_free>;
using Asn1OctetString = Handle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1Ia5String = Handle<ASN1_IA5STRING, ASN1_IA5STRING_free>;
using Asn1Object = Handle<ASN1_OBJECT, ASN1_OBJECT_free>;
using GeneralNames = Handle<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralName = Handle<GENERAL_NAME, GENERAL_NAME_free>;
using GeneralSubtree = Handle<GENERAL_SUBTREE, GENERAL_SUBTREE_free>;
using NameConstraints = Handle<NAME_CONSTRAINTS, NAME_CONSTRAINTS_free>;
using BasicConstraints = Handle<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using ExtendedKeyUsage = Handle<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using AuthorityKeyId = Handle<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
using Pkcs8Info = Handle<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>;
using Pkcs12 = Handle<PKCS12, PKCS12_free>;
using Pkcs12SafeBag = Handle<PKCS12_SAFEBAG, PKCS12_SAFEBAG_free>;
using Pkcs7 = Handle<PKCS7, PKCS7_free>;
using Cms = Handle<CMS_ContentInfo, CMS_ContentInfo_free>;
using LibCtx = Handle<OSSL_LIB_CTX, OSSL_LIB_CTX_free>;
using EcGroup = Handle<EC_GROUP, EC_GROUP_free>;
// TLS (libssl): only parts that link OpenSSL::SSL use these.
using Ssl = Handle<SSL, SSL_free>;
using SslCtx = Handle<SSL_CTX, SSL_CTX_free>;

inline void unload_provider(OSSL_PROVIDER* provider) noexcept {
  OSSL_PROVIDER_unload(provider);
}
using Provider = Handle<OSSL_PROVIDER, unload_provider>;

// A new reference to a handle another owner holds (OpenSSL counts
// references): copying a certificate or a key, or keeping one that a CMS
// structure lends. Null gives an empty owner.
X509Cert add_reference(X509* certificate);
Pkey add_reference(EVP_PKEY* key);

// Stacks own their elements as well.
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const noexcept { sk_X509_pop_free(stack, X509_free); }
};
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackFree>;

// A stack whose certificates another owner lends (CMS_get0_signers): only the
// stack itself is freed.
struct BorrowedX509StackFree {
  void operator()(STACK_OF(X509) * stack) const noexcept { sk_X509_free(stack); }
};
using BorrowedX509Stack = std::unique_ptr<STACK_OF(X509), BorrowedX509StackFree>;

struct X509AlgorStackFree {
  void operator()(X509_ALGORS* stack) const noexcept { sk_X509_ALGOR_pop_free(stack, X509_ALGOR_free); }
};
using X509AlgorStack = std::unique_ptr<X509_ALGORS, X509AlgorStackFree>;

struct SafeBagStackFree {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * stack) const noexcept {
    sk_PKCS12_SAFEBAG_pop_free(stack, PKCS12_SAFEBAG_free);
  }
};
using SafeBagStack = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), SafeBagStackFree>;

struct Pkcs7StackFree {
  void operator()(STACK_OF(PKCS7) * stack) const noexcept { sk_PKCS7_pop_free(stack, PKCS7_free); }
};
using Pkcs7Stack = std::unique_ptr<STACK_OF(PKCS7), Pkcs7StackFree>;

// Memory returned by OpenSSL's allocator (i2d output, BN_bn2dec strings).
struct OpensslFree {
  void operator()(void* memory) const noexcept { OPENSSL_free(memory); }
};
using OpensslString = std::unique_ptr<char, OpensslFree>;
using OpensslBytes = std::unique_ptr<unsigned char, OpensslFree>;

// Memory from OpenSSL's allocator that holds a secret (the DER of a private
// key): wiped, then freed. OPENSSL_clear_free needs the size, so this owner
// holds it beside the pointer.
class SecretAllocation {
 public:
  SecretAllocation(unsigned char* data, std::size_t size) noexcept : data_(data), size_(size) {}
  ~SecretAllocation() { OPENSSL_clear_free(data_, size_); }
  SecretAllocation(const SecretAllocation&) = delete;
  SecretAllocation& operator=(const SecretAllocation&) = delete;

  SecretBytes bytes() const { return SecretBytes(data_, data_ + size_); }

 private:
  unsigned char* data_;
  std::size_t size_;
};

// The DER of a PKCS#8 private key, in a wiping buffer; no copy of it is left
// in OpenSSL's heap. Throws Error(code, "<what>: ...") when it cannot encode.
SecretBytes pkcs8_der(const PKCS8_PRIV_KEY_INFO* info, std::string_view what, ErrorCode code = ErrorCode::Internal);

// Drains OpenSSL's thread-local error queue into one readable line.
std::string take_errors();

// Throws Error(code, "<what>: <queued OpenSSL errors>").
[[noreturn]] void fail(std::string_view what, ErrorCode code = ErrorCode::Internal);

// The habit that keeps return codes from being ignored: every OpenSSL call
// whose result signals failure goes through one of these.
inline void check(int result, std::string_view what, ErrorCode code = ErrorCode::Internal) {
  if (result <= 0) {
    fail(what, code);
  }
}

template <typename T>
T* check_ptr(T* pointer, std::string_view what, ErrorCode code = ErrorCode::Internal) {
  if (pointer == nullptr) {
    fail(what, code);
  }
  return pointer;
}

// Memory BIO over bytes the caller keeps alive.
Bio memory_reader(const void* data, std::size_t size);
Bio memory_writer();
// The bytes written so far to a memory BIO.
std::string_view memory_contents(BIO* bio);

}  // namespace mailseal::ossl
