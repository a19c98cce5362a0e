// Opening encryption layers (RFC 5652 section 6, RFC 5083).

#include <algorithm>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <openssl/err.h>

#include "mailseal/common/error.h"
#include "mailseal/common/secret.h"
#include "smime/internal/bio_sink.h"
#include "smime/internal/cms.h"
#include "smime/internal/reading.h"

namespace mailseal::smime::internal {

namespace {

constexpr int kMaxBerDepth = 64;

// One BER element: header parsed, content located.
struct Element {
  int tag = 0;
  int xclass = 0;
  bool constructed = false;
  bool indefinite = false;
  const unsigned char* start = nullptr;  // the identifier octet
  const unsigned char* content = nullptr;
  const unsigned char* end = nullptr;  // one past the element (for indefinite: past its end-of-contents)
};

bool read_element(const unsigned char* position, const unsigned char* limit, Element& element, int depth);

// Finds the end of an indefinite-length element's content (its EOC octets).
const unsigned char* indefinite_end(const unsigned char* position, const unsigned char* limit, int depth) {
  while (position + 2 <= limit) {
    if (position[0] == 0 && position[1] == 0)
      return position + 2;
    Element child;
    if (!read_element(position, limit, child, depth + 1))
      return nullptr;
    position = child.end;
  }
  return nullptr;
}

bool read_element(const unsigned char* position, const unsigned char* limit, Element& element, int depth) {
  if (depth > kMaxBerDepth || position >= limit)
    return false;
  const unsigned char* cursor = position;
  long length = 0;
  int result = ASN1_get_object(&cursor, &length, &element.tag, &element.xclass, limit - position);
  if (result & 0x80) {
    ERR_clear_error();
    return false;
  }
  element.start = position;
  element.constructed = (result & V_ASN1_CONSTRUCTED) != 0;
  element.indefinite = (result & 0x01) != 0;
  element.content = cursor;
  if (element.indefinite) {
    element.end = indefinite_end(cursor, limit, depth);
    return element.end != nullptr;
  }
  if (length < 0 || length > limit - cursor)
    return false;
  element.end = cursor + length;
  return true;
}

// The children of a constructed element, in order.
std::vector<Element> children(const Element& parent, int depth) {
  std::vector<Element> out;
  const unsigned char* limit = parent.indefinite ? parent.end - 2 : parent.end;
  for (const unsigned char* position = parent.content; position < limit;) {
    Element child;
    if (!read_element(position, limit, child, depth + 1))
      break;
    out.push_back(child);
    position = child.end;
  }
  return out;
}

int object_nid(const Element& element) {
  const unsigned char* cursor = element.start;
  ossl::Asn1Object oid(d2i_ASN1_OBJECT(nullptr, &cursor, element.end - element.start));
  ERR_clear_error();
  return oid ? OBJ_obj2nid(oid.get()) : NID_undef;
}

std::string friendly_cipher_name(int nid) {
  switch (nid) {
    case NID_aes_256_gcm:
      return "AES-256-GCM";
    case NID_aes_192_gcm:
      return "AES-192-GCM";
    case NID_aes_128_gcm:
      return "AES-128-GCM";
    case NID_aes_256_cbc:
      return "AES-256-CBC";
    case NID_aes_192_cbc:
      return "AES-192-CBC";
    case NID_aes_128_cbc:
      return "AES-128-CBC";
    case NID_des_ede3_cbc:
      return "3DES-CBC";
    case NID_rc2_cbc:
      return "RC2-CBC";
    case NID_des_cbc:
      return "DES-CBC";
    case NID_undef:
      return "unknown";
    default:
      return OBJ_nid2ln(nid) ? OBJ_nid2ln(nid) : "unknown";
  }
}

// The recipients of an envelope, for an error message a person can act on.
std::string describe_recipients(CMS_ContentInfo* cms) {
  STACK_OF(CMS_RecipientInfo)* infos = CMS_get0_RecipientInfos(cms);
  std::string out;
  for (int i = 0; infos != nullptr && i < sk_CMS_RecipientInfo_num(infos); ++i) {
    CMS_RecipientInfo* info = sk_CMS_RecipientInfo_value(infos, i);
    X509_NAME* issuer = nullptr;
    ASN1_INTEGER* serial = nullptr;
    ASN1_OCTET_STRING* key_id = nullptr;
    std::string entry;
    if (CMS_RecipientInfo_type(info) == CMS_RECIPINFO_TRANS &&
        CMS_RecipientInfo_ktri_get0_signer_id(info, &key_id, &issuer, &serial) == 1) {
      if (issuer != nullptr) {
        char name[256];
        X509_NAME_oneline(issuer, name, sizeof name);
        ossl::Bignum number(ASN1_INTEGER_to_BN(serial, nullptr));
        ossl::OpensslString hex(number ? BN_bn2hex(number.get()) : nullptr);
        entry = fmt::format("certificate {} issued by {}", hex ? hex.get() : "?", name);
      } else if (key_id != nullptr) {
        entry = fmt::format("key id {}", to_hex(ByteView(ASN1_STRING_get0_data(key_id),
                                                         static_cast<std::size_t>(ASN1_STRING_length(key_id)))));
      }
    } else {
      entry = CMS_RecipientInfo_type(info) == CMS_RECIPINFO_AGREE ? "a key-agreement (EC) recipient"
                                                                  : "a recipient of another kind";
    }
    if (!out.empty())
      out += "; ";
    out += entry;
  }
  ossl::take_errors();
  return out;
}

struct Failure {
  bool unwrap = false;   // a recipientInfo for one of the keys did not open
  bool content = false;  // the content did not decrypt under a key that opened
  std::string unwrap_detail;
  std::string content_detail;
};

// One way into an envelope for one of our keys: the recipientInfo at `info`
// and, for key agreement, its recipientEncryptedKey at `encrypted_key`.
struct Attempt {
  int info = 0;
  int encrypted_key = -1;
};

// Every recipientInfo (and encrypted key) naming `certificate`, by issuer
// and serial number or by key identifier. All of them, not the first: a
// correspondent's certificate may imitate ours (same key identifier, or
// same issuer and serial), and its entry, for a key that is not ours, may
// come first. OpenSSL's CMS_decrypt_set1_pkey_and_peer tries only the first.
std::vector<Attempt> attempts_for(CMS_ContentInfo* cms, const crypto::Certificate& certificate) {
  std::vector<Attempt> attempts;
  STACK_OF(CMS_RecipientInfo)* infos = CMS_get0_RecipientInfos(cms);
  for (int i = 0; infos != nullptr && i < sk_CMS_RecipientInfo_num(infos); ++i) {
    CMS_RecipientInfo* info = sk_CMS_RecipientInfo_value(infos, i);
    if (CMS_RecipientInfo_type(info) == CMS_RECIPINFO_TRANS) {
      if (CMS_RecipientInfo_ktri_cert_cmp(info, certificate.native()) == 0)
        attempts.push_back({i, -1});
    } else if (CMS_RecipientInfo_type(info) == CMS_RECIPINFO_AGREE) {
      STACK_OF(CMS_RecipientEncryptedKey)* keys = CMS_RecipientInfo_kari_get0_reks(info);
      for (int k = 0; keys != nullptr && k < sk_CMS_RecipientEncryptedKey_num(keys); ++k) {
        if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(keys, k), certificate.native()) == 0)
          attempts.push_back({i, k});
      }
    }
  }
  ossl::take_errors();
  return attempts;
}

// Decrypts the content-encryption key of one attempt into `cms`; false when
// it does not open under `key`.
bool open_content_key(CMS_ContentInfo* cms, const Attempt& attempt, const DecryptionKey& key) {
  CMS_RecipientInfo* info = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms), attempt.info);
  EVP_PKEY* private_key = key.key->native();
  int opened = 0;
  if (attempt.encrypted_key < 0) {
    // set0 takes the reference it is given and releases it when cleared.
    EVP_PKEY_up_ref(private_key);
    if (CMS_RecipientInfo_set0_pkey(info, private_key) == 1)
      opened = CMS_RecipientInfo_decrypt(cms, info);
    CMS_RecipientInfo_set0_pkey(info, nullptr);
  } else {
    CMS_RecipientEncryptedKey* encrypted_key =
        sk_CMS_RecipientEncryptedKey_value(CMS_RecipientInfo_kari_get0_reks(info), attempt.encrypted_key);
    if (CMS_RecipientInfo_kari_set0_pkey_and_peer(info, private_key, nullptr) == 1)
      opened = CMS_RecipientInfo_kari_decrypt(cms, info, encrypted_key);
    CMS_RecipientInfo_kari_set0_pkey(info, nullptr);
  }
  return opened > 0;
}

// Decrypts the content under the key an attempt opened; nullopt (recorded in
// `failure`, nothing of the plaintext kept) when CBC padding or the GCM tag
// fails.
std::optional<std::string> decrypt_content(CMS_ContentInfo* cms, std::size_t size, Failure& failure) {
  // The plaintext is no longer than the ciphertext: one allocation, no copy.
  StringSink plaintext;
  plaintext.reserve(size);
  SinkBio out(plaintext);
  if (CMS_decrypt(cms, nullptr, nullptr, nullptr, out.get(), CMS_BINARY) != 1) {
    failure.content = true;
    failure.content_detail = ossl::take_errors();
    out.rethrow_if_failed();
    std::string partial = plaintext.take();
    secure_wipe(partial.data(), partial.size());
    return std::nullopt;
  }
  out.rethrow_if_failed();
  return plaintext.take();
}

// Content that fails under a key that opened was changed after it was
// encrypted: with AES-GCM the tag says so for certain (RFC 5083).
void throw_decrypt_failure(const Decryption& result, const Failure& failure) {
  if (failure.content && result.authenticated) {
    throw Error(ErrorCode::BadSignature,
                fmt::format("the message was altered in transit: it is encrypted to this profile and its key opens, "
                            "but the {} authentication tag of its content does not match; nothing was written",
                            result.cipher),
                "ask the sender to send it again");
  }
  if (failure.content) {
    throw Error(
        ErrorCode::BadSignature,
        fmt::format("the message was damaged or altered in transit: it is encrypted to this profile and its "
                    "key opens, but its {} content does not decrypt cleanly{}; nothing was written",
                    result.cipher, failure.content_detail.empty() ? "" : fmt::format(" ({})", failure.content_detail)),
        "ask the sender to send it again");
  }
  if (failure.unwrap) {
    throw Error(ErrorCode::BadSignature,
                fmt::format("the message is encrypted to this profile, but its key part does not decrypt (damaged or "
                            "tampered with){}",
                            failure.unwrap_detail.empty() ? "" : fmt::format(": {}", failure.unwrap_detail)));
  }
}

// The one GCM parameter set mailseal accepts (docs/smime.md, "Encryption"):
// a 16-byte authentication tag, which OpenSSL, NSS and Outlook write. RFC
// 5084 allows 12 to 16, but OpenSSL checks a shorter tag as it stands, so a
// sender's structure naming 1 or 4 bytes would let a forger succeed once in
// 256 or 2^32 tries.
constexpr std::size_t kGcmTagBytes = 16;
constexpr std::size_t kGcmNonceBytes = 12;
constexpr long kGcmDefaultIcvLength = 12;  // aes-ICVlen DEFAULT 12 (RFC 5084)

long small_integer(const Element& element) {
  if (element.tag != V_ASN1_INTEGER || element.end - element.content < 1 || element.end - element.content > 2 ||
      (element.content[0] & 0x80) != 0) {
    return -1;
  }
  long value = 0;
  for (const unsigned char* c = element.content; c < element.end; ++c)
    value = (value << 8) | *c;
  return value;
}

// The nonce, ICV length and mac of an AuthEnvelopedData (RFC 5083, 5084):
// anything but a 12-byte nonce, aes-ICVlen 16 and a 16-byte mac is refused
// before any key is tried. ContentInfo { contentType, [0] AuthEnvelopedData {
// version, [0] originatorInfo OPTIONAL, recipientInfos, authEncryptedContentInfo
// { contentType, { algorithm, GCMParameters { aes-nonce, aes-ICVlen } }, ... },
// [1] authAttrs OPTIONAL, mac OCTET STRING, ... } }
void check_gcm_parameters(ByteView der, const std::string& cipher) {
  auto refuse = [&](const std::string& what) {
    throw Error(ErrorCode::BadSignature,
                fmt::format("the message was altered in transit or made to be forged: its {} content {}; mailseal "
                            "accepts only a {}-byte nonce and a {}-byte authentication tag, and nothing was written",
                            cipher, what, kGcmNonceBytes, kGcmTagBytes),
                "ask the sender to send it again");
  };
  Element info;
  if (!read_element(der.data(), der.data() + der.size(), info, 0))
    refuse("cannot be read");
  auto top = children(info, 0);
  auto explicit_content = top.size() < 2 ? std::vector<Element>{} : children(top[1], 1);
  auto envelope = explicit_content.empty() ? std::vector<Element>{} : children(explicit_content[0], 2);
  const Element* content_info = nullptr;
  const Element* mac = nullptr;
  for (const auto& field : envelope) {
    if (field.xclass != V_ASN1_UNIVERSAL)
      continue;
    if (field.tag == V_ASN1_SEQUENCE && content_info == nullptr)
      content_info = &field;
    else if (field.tag == V_ASN1_OCTET_STRING && content_info != nullptr && mac == nullptr)
      mac = &field;
  }
  if (content_info == nullptr || mac == nullptr || mac->constructed)
    refuse("has no authentication tag");
  if (static_cast<std::size_t>(mac->end - mac->content) != kGcmTagBytes)
    refuse(fmt::format("has a {}-byte authentication tag", mac->end - mac->content));
  auto encrypted = children(*content_info, 3);
  auto algorithm = encrypted.size() < 2 ? std::vector<Element>{} : children(encrypted[1], 4);
  auto parameters = algorithm.size() < 2 || algorithm[1].tag != V_ASN1_SEQUENCE ? std::vector<Element>{}
                                                                                 : children(algorithm[1], 5);
  if (parameters.empty() || parameters[0].tag != V_ASN1_OCTET_STRING || parameters[0].constructed ||
      static_cast<std::size_t>(parameters[0].end - parameters[0].content) != kGcmNonceBytes) {
    refuse("does not have a 12-byte nonce");
  }
  long icv_length = parameters.size() > 1 ? small_integer(parameters[1]) : kGcmDefaultIcvLength;
  if (parameters.size() > 2 || icv_length != static_cast<long>(kGcmTagBytes))
    refuse(fmt::format("names a {}-byte authentication tag (aes-ICVlen)", icv_length));
}

}  // namespace

int cms_content_type(ByteView der) {
  Element info;
  if (!read_element(der.data(), der.data() + der.size(), info, 0) || !info.constructed)
    return NID_undef;
  auto parts = children(info, 0);
  if (parts.empty() || parts[0].tag != V_ASN1_OBJECT)
    return NID_undef;
  return object_nid(parts[0]);
}

std::string content_encryption_algorithm(ByteView der) {
  // ContentInfo { contentType, [0] EXPLICIT (Auth)EnvelopedData { version,
  // [0] originatorInfo OPTIONAL, recipientInfos SET, encryptedContentInfo {
  // contentType, contentEncryptionAlgorithm { algorithm, ... } } } }
  Element info;
  if (!read_element(der.data(), der.data() + der.size(), info, 0))
    return "unknown";
  auto top = children(info, 0);
  if (top.size() < 2)
    return "unknown";
  auto explicit_content = children(top[1], 1);
  if (explicit_content.empty())
    return "unknown";
  auto envelope = children(explicit_content[0], 2);
  for (const auto& field : envelope) {
    if (field.tag == V_ASN1_SEQUENCE && field.xclass == V_ASN1_UNIVERSAL) {
      auto content_info = children(field, 3);
      if (content_info.size() < 2)
        break;
      auto algorithm = children(content_info[1], 4);
      if (algorithm.empty() || algorithm[0].tag != V_ASN1_OBJECT)
        break;
      return friendly_cipher_name(object_nid(algorithm[0]));
    }
  }
  return "unknown";
}

Decryption decrypt_envelope(ByteView der, std::span<const DecryptionKey> keys) {
  int type = cms_content_type(der);
  if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) {
    throw Error(ErrorCode::Malformed, "the encrypted part is not an enveloped-data structure");
  }
  Decryption result;
  result.cipher = content_encryption_algorithm(der);
  // RC2 and single DES are broken; OpenSSL 3 does not even load them by default.
  static constexpr std::string_view kReadable[] = {"AES-256-GCM", "AES-192-GCM", "AES-128-GCM", "AES-256-CBC",
                                                   "AES-192-CBC", "AES-128-CBC", "3DES-CBC"};
  if (std::find(std::begin(kReadable), std::end(kReadable), result.cipher) == std::end(kReadable)) {
    throw Error(ErrorCode::Unsupported,
                fmt::format("the message is encrypted with {}, an obsolete or unknown cipher mailseal does not decrypt",
                            result.cipher));
  }
  result.authenticated = type == NID_id_smime_ct_authEnvelopedData;
  if (result.authenticated)
    check_gcm_parameters(der, result.cipher);
  // What failed decides the message: a key part of ours that does not open,
  // or content that does not decrypt under a key that did open. (OpenSSL may
  // leave no error behind for a GCM tag that does not match: the flags
  // decide, not the error text.)
  Failure failure;
  for (const auto& key : keys) {
    const std::vector<Attempt> attempts = attempts_for(read_cms(der).get(), key.certificate);
    for (const Attempt& attempt : attempts) {
      // A fresh structure for each attempt: a failed one may leave state behind.
      ossl::Cms cms = read_cms(der);
      if (!open_content_key(cms.get(), attempt, key)) {
        failure.unwrap = true;  // the message names this key, but its key part did not decrypt
        failure.unwrap_detail = ossl::take_errors();
        continue;
      }
      if (std::optional<std::string> plaintext = decrypt_content(cms.get(), der.size(), failure)) {
        result.plaintext = std::move(*plaintext);
        return result;
      }
    }
  }
  throw_decrypt_failure(result, failure);
  throw Error(ErrorCode::NoMatchingKey,
              fmt::format("the message is not encrypted to any of the {} key{} of this profile; it is for: {}",
                          keys.size(), keys.size() == 1 ? "" : "s", describe_recipients(read_cms(der).get())));
}

}  // namespace mailseal::smime::internal
