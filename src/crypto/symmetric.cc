#include "mailseal/crypto/symmetric.h"

#include <climits>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::crypto {

namespace {

constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

int length_of(std::size_t size) {
  if (size > static_cast<std::size_t>(INT_MAX / 2)) {
    throw Error(ErrorCode::Usage, "too much data to seal at once");
  }
  return static_cast<int>(size);
}

void check_key(ByteView key) {
  if (key.size() != kSymmetricKeyBytes) {
    throw Error(ErrorCode::Usage, "a symmetric key has 32 bytes");
  }
}

}  // namespace

SecretBytes derive_symmetric_key(ByteView secret, std::string_view purpose) {
  ossl::Kdf kdf(ossl::check_ptr(EVP_KDF_fetch(nullptr, "HKDF", nullptr), "cannot load HKDF"));
  ossl::KdfCtx context(ossl::check_ptr(EVP_KDF_CTX_new(kdf.get()), "cannot allocate an HKDF context"));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(purpose.data()), purpose.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes key(kSymmetricKeyBytes);
  ossl::check(EVP_KDF_derive(context.get(), key.data(), key.size(), params), "HKDF failed");
  return key;
}

Bytes seal_symmetric(ByteView key, ByteView plaintext, ByteView associated) {
  check_key(key);
  Bytes out = random_bytes(kNonceBytes);
  ossl::CipherCtx context(ossl::check_ptr(EVP_CIPHER_CTX_new(), "cannot allocate a cipher"));
  ossl::check(EVP_EncryptInit_ex2(context.get(), EVP_aes_256_gcm(), key.data(), out.data(), nullptr),
              "cannot start AES-GCM");
  int length = 0;
  ossl::check(EVP_EncryptUpdate(context.get(), nullptr, &length, associated.data(), length_of(associated.size())),
              "AES-GCM failed");
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  ossl::check(EVP_EncryptUpdate(context.get(), out.data() + kNonceBytes, &length, plaintext.data(),
                                length_of(plaintext.size())),
              "AES-GCM failed");
  int final_length = 0;
  ossl::check(EVP_EncryptFinal_ex(context.get(), out.data() + kNonceBytes + length, &final_length), "AES-GCM failed");
  ossl::check(EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                                  out.data() + kNonceBytes + plaintext.size()),
              "AES-GCM failed");
  return out;
}

SecretBytes open_symmetric(ByteView key, ByteView sealed, ByteView associated) {
  check_key(key);
  if (sealed.size() < kNonceBytes + kTagBytes) {
    throw Error(ErrorCode::Malformed, "the sealed data is too short");
  }
  ByteView nonce = sealed.first(kNonceBytes);
  ByteView ciphertext = sealed.subspan(kNonceBytes, sealed.size() - kNonceBytes - kTagBytes);
  Bytes tag(sealed.end() - kTagBytes, sealed.end());
  ossl::CipherCtx context(ossl::check_ptr(EVP_CIPHER_CTX_new(), "cannot allocate a cipher"));
  ossl::check(EVP_DecryptInit_ex2(context.get(), EVP_aes_256_gcm(), key.data(), nonce.data(), nullptr),
              "cannot start AES-GCM");
  int length = 0;
  ossl::check(EVP_DecryptUpdate(context.get(), nullptr, &length, associated.data(), length_of(associated.size())),
              "AES-GCM failed");
  SecretBytes out(ciphertext.size());
  ossl::check(EVP_DecryptUpdate(context.get(), out.data(), &length, ciphertext.data(), length_of(ciphertext.size())),
              "AES-GCM failed");
  ossl::check(EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()),
              "AES-GCM failed");
  int final_length = 0;
  if (EVP_DecryptFinal_ex(context.get(), out.data() + length, &final_length) != 1) {
    ossl::take_errors();
    throw Error(ErrorCode::BadSignature, "the sealed data was altered or the key is wrong");
  }
  return out;
}

Bytes sha256(ByteView data) {
  Bytes digest(32);
  unsigned int length = 0;
  ossl::check(EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) == 1 && length == 32,
              "SHA-256 failed");
  return digest;
}

}  // namespace mailseal::crypto
