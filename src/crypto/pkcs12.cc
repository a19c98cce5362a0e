#include "mailseal/crypto/pkcs12.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/openssl.h"
#include "crypto/internal/gpgsm_compat.h"
#include "mailseal/common/error.h"

namespace mailseal::crypto {

namespace {

// PBKDF2 iterations for the modern profile; clients import this quickly and it
// costs an attacker 2^17 HMACs a guess.
constexpr int kModernIterations = 100000;
// gpgsm 2.2 and NSS handle the legacy file with the customary count.
constexpr int kLegacyIterations = 2048;
constexpr int kMaxBagDepth = 4;
constexpr std::size_t kMaxBags = 1000;

// Makes `context` the calling thread's default library context while alive,
// so that the legacy provider (RC2-40, needed for old files) serves only the
// PKCS#12 being read and never the rest of mailseal.
class ScopedDefaultContext {
 public:
  explicit ScopedDefaultContext(OSSL_LIB_CTX* context) : previous_(OSSL_LIB_CTX_set0_default(context)) {
    ossl::check_ptr(previous_, "cannot switch the OpenSSL library context");
  }
  ScopedDefaultContext(const ScopedDefaultContext&) = delete;
  ScopedDefaultContext& operator=(const ScopedDefaultContext&) = delete;
  ~ScopedDefaultContext() { OSSL_LIB_CTX_set0_default(previous_); }

 private:
  OSSL_LIB_CTX* previous_;
};

struct RawContents {
  std::vector<SecretBytes> keys;  // PKCS#8 DER
  std::vector<Bytes> certificates;
  std::vector<std::string> key_names;
};

std::string friendly_name_of(const PKCS12_SAFEBAG* bag) {
  ossl::OpensslString name(PKCS12_get_friendlyname(const_cast<PKCS12_SAFEBAG*>(bag)));
  return name ? std::string(name.get()) : std::string();
}

void collect_bags(const STACK_OF(PKCS12_SAFEBAG) * bags, const char* password, int password_length, int depth,
                  RawContents& out) {
  if (depth > kMaxBagDepth) {
    throw Error(ErrorCode::Malformed, "PKCS#12 nests safe contents too deeply");
  }
  for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); ++i) {
    if (out.keys.size() + out.certificates.size() > kMaxBags) {
      throw Error(ErrorCode::Malformed, "PKCS#12 holds too many items");
    }
    const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, i);
    switch (PKCS12_SAFEBAG_get_nid(bag)) {
      case NID_keyBag:
      case NID_pkcs8ShroudedKeyBag: {
        ossl::Pkcs8Info decrypted;
        const PKCS8_PRIV_KEY_INFO* info = nullptr;
        if (PKCS12_SAFEBAG_get_nid(bag) == NID_keyBag) {
          info = PKCS12_SAFEBAG_get0_p8inf(bag);
        } else {
          decrypted.reset(PKCS12_decrypt_skey(bag, password, password_length));
          if (!decrypted) {
            ossl::fail("cannot decrypt a private key in the PKCS#12 (wrong password or unsupported algorithm)",
                       ErrorCode::BadPassword);
          }
          info = decrypted.get();
        }
        out.keys.push_back(ossl::pkcs8_der(info, "damaged private key in the PKCS#12", ErrorCode::Malformed));
        out.key_names.push_back(friendly_name_of(bag));
        break;
      }
      case NID_certBag: {
        if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate) {
          break;  // SDSI or other certificate types: not for S/MIME
        }
        ossl::X509Cert certificate(PKCS12_SAFEBAG_get1_cert(bag));
        if (!certificate) {
          ossl::fail("damaged certificate in the PKCS#12", ErrorCode::Malformed);
        }
        unsigned char* der = nullptr;
        int length = i2d_X509(certificate.get(), &der);
        ossl::check(length, "damaged certificate in the PKCS#12", ErrorCode::Malformed);
        ossl::OpensslBytes owned(der);
        out.certificates.emplace_back(der, der + length);
        break;
      }
      case NID_safeContentsBag:
        collect_bags(PKCS12_SAFEBAG_get0_safes(bag), password, password_length, depth + 1, out);
        break;
      default:
        break;  // CRL and secret bags carry nothing mailseal uses
    }
  }
}

// Some tools (gpgsm, the LAMPS samples) armor PKCS#12 as "-----BEGIN PKCS12-----".
Bytes unarmor(ByteView data) {
  static constexpr std::string_view kPemLabel = "PKCS12";
  if (as_string_view(data).find("-----BEGIN PKCS12-----") == std::string_view::npos) {
    return Bytes(data.begin(), data.end());
  }
  auto bio = ossl::memory_reader(data.data(), data.size());
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* body = nullptr;
    long length = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &body, &length) != 1) {
      ossl::take_errors();
      throw Error(ErrorCode::Malformed, "damaged PEM armor around the PKCS#12");
    }
    ossl::OpensslString owned_name(name);
    ossl::OpensslString owned_header(header);
    ossl::OpensslBytes owned_body(body);
    if (kPemLabel == name) {
      return Bytes(body, body + length);
    }
  }
}

RawContents read_raw(ByteView armored, const Passphrase& password) {
  Bytes data = unarmor(armored);
  ossl::LibCtx context(ossl::check_ptr(OSSL_LIB_CTX_new(), "cannot create an OpenSSL library context"));
  ossl::Provider default_provider(
      ossl::check_ptr(OSSL_PROVIDER_load(context.get(), "default"), "cannot load OpenSSL's default provider"));
  // Without the legacy provider (absent on some systems), modern files still read.
  ossl::Provider legacy_provider(OSSL_PROVIDER_load(context.get(), "legacy"));
  ossl::take_errors();
  ScopedDefaultContext use_context(context.get());

  const unsigned char* cursor = data.data();
  ossl::Pkcs12 pkcs12(d2i_PKCS12(nullptr, &cursor, static_cast<long>(data.size())));
  if (!pkcs12 || cursor != data.data() + data.size()) {
    ossl::take_errors();
    throw Error(ErrorCode::Malformed, "not a PKCS#12 file, or the file is damaged or truncated");
  }
  // RFC 7292 leaves an empty password ambiguous between no bytes and a lone
  // terminator; clients write both, so try both.
  const char* pass = password.view().data();
  int pass_length = static_cast<int>(password.view().size());
  if (password.empty()) {
    pass = "";
    pass_length = 0;
  }
  if (PKCS12_mac_present(pkcs12.get())) {
    if (PKCS12_verify_mac(pkcs12.get(), pass, pass_length) != 1) {
      if (password.empty() && PKCS12_verify_mac(pkcs12.get(), nullptr, 0) == 1) {
        pass = nullptr;
      } else {
        ossl::take_errors();
        throw Error(ErrorCode::BadPassword, "wrong password for the PKCS#12 file (or the file was modified)",
                    "give the password with --password-file FILE");
      }
    }
  }
  ossl::Pkcs7Stack safes(PKCS12_unpack_authsafes(pkcs12.get()));
  if (!safes) {
    ossl::fail("damaged PKCS#12 contents", ErrorCode::Malformed);
  }
  RawContents raw;
  for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
    PKCS7* safe = sk_PKCS7_value(safes.get(), i);
    ossl::SafeBagStack bags;
    switch (OBJ_obj2nid(safe->type)) {
      case NID_pkcs7_data:
        bags.reset(PKCS12_unpack_p7data(safe));
        break;
      case NID_pkcs7_encrypted:
        bags.reset(PKCS12_unpack_p7encdata(safe, pass, pass_length));
        break;
      default:
        continue;
    }
    if (!bags) {
      ossl::fail("cannot read part of the PKCS#12 (wrong password, damaged file or unsupported encryption)",
                 ErrorCode::Malformed);
    }
    collect_bags(bags.get(), pass, pass_length, 0, raw);
  }
  return raw;
}

}  // namespace

namespace internal {

// gpgsm 2.2's PKCS#12 key derivation (RFC 7292 appendix B.2) writes each
// updated 64-byte block I_j with gcry_mpi_print, which drops a leading zero
// byte instead of keeping it: whenever I_j + B + 1 (mod 2^512) starts with a
// zero byte, gpgsm derives the wrong 3DES key and refuses the file ("decryption
// failed"), about once in 64 files. This replays the derivation's first step
// for a salt so that mailseal only uses salts gpgsm handles correctly.
bool gpgsm_derives_correctly(std::string_view password, ByteView salt, int iterations) {
  constexpr std::size_t kBlock = 64;
  std::array<std::uint8_t, 2 * kBlock> input{};
  for (std::size_t i = 0; i < kBlock; ++i)
    input[i] = salt[i % salt.size()];
  // The password as gpgsm lays it out: 00 c for each character, then the
  // terminator, repeated.
  for (std::size_t i = 0, j = 0; i < kBlock; i += 2) {
    input[kBlock + i] = 0;
    input[kBlock + i + 1] = j < password.size() ? static_cast<std::uint8_t>(password[j]) : 0;
    if (++j > password.size())
      j = 0;
  }
  std::array<std::uint8_t, kBlock> diversifier;
  diversifier.fill(1);  // ID 1: key material
  unsigned char hash[SHA_DIGEST_LENGTH];
  ossl::MdCtx context(ossl::check_ptr(EVP_MD_CTX_new(), "cannot allocate a digest"));
  ossl::check(EVP_DigestInit_ex(context.get(), EVP_sha1(), nullptr), "SHA-1 failed");
  ossl::check(EVP_DigestUpdate(context.get(), diversifier.data(), diversifier.size()), "SHA-1 failed");
  ossl::check(EVP_DigestUpdate(context.get(), input.data(), input.size()), "SHA-1 failed");
  ossl::check(EVP_DigestFinal_ex(context.get(), hash, nullptr), "SHA-1 failed");
  for (int i = 1; i < iterations; ++i) {
    ossl::check(EVP_Digest(hash, sizeof hash, hash, nullptr, EVP_sha1(), nullptr), "SHA-1 failed");
  }
  // B + 1, big-endian over 64 bytes.
  std::array<std::uint8_t, kBlock> b_plus_one;
  for (std::size_t i = 0; i < kBlock; ++i)
    b_plus_one[i] = hash[i % sizeof hash];
  for (std::size_t i = kBlock; i-- > 0;) {
    if (++b_plus_one[i] != 0)
      break;
  }
  for (std::size_t block = 0; block < 2; ++block) {
    unsigned carry = 0;
    std::uint8_t top = 0;
    for (std::size_t i = kBlock; i-- > 0;) {
      unsigned sum = input[block * kBlock + i] + b_plus_one[i] + carry;
      carry = sum >> 8;
      if (i == 0)
        top = static_cast<std::uint8_t>(sum & 0xff);
    }
    if (top == 0)
      return false;
  }
  return true;
}

}  // namespace internal

namespace {

constexpr std::size_t kLegacySaltBytes = 8;
constexpr std::size_t kModernSaltBytes = 16;
// gpgsm 2.2 keeps the password in a 64-byte buffer as UCS-2 with its terminator.
constexpr std::size_t kGpgsmMaxPassword = 31;

Bytes choose_salt(Pkcs12Protection protection, std::string_view password, int iterations) {
  if (protection == Pkcs12Protection::Modern) {
    return random_bytes(kModernSaltBytes);
  }
  for (int attempt = 0; attempt < 64; ++attempt) {
    Bytes salt = random_bytes(kLegacySaltBytes);
    if (internal::gpgsm_derives_correctly(password, salt, iterations))
      return salt;
  }
  // Each attempt fails with probability about 1/128.
  throw Error(ErrorCode::Internal, "could not find a salt gpgsm reads correctly");
}

}  // namespace

Bytes write_pkcs12(std::span<const Pkcs12Identity> identities, const Passphrase& password,
                   Pkcs12Protection protection) {
  if (identities.empty()) {
    throw Error(ErrorCode::Usage, "nothing to put in the PKCS#12");
  }
  const bool legacy = protection == Pkcs12Protection::Legacy;
  const int encryption = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
  const int iterations = legacy ? kLegacyIterations : kModernIterations;
  // OpenSSL wants the password NUL-terminated; the copy lives in a wiping
  // buffer, so no path (an exception included) leaves it in freed memory.
  const std::string_view text = password.view();
  SecretBytes terminated(text.begin(), text.end());
  terminated.push_back(0);
  const std::string_view pass(reinterpret_cast<const char*>(terminated.data()), text.size());
  if (legacy && (pass.size() > kGpgsmMaxPassword ||
                 std::any_of(pass.begin(), pass.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))) {
    throw Error(ErrorCode::Usage,
                "the legacy PKCS#12 (for gpgsm 2.2) needs an ASCII password of at most 31 characters");
  }

  ossl::SafeBagStack certificate_bags(ossl::check_ptr(sk_PKCS12_SAFEBAG_new_null(), "cannot allocate bags"));
  ossl::SafeBagStack key_bags(ossl::check_ptr(sk_PKCS12_SAFEBAG_new_null(), "cannot allocate bags"));
  auto push = [](ossl::SafeBagStack& stack, PKCS12_SAFEBAG* created) {
    ossl::Pkcs12SafeBag bag(ossl::check_ptr(created, "cannot build a PKCS#12 bag"));
    ossl::check(sk_PKCS12_SAFEBAG_push(stack.get(), bag.get()), "cannot add a PKCS#12 bag");
    return bag.release();  // the stack holds it now
  };
  std::vector<Certificate> added;
  auto add_certificate = [&](const Certificate& certificate) {
    added.push_back(certificate);
    return push(certificate_bags, PKCS12_SAFEBAG_create_cert(certificate.native()));
  };
  for (const auto& identity : identities) {
    // localKeyID = SHA-1 of the certificate, the convention clients match on.
    unsigned char key_id[EVP_MAX_MD_SIZE];
    unsigned int key_id_length = 0;
    ossl::check(X509_digest(identity.certificate.native(), EVP_sha1(), key_id, &key_id_length),
                "cannot compute a key identifier");
    PKCS12_SAFEBAG* certificate_bag = add_certificate(identity.certificate);
    ossl::check(PKCS12_add_localkeyid(certificate_bag, key_id, static_cast<int>(key_id_length)),
                "cannot label a certificate");
    ossl::Pkcs8Info info(ossl::check_ptr(EVP_PKEY2PKCS8(identity.key.native()), "cannot encode a private key"));
    Bytes salt = choose_salt(protection, pass, iterations);
    PKCS12_SAFEBAG* key_bag = push(key_bags, PKCS12_SAFEBAG_create_pkcs8_encrypt(
                                                 encryption, pass.data(), static_cast<int>(pass.size()), salt.data(),
                                                 static_cast<int>(salt.size()), iterations, info.get()));
    ossl::check(PKCS12_add_localkeyid(key_bag, key_id, static_cast<int>(key_id_length)), "cannot label a key");
    if (!identity.friendly_name.empty()) {
      ossl::check(PKCS12_add_friendlyname_utf8(certificate_bag, identity.friendly_name.c_str(), -1),
                  "cannot name a certificate");
      ossl::check(PKCS12_add_friendlyname_utf8(key_bag, identity.friendly_name.c_str(), -1), "cannot name a key");
    }
  }
  for (const auto& identity : identities) {
    for (const auto& certificate : identity.chain) {
      if (std::find(added.begin(), added.end(), certificate) == added.end()) {
        add_certificate(certificate);
      }
    }
  }
  // Certificates in an encrypted safe, keys (already shrouded) in a data safe,
  // as OpenSSL, NSS and Windows lay them out.
  ossl::Pkcs7Stack safes(ossl::check_ptr(sk_PKCS7_new_null(), "cannot allocate safes"));
  Bytes salt = choose_salt(protection, pass, iterations);
  auto add_safe = [&safes](PKCS7* created, std::string_view what) {
    ossl::Pkcs7 safe(ossl::check_ptr(created, what));
    ossl::check(sk_PKCS7_push(safes.get(), safe.get()), "cannot assemble the PKCS#12");
    safe.release();  // the stack holds it now
  };
  add_safe(PKCS12_pack_p7encdata(encryption, pass.data(), static_cast<int>(pass.size()), salt.data(),
                                 static_cast<int>(salt.size()), iterations, certificate_bags.get()),
           "cannot encrypt the certificates of the PKCS#12");
  add_safe(PKCS12_pack_p7data(key_bags.get()), "cannot add the keys to the PKCS#12");
  ossl::Pkcs12 pkcs12(ossl::check_ptr(PKCS12_add_safes(safes.get(), 0), "cannot assemble the PKCS#12"));
  ossl::check(PKCS12_set_mac(pkcs12.get(), pass.data(), static_cast<int>(pass.size()), nullptr, 0, iterations,
                             legacy ? EVP_sha1() : EVP_sha256()),
              "cannot protect the PKCS#12 with a MAC");
  unsigned char* der = nullptr;
  int length = i2d_PKCS12(pkcs12.get(), &der);
  ossl::check(length, "cannot encode the PKCS#12");
  ossl::OpensslBytes owned(der);
  return Bytes(der, der + length);
}

Pkcs12Contents read_pkcs12(ByteView data, const Passphrase& password) {
  RawContents raw = read_raw(data, password);
  // Rebuild every object in the ordinary library context.
  std::vector<Certificate> certificates;
  for (const auto& der : raw.certificates) {
    certificates.push_back(Certificate::from_der(der));
  }
  Pkcs12Contents contents;
  std::vector<bool> used(certificates.size(), false);
  for (std::size_t k = 0; k < raw.keys.size(); ++k) {
    PrivateKey key = PrivateKey::from_pkcs8_der(raw.keys[k]);
    PublicKey public_key = key.public_key();
    auto match = std::find_if(certificates.begin(), certificates.end(),
                              [&](const Certificate& certificate) { return certificate.public_key() == public_key; });
    if (match == certificates.end()) {
      throw Error(ErrorCode::Malformed, "the PKCS#12 holds a private key without its certificate");
    }
    used[static_cast<std::size_t>(match - certificates.begin())] = true;
    contents.identities.push_back(Pkcs12Identity{std::move(key), *match, {}, raw.key_names[k]});
  }
  for (auto& identity : contents.identities) {
    identity.chain = build_chain(identity.certificate, certificates);
    for (const auto& link : identity.chain) {
      used[static_cast<std::size_t>(std::find(certificates.begin(), certificates.end(), link) - certificates.begin())] =
          true;
    }
  }
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    if (!used[i]) {
      contents.other_certificates.push_back(certificates[i]);
    }
  }
  return contents;
}

}  // namespace mailseal::crypto
