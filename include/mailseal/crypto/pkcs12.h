#pragma once
// PKCS#12 (RFC 7292) in both directions: what S/MIME clients import and export.

#include <span>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::crypto {

// A private key with its certificate and the chain above it.
struct Pkcs12Identity {
  PrivateKey key;
  Certificate certificate;
  std::vector<Certificate> chain;
  std::string friendly_name;
};

enum class Pkcs12Protection {
  // PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC), SHA-256 MAC: OpenSSL 3, NSS,
  // Apple, Windows.
  Modern,
  // pbeWithSHAAnd3-KeyTripleDES-CBC for keys and certificates, SHA-1 MAC:
  // gpgsm 2.2 imports nothing else (DESIGN.md section 3).
  Legacy,
};

// Writes the identities into one PKCS#12; each key bag and its certificate
// bag share a localKeyID; chain certificates appear once.
Bytes write_pkcs12(std::span<const Pkcs12Identity> identities, const Passphrase& password, Pkcs12Protection protection);

struct Pkcs12Contents {
  std::vector<Pkcs12Identity> identities;  // every key with its certificate and chain
  std::vector<Certificate> other_certificates;
};

// Reads a PKCS#12, including old RC2-40 ones (through OpenSSL's legacy
// provider, confined to this call). Error(BadPassword) for a wrong password,
// Error(Malformed) for a damaged or truncated file.
Pkcs12Contents read_pkcs12(ByteView data, const Passphrase& password);

}  // namespace mailseal::crypto
