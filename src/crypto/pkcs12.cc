#include "mailseal/crypto/pkcs12.h"

#include <algorithm>

#include <fmt/format.h>

#include <openssl/pem.h>

#include "common/openssl.h"
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
        unsigned char* der = nullptr;
        int length = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
        ossl::check(length, "damaged private key in the PKCS#12", ErrorCode::Malformed);
        out.keys.emplace_back(der, der + length);
        OPENSSL_clear_free(der, static_cast<std::size_t>(length));
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

Bytes write_pkcs12(std::span<const Pkcs12Identity> identities, const Passphrase& password,
                   Pkcs12Protection protection) {
  if (identities.empty()) {
    throw Error(ErrorCode::Usage, "nothing to put in the PKCS#12");
  }
  const bool legacy = protection == Pkcs12Protection::Legacy;
  const int encryption = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
  const int iterations = legacy ? kLegacyIterations : kModernIterations;
  std::string pass(password.view());

  ossl::SafeBagStack certificate_bags;
  ossl::SafeBagStack key_bags;
  std::vector<Certificate> added;
  auto add_certificate = [&](const Certificate& certificate) -> PKCS12_SAFEBAG* {
    STACK_OF(PKCS12_SAFEBAG)* bags = certificate_bags.release();
    PKCS12_SAFEBAG* bag = PKCS12_add_cert(&bags, certificate.native());
    certificate_bags.reset(bags);
    ossl::check_ptr(bag, "cannot add a certificate to the PKCS#12");
    added.push_back(certificate);
    return bag;
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
    STACK_OF(PKCS12_SAFEBAG)* bags = key_bags.release();
    PKCS12_SAFEBAG* key_bag = PKCS12_add_key(&bags, identity.key.native(), 0, iterations, encryption, pass.c_str());
    key_bags.reset(bags);
    ossl::check_ptr(key_bag, "cannot add a private key to the PKCS#12");
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
  ossl::Pkcs7Stack safes;
  STACK_OF(PKCS7)* raw_safes = nullptr;
  // Certificates in an encrypted safe, keys (already shrouded) in a data safe,
  // as OpenSSL, NSS and Windows lay them out.
  int ok = PKCS12_add_safe(&raw_safes, certificate_bags.get(), encryption, iterations, pass.c_str());
  safes.reset(raw_safes);
  ossl::check(ok, "cannot encrypt the certificates of the PKCS#12");
  raw_safes = safes.release();
  ok = PKCS12_add_safe(&raw_safes, key_bags.get(), -1, 0, nullptr);
  safes.reset(raw_safes);
  ossl::check(ok, "cannot add the keys to the PKCS#12");
  ossl::Pkcs12 pkcs12(ossl::check_ptr(PKCS12_add_safes(safes.get(), 0), "cannot assemble the PKCS#12"));
  ossl::check(
      PKCS12_set_mac(pkcs12.get(), pass.c_str(), -1, nullptr, 0, iterations, legacy ? EVP_sha1() : EVP_sha256()),
      "cannot protect the PKCS#12 with a MAC");
  secure_wipe(pass.data(), pass.size());
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
