#include "mailseal/crypto/keys.h"

#include <climits>

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"

namespace mailseal::crypto {

namespace {

// RFC 7914 scrypt parameters for keys at rest: 16 MiB, about 50 ms; within
// OpenSSL's default scrypt memory limit (32 MiB) so every OpenSSL reads them.
constexpr std::uint64_t kScryptN = 1u << 14;
constexpr std::uint64_t kScryptR = 8;
constexpr std::uint64_t kScryptP = 1;
constexpr int kSaltBytes = 16;

constexpr std::string_view kPemEncryptedPrivateKey = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
constexpr std::string_view kPemPrivateKey = "-----BEGIN PRIVATE KEY-----";

std::string openssl_group_name(std::string_view curve) {
  if (curve == "P-256")
    return "prime256v1";
  if (curve == "P-384")
    return "secp384r1";
  if (curve == "P-521")
    return "secp521r1";
  throw Error(ErrorCode::Unsupported, fmt::format("unknown curve {}", curve));
}

KeyFamily family_of(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return KeyFamily::Rsa;
    case EVP_PKEY_EC:
      return KeyFamily::Ec;
    default:
      return KeyFamily::Other;
  }
}

}  // namespace

// --- PublicKey ---------------------------------------------------------------

PublicKey::PublicKey(ossl::Pkey key) : key_(std::move(key)) {}

PublicKey::PublicKey(const PublicKey& other) : key_(ossl::add_reference(other.key_.get())) {}

PublicKey& PublicKey::operator=(const PublicKey& other) {
  if (this != &other) {
    PublicKey copy(other);
    key_ = std::move(copy.key_);
  }
  return *this;
}

PublicKey::~PublicKey() = default;

PublicKey PublicKey::from_spki_der(ByteView der) {
  const unsigned char* cursor = der.data();
  ossl::Pkey key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  if (!key || cursor != der.data() + der.size()) {
    ossl::fail("not a DER SubjectPublicKeyInfo", ErrorCode::Malformed);
  }
  return PublicKey(std::move(key));
}

Bytes PublicKey::spki_der() const {
  unsigned char* out = nullptr;
  int length = i2d_PUBKEY(key_.get(), &out);
  ossl::check(length, "cannot encode a public key");
  ossl::OpensslBytes owned(out);
  return Bytes(out, out + length);
}

udf::Fingerprint PublicKey::fingerprint() const {
  return udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, udf::content_type::kPkixKeyInfo, spki_der());
}

KeyFamily PublicKey::family() const {
  return family_of(key_.get());
}

int PublicKey::bits() const {
  return EVP_PKEY_get_bits(key_.get());
}

std::string PublicKey::description() const {
  switch (family()) {
    case KeyFamily::Rsa:
      return fmt::format("RSA-{}", bits());
    case KeyFamily::Ec: {
      char name[64] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_utf8_string_param(key_.get(), OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &length) == 1) {
        std::string_view group(name, length);
        if (group == "prime256v1")
          return "P-256";
        if (group == "secp384r1")
          return "P-384";
        if (group == "secp521r1")
          return "P-521";
        return std::string(group);
      }
      return "EC";
    }
    case KeyFamily::Other:
      break;
  }
  return EVP_PKEY_get0_type_name(key_.get()) ? EVP_PKEY_get0_type_name(key_.get()) : "unknown";
}

bool PublicKey::operator==(const PublicKey& other) const {
  return EVP_PKEY_eq(key_.get(), other.key_.get()) == 1;
}

// --- PrivateKey --------------------------------------------------------------

PrivateKey::PrivateKey(ossl::Pkey key) : key_(std::move(key)) {}
PrivateKey::~PrivateKey() = default;

PrivateKey PrivateKey::share() const {
  return PrivateKey(ossl::add_reference(key_.get()));
}

PrivateKey PrivateKey::generate(KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::Rsa2048:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
      break;
    case KeyType::Rsa3072:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(3072));
      break;
    case KeyType::Rsa4096:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(4096));
      break;
    case KeyType::P256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::P384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
  }
  return PrivateKey(ossl::Pkey(ossl::check_ptr(key, "key generation failed")));
}

PrivateKey PrivateKey::from_pkcs8_der(ByteView der) {
  const unsigned char* cursor = der.data();
  ossl::Pkcs8Info info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &cursor, static_cast<long>(der.size())));
  if (!info) {
    ossl::fail("not a PKCS#8 private key", ErrorCode::Malformed);
  }
  return PrivateKey(ossl::Pkey(
      ossl::check_ptr(EVP_PKCS82PKEY(info.get()), "unsupported private key in PKCS#8", ErrorCode::Unsupported)));
}

PrivateKey PrivateKey::from_pkcs8_pem(std::string_view pem, const Passphrase* passphrase) {
  auto bio = ossl::memory_reader(pem.data(), pem.size());
  if (pem.find(kPemEncryptedPrivateKey) != std::string_view::npos) {
    if (passphrase == nullptr || passphrase->empty()) {
      throw Error(ErrorCode::BadPassword, "the private key is encrypted and no passphrase was given",
                  "give the passphrase with --passphrase-file FILE or MAILSEAL_PASSPHRASE");
    }
    ossl::X509Sig encrypted(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
    if (!encrypted) {
      ossl::fail("damaged encrypted private key", ErrorCode::Malformed);
    }
    ossl::Pkcs8Info info(
        PKCS8_decrypt(encrypted.get(), passphrase->view().data(), static_cast<int>(passphrase->view().size())));
    if (!info) {
      ossl::take_errors();
      throw Error(ErrorCode::BadPassword, "wrong passphrase for the private key");
    }
    return PrivateKey(
        ossl::Pkey(ossl::check_ptr(EVP_PKCS82PKEY(info.get()), "unsupported private key", ErrorCode::Unsupported)));
  }
  if (pem.find(kPemPrivateKey) == std::string_view::npos) {
    throw Error(ErrorCode::Malformed, "not a PKCS#8 PEM private key");
  }
  ossl::Pkcs8Info info(PEM_read_bio_PKCS8_PRIV_KEY_INFO(bio.get(), nullptr, nullptr, nullptr));
  if (!info) {
    ossl::fail("damaged private key", ErrorCode::Malformed);
  }
  return PrivateKey(
      ossl::Pkey(ossl::check_ptr(EVP_PKCS82PKEY(info.get()), "unsupported private key", ErrorCode::Unsupported)));
}

PrivateKey PrivateKey::from_ec_scalar(std::string_view curve, ByteView scalar) {
  std::string group = openssl_group_name(curve);
  ossl::Bignum private_value(ossl::check_ptr(BN_secure_new(), "cannot allocate a big number"));
  ossl::check_ptr(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), private_value.get()),
                  "cannot read the private scalar");
  ossl::EcGroup ec_group(
      ossl::check_ptr(EC_GROUP_new_by_curve_name(OBJ_sn2nid(group.c_str())), "unknown curve", ErrorCode::Unsupported));
  if (BN_is_zero(private_value.get()) || BN_cmp(private_value.get(), EC_GROUP_get0_order(ec_group.get())) >= 0) {
    throw Error(ErrorCode::Malformed, "the private scalar is outside the curve's range");
  }
  // The public point d*G completes the key pair.
  ossl::EcPoint point(ossl::check_ptr(EC_POINT_new(ec_group.get()), "cannot allocate a curve point"));
  ossl::check(EC_POINT_mul(ec_group.get(), point.get(), private_value.get(), nullptr, nullptr, nullptr),
              "curve arithmetic failed");
  std::size_t point_length =
      EC_POINT_point2oct(ec_group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, nullptr, 0, nullptr);
  Bytes encoded_point(point_length);
  if (point_length == 0 || EC_POINT_point2oct(ec_group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED,
                                              encoded_point.data(), encoded_point.size(), nullptr) != point_length) {
    ossl::fail("cannot encode a curve point");
  }
  ossl::ParamBld builder(ossl::check_ptr(OSSL_PARAM_BLD_new(), "cannot allocate parameters"));
  ossl::check(OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(), 0),
              "cannot build key parameters");
  ossl::check(OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, private_value.get()),
              "cannot build key parameters");
  ossl::check(OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, encoded_point.data(),
                                               encoded_point.size()),
              "cannot build key parameters");
  ossl::Params params(ossl::check_ptr(OSSL_PARAM_BLD_to_param(builder.get()), "cannot build key parameters"));
  ossl::PkeyCtx context(ossl::check_ptr(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), "cannot load EC"));
  ossl::check(EVP_PKEY_fromdata_init(context.get()), "cannot build an EC key");
  EVP_PKEY* key = nullptr;
  ossl::check(EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_KEYPAIR, params.get()), "cannot build an EC key");
  return PrivateKey(ossl::Pkey(key));
}

PublicKey PrivateKey::public_key() const {
  // Re-encode only the public part, so the PublicKey never carries the secret.
  unsigned char* out = nullptr;
  int length = i2d_PUBKEY(key_.get(), &out);
  ossl::check(length, "cannot encode a public key");
  ossl::OpensslBytes owned(out);
  return PublicKey::from_spki_der(ByteView(out, static_cast<std::size_t>(length)));
}

KeyFamily PrivateKey::family() const {
  return family_of(key_.get());
}

SecretBytes PrivateKey::ec_scalar() const {
  if (family() != KeyFamily::Ec)
    throw Error(ErrorCode::Usage, "only an EC key has a private scalar");
  BIGNUM* raw = nullptr;
  ossl::check(EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw), "cannot read the private scalar");
  ossl::Bignum scalar(raw);
  SecretBytes out(static_cast<std::size_t>((EVP_PKEY_get_bits(key_.get()) + 7) / 8));
  ossl::check(BN_bn2binpad(scalar.get(), out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()),
              "cannot encode the private scalar");
  return out;
}

SecretBytes PrivateKey::to_pkcs8_der() const {
  ossl::Pkcs8Info info(ossl::check_ptr(EVP_PKEY2PKCS8(key_.get()), "cannot encode a private key"));
  return ossl::pkcs8_der(info.get(), "cannot encode a private key");
}

SecretBytes PrivateKey::to_pkcs8_pem() const {
  ossl::Pkcs8Info info(ossl::check_ptr(EVP_PKEY2PKCS8(key_.get()), "cannot encode a private key"));
  auto bio = ossl::Bio(ossl::check_ptr(BIO_new(BIO_s_secmem()), "cannot allocate a memory BIO"));
  ossl::check(PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio.get(), info.get()), "cannot encode a private key");
  std::string_view pem = ossl::memory_contents(bio.get());
  return SecretBytes(pem.begin(), pem.end());
}

std::string PrivateKey::to_encrypted_pkcs8_pem(const Passphrase& passphrase) const {
  if (passphrase.empty()) {
    throw Error(ErrorCode::Usage, "an empty passphrase cannot protect a key");
  }
  ossl::Pkcs8Info info(ossl::check_ptr(EVP_PKEY2PKCS8(key_.get()), "cannot encode a private key"));
  ossl::X509Algor algorithm(ossl::check_ptr(
      PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), nullptr, kSaltBytes, nullptr, kScryptN, kScryptR, kScryptP),
      "cannot set up key encryption"));
  ossl::X509Sig encrypted(PKCS8_set0_pbe(passphrase.view().data(), static_cast<int>(passphrase.view().size()),
                                         info.get(), algorithm.get()));
  if (!encrypted) {
    ossl::fail("cannot encrypt a private key");
  }
  algorithm.release();  // owned by `encrypted` now
  auto bio = ossl::memory_writer();
  ossl::check(PEM_write_bio_PKCS8(bio.get(), encrypted.get()), "cannot encode an encrypted private key");
  return std::string(ossl::memory_contents(bio.get()));
}

namespace {

// PSS for RSA, so that protocol signatures cannot be confused with PKCS#1
// v1.5 signatures made elsewhere with the same key.
void configure_padding(EVP_PKEY_CTX* context, const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    ossl::check(EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING), "cannot select RSA-PSS");
    ossl::check(EVP_PKEY_CTX_set_rsa_pss_saltlen(context, RSA_PSS_SALTLEN_DIGEST), "cannot set the PSS salt");
  }
}

}  // namespace

Bytes PrivateKey::sign(ByteView data) const {
  ossl::MdCtx context(ossl::check_ptr(EVP_MD_CTX_new(), "cannot allocate a signing context"));
  EVP_PKEY_CTX* key_context = nullptr;
  ossl::check(EVP_DigestSignInit_ex(context.get(), &key_context, "SHA256", nullptr, nullptr, key_.get(), nullptr),
              "cannot start a signature");
  configure_padding(key_context, key_.get());
  std::size_t length = 0;
  ossl::check(EVP_DigestSign(context.get(), nullptr, &length, data.data(), data.size()), "cannot sign");
  Bytes signature(length);
  ossl::check(EVP_DigestSign(context.get(), signature.data(), &length, data.data(), data.size()), "cannot sign");
  signature.resize(length);
  return signature;
}

bool PublicKey::verify(ByteView data, ByteView signature) const {
  ossl::MdCtx context(ossl::check_ptr(EVP_MD_CTX_new(), "cannot allocate a verification context"));
  EVP_PKEY_CTX* key_context = nullptr;
  ossl::check(EVP_DigestVerifyInit_ex(context.get(), &key_context, "SHA256", nullptr, nullptr, key_.get(), nullptr),
              "cannot start a verification");
  configure_padding(key_context, key_.get());
  int result = EVP_DigestVerify(context.get(), signature.data(), signature.size(), data.data(), data.size());
  ossl::take_errors();
  return result == 1;
}

Bytes random_bytes(std::size_t count) {
  Bytes out(count);
  if (count > static_cast<std::size_t>(INT_MAX)) {
    throw Error(ErrorCode::Usage, "too many random bytes requested");
  }
  ossl::check(RAND_bytes(out.data(), static_cast<int>(count)), "random number generator failed");
  return out;
}

std::string random_password() {
  // 32 symbols without 0/O/1/I/l look-alikes: 5 bits a character, 20 characters.
  static constexpr std::string_view kAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  Bytes random = random_bytes(20);
  std::string password;
  for (std::size_t i = 0; i < random.size(); ++i) {
    if (i > 0 && i % 5 == 0) {
      password.push_back('-');
    }
    password.push_back(kAlphabet[random[i] % kAlphabet.size()]);
  }
  return password;
}

void warm_up() {
  if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1)
    ossl::fail("OpenSSL cannot start (its configuration: OPENSSL_CONF, /usr/lib/ssl/openssl.cnf)");
  // Fetched once, a method stays in the default context's store; what is
  // fetched here is what signing, encrypting and reading messages fetch. A
  // method that cannot be fetched is left to the command that needs it,
  // which says so.
  for (const char* digest : {"SHA256", "SHA384", "SHA512", "SHA1"})
    ossl::Md(EVP_MD_fetch(nullptr, digest, nullptr));
  for (const char* cipher : {"AES-256-GCM", "AES-128-GCM", "AES-256-CBC", "AES-128-CBC"})
    ossl::Cipher(EVP_CIPHER_fetch(nullptr, cipher, nullptr));
  for (const char* key_type : {"RSA", "EC", "X25519"})
    ossl::Keymgmt(EVP_KEYMGMT_fetch(nullptr, key_type, nullptr));
  for (const char* signature : {"RSA", "ECDSA"})
    ossl::Signature(EVP_SIGNATURE_fetch(nullptr, signature, nullptr));
  ossl::AsymCipher(EVP_ASYM_CIPHER_fetch(nullptr, "RSA", nullptr));
  for (const char* exchange : {"ECDH", "X25519"})
    ossl::Keyexch(EVP_KEYEXCH_fetch(nullptr, exchange, nullptr));
  // OpenSSL 3.0 builds every provider's decoders the first time a process
  // decodes a key or a certificate (d2i_X509 decodes the public key through
  // them), then finds them in its store: built here once, not in each child.
  // Listing them decodes nothing and reads no key.
  OSSL_DECODER_do_all_provided(
      nullptr, [](OSSL_DECODER*, void*) {}, nullptr);
}

}  // namespace mailseal::crypto
