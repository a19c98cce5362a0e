#pragma once
// Public and private keys over OpenSSL 3 (RSA, ECDSA/ECDH on NIST curves).
// The key is held by ossl::Pkey (mailseal/common/openssl_handles.h), whose C
// type is forward-declared; no OpenSSL header here (STYLE.md).

#include <memory>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/openssl_handles.h"
#include "mailseal/common/secret.h"
#include "mailseal/udf/udf.h"

namespace mailseal::crypto {

// Key types mailseal generates. RSA-3072 is the compat suite's mail key
// (gpgsm and NSS need RSA); P-256 serves the modern suite and device keys.
enum class KeyType { Rsa2048, Rsa3072, Rsa4096, P256, P384 };

enum class KeyFamily { Rsa, Ec, Other };

// A public key; copies share the underlying object (OpenSSL reference count).
class PublicKey {
 public:
  static PublicKey from_spki_der(ByteView der);
  // Takes ownership of a reference.
  explicit PublicKey(ossl::Pkey key);
  PublicKey(const PublicKey& other);
  PublicKey& operator=(const PublicKey& other);
  PublicKey(PublicKey&&) noexcept = default;
  PublicKey& operator=(PublicKey&&) noexcept = default;
  ~PublicKey();

  // DER SubjectPublicKeyInfo.
  Bytes spki_der() const;
  // UDF of the SubjectPublicKeyInfo, content type application/pkix-keyinfo
  // (DESIGN.md section 2: the profile's permanent identifier).
  udf::Fingerprint fingerprint() const;
  KeyFamily family() const;
  int bits() const;
  // "RSA-3072", "P-256".
  std::string description() const;

  bool operator==(const PublicKey& other) const;

  // Checks a signature made by PrivateKey::sign over `data`.
  bool verify(ByteView data, ByteView signature) const;

  evp_pkey_st* native() const noexcept { return key_.get(); }

 private:
  ossl::Pkey key_;
};

// A private key, move-only; its bytes are never logged or written unencrypted
// except where the caller asks for the PKCS#8 form.
class PrivateKey {
 public:
  static PrivateKey generate(KeyType type);
  // PEM "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY" (PKCS#8). An encrypted key
  // without a passphrase, or with a wrong one, is Error(BadPassword).
  static PrivateKey from_pkcs8_pem(std::string_view pem, const Passphrase* passphrase);
  static PrivateKey from_pkcs8_der(ByteView der);
  // An EC key from its private scalar (big-endian) on the named curve
  // ("P-256", "P-384", "P-521").
  static PrivateKey from_ec_scalar(std::string_view curve, ByteView scalar);

  explicit PrivateKey(ossl::Pkey key);
  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;
  ~PrivateKey();
  // Another owner of the same decoded key (OpenSSL counts references), for
  // a holder that keeps a key for later uses: a gateway session's signing
  // key, whose decoding and RSA blinding set-up are then paid once.
  PrivateKey share() const;

  PublicKey public_key() const;
  KeyFamily family() const;

  // Unencrypted PKCS#8, PEM. Only for writing to a 0600 file or a protected
  // container.
  SecretBytes to_pkcs8_pem() const;
  SecretBytes to_pkcs8_der() const;
  // An EC key's private scalar, big-endian, as long as the curve's order
  // (from_ec_scalar's inverse). Error(Usage) for other keys.
  SecretBytes ec_scalar() const;
  // PKCS#8 EncryptedPrivateKeyInfo with PBES2: scrypt (N=2^14, r=8, p=1) and
  // AES-256-CBC.
  std::string to_encrypted_pkcs8_pem(const Passphrase& passphrase) const;

  // A signature over `data` with SHA-256: ECDSA for EC keys, RSASSA-PSS
  // (salt as long as the hash) for RSA keys. For protocol messages, not mail.
  Bytes sign(ByteView data) const;

  evp_pkey_st* native() const noexcept { return key_.get(); }

 private:
  ossl::Pkey key_;
};

// Cryptographically strong random bytes.
Bytes random_bytes(std::size_t count);

// A random password for a file handed to a person (PKCS#12 export): 20
// characters from an unambiguous alphabet, about 100 bits.
std::string random_password();

// Loads OpenSSL's configuration and fetches the algorithms mailseal's
// messages use, so that they are in OpenSSL's method store before the first
// message: the resident process does it once for every command it forks.
// Draws no random bytes (a forked child must not share a generator's state).
void warm_up();

}  // namespace mailseal::crypto
