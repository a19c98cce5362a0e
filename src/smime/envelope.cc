// Opening encryption layers (RFC 5652 section 6, RFC 5083).

#include <algorithm>
#include <deque>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <openssl/err.h>

#include "mailseal/common/error.h"
#include "mailseal/common/secret.h"
#include "smime/internal/bio_sink.h"
#include "smime/internal/cms.h"
#include "smime/internal/envelope_reader.h"
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
// More ways into one envelope for our keys than this are refused: a message
// names a key once or twice (by issuer and serial, by key identifier).
constexpr std::size_t kMaxCandidates = 4;
constexpr std::size_t kChunkBytes = 64 * 1024;

[[noreturn]] void refuse_gcm(const std::string& cipher, const std::string& what) {
  throw Error(ErrorCode::BadSignature,
              fmt::format("the message was altered in transit or made to be forged: its {} content {}; mailseal "
                          "accepts only a {}-byte nonce and a {}-byte authentication tag, and nothing was written",
                          cipher, what, kGcmNonceBytes, kGcmTagBytes),
              "ask the sender to send it again");
}

// The contents of a primitive element held in memory, or nullopt when it is
// not one of `tag`.
std::optional<Bytes> primitive(ByteView element, std::uint32_t tag) {
  MemorySource source(element);
  BerReader reader(source, element.size());
  std::optional<BerHeader> header = reader.next();
  if (!header || header->constructed || !header->is_universal(tag))
    return std::nullopt;
  return reader.read_primitive(element.size(), "element");
}

// RFC 5084 GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen
// INTEGER DEFAULT 12 }: anything but a 12-byte nonce and aes-ICVlen 16 is
// refused before any key is tried.
void check_gcm_parameters(const EnvelopeHead& head, const std::string& cipher) {
  std::vector<Bytes> algorithm = element_children(head.algorithm, 4);
  std::vector<Bytes> parameters;
  if (algorithm.size() == 2 && !algorithm[1].empty() && algorithm[1][0] == 0x30)
    parameters = element_children(algorithm[1], 4);
  std::optional<Bytes> nonce = parameters.empty() ? std::nullopt : primitive(parameters[0], kTagOctetString);
  if (!nonce || nonce->size() != kGcmNonceBytes)
    refuse_gcm(cipher, "does not have a 12-byte nonce");
  long icv_length = kGcmDefaultIcvLength;
  if (parameters.size() > 1) {
    std::optional<Bytes> value = primitive(parameters[1], kTagInteger);
    icv_length = -1;
    if (value && !value->empty() && value->size() <= 2 && ((*value)[0] & 0x80) == 0) {
      icv_length = 0;
      for (std::uint8_t octet : *value)
        icv_length = (icv_length << 8) | octet;
    }
  }
  if (parameters.size() > 2 || icv_length != static_cast<long>(kGcmTagBytes))
    refuse_gcm(cipher, fmt::format("names a {}-byte authentication tag (aes-ICVlen)", icv_length));
}

// One way into the envelope that opened: OpenSSL unwrapped (or agreed) the
// content-encryption key, and its cipher context, keyed, decrypts the content.
struct Candidate {
  ossl::Cms cms;
  ossl::Bio chain;  // CMS_dataInit's cipher BIO; its context is used directly
  EVP_CIPHER_CTX* context = nullptr;
  bool failed = false;
};

// The cipher context for the key an attempt opened in `cms`, or nullopt.
std::optional<Candidate> keyed_candidate(ossl::Cms cms) {
  ossl::Bio empty(BIO_new(BIO_s_null()));
  BIO* chain = empty ? CMS_dataInit(cms.get(), empty.get()) : nullptr;
  if (chain == nullptr)
    return std::nullopt;
  empty.release();  // now the end of the chain
  Candidate candidate{std::move(cms), ossl::Bio(chain)};
  if (BIO_get_cipher_ctx(chain, &candidate.context) != 1 || candidate.context == nullptr)
    return std::nullopt;
  return candidate;
}

// Every way into the envelope for `keys` that opens.
std::vector<Candidate> open_candidates(ByteView header_only, std::span<const DecryptionKey> keys, Failure& failure) {
  std::vector<Candidate> candidates;
  for (const auto& key : keys) {
    const std::vector<Attempt> attempts = attempts_for(read_cms(header_only).get(), key.certificate);
    for (const Attempt& attempt : attempts) {
      // A fresh structure for each attempt: a failed one may leave state behind.
      ossl::Cms cms = read_cms(header_only);
      if (!open_content_key(cms.get(), attempt, key)) {
        failure.unwrap = true;  // the message names this key, but its key part did not decrypt
        failure.unwrap_detail = ossl::take_errors();
        continue;
      }
      std::optional<Candidate> candidate = keyed_candidate(std::move(cms));
      if (!candidate) {
        failure.content = true;
        failure.content_detail = ossl::take_errors();
        continue;
      }
      if (candidates.size() == kMaxCandidates) {
        throw Error(ErrorCode::Malformed,
                    fmt::format("the message names the keys of this profile more than {} times; it is refused",
                                kMaxCandidates));
      }
      candidates.push_back(std::move(*candidate));
    }
  }
  return candidates;
}

// Decrypts the streamed content under every candidate, each into its sink.
void decrypt_chunks(BerReader& reader, std::vector<Candidate>& candidates, const PlaintextSinks& sinks) {
  std::vector<std::uint8_t> in(kChunkBytes);
  std::vector<std::uint8_t> out(kChunkBytes + EVP_MAX_BLOCK_LENGTH);
  while (std::size_t n = reader.read_octets(in)) {
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      Candidate& candidate = candidates[i];
      int length = 0;
      if (candidate.failed)
        continue;
      if (EVP_CipherUpdate(candidate.context, out.data(), &length, in.data(), static_cast<int>(n)) != 1) {
        candidate.failed = true;
        continue;
      }
      sinks(i).write(ByteView(out.data(), static_cast<std::size_t>(length)));
    }
  }
}

// Ends each candidate's decryption: CBC padding, or the GCM tag, checked.
// The first that holds, or nullopt.
std::optional<std::size_t> finish_candidates(std::vector<Candidate>& candidates, const EnvelopeTail& tail,
                                             bool authenticated, const PlaintextSinks& sinks, Failure& failure) {
  std::uint8_t out[EVP_MAX_BLOCK_LENGTH * 2];
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    Candidate& candidate = candidates[i];
    int length = 0;
    if (!candidate.failed && authenticated) {
      std::vector<std::uint8_t> tag(tail.mac.begin(), tail.mac.end());
      candidate.failed = EVP_CIPHER_CTX_ctrl(candidate.context, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag.size()),
                                             tag.data()) != 1;
    }
    if (!candidate.failed && EVP_CipherFinal_ex(candidate.context, out, &length) == 1) {
      sinks(i).write(ByteView(out, static_cast<std::size_t>(length)));
      ossl::take_errors();
      return i;
    }
    failure.content = true;
    failure.content_detail = ossl::take_errors();
  }
  return std::nullopt;
}

// RC2 and single DES are broken; OpenSSL 3 does not even load them by default.
std::string readable_cipher(const EnvelopeHead& head) {
  std::string cipher = friendly_cipher_name(head.algorithm_nid);
  static constexpr std::string_view kReadable[] = {"AES-256-GCM", "AES-192-GCM", "AES-128-GCM", "AES-256-CBC",
                                                   "AES-192-CBC", "AES-128-CBC", "3DES-CBC"};
  if (std::find(std::begin(kReadable), std::end(kReadable), cipher) == std::end(kReadable)) {
    throw Error(ErrorCode::Unsupported,
                fmt::format("the message is encrypted with {}, an obsolete or unknown cipher mailseal does not decrypt",
                            cipher));
  }
  const bool gcm = cipher.find("GCM") != std::string::npos;
  if (gcm != (head.type == NID_id_smime_ct_authEnvelopedData)) {
    throw Error(ErrorCode::Malformed,
                fmt::format("the message names {} in {}; mailseal reads AES-GCM only as authenticated enveloped data "
                            "(RFC 5083) and CBC only as enveloped data",
                            cipher, gcm ? "enveloped data" : "authenticated enveloped data"));
  }
  return cipher;
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

StreamedDecryption decrypt_envelope_stream(ByteSource& der, std::span<const DecryptionKey> keys,
                                           const PlaintextSinks& sinks) {
  BerReader reader(der, kMaxMessageSize);
  const EnvelopeHead head = read_envelope_head(reader);
  StreamedDecryption result;
  result.cipher = readable_cipher(head);
  result.authenticated = head.type == NID_id_smime_ct_authEnvelopedData;
  if (result.authenticated)
    check_gcm_parameters(head, result.cipher);
  const Bytes header_only = header_only_content_info(head);
  // What failed decides the message: a key part of ours that does not open,
  // or content that does not decrypt under a key that did open. (OpenSSL may
  // leave no error behind for a GCM tag that does not match: the flags
  // decide, not the error text.)
  Failure failure;
  std::vector<Candidate> candidates = open_candidates(header_only, keys, failure);
  decrypt_chunks(reader, candidates, sinks);
  const EnvelopeTail tail = read_envelope_tail(reader, head);
  if (result.authenticated && tail.mac.size() != kGcmTagBytes)
    refuse_gcm(result.cipher, fmt::format("has a {}-byte authentication tag", tail.mac.size()));
  if (result.authenticated && !tail.auth_attributes.empty()) {
    throw Error(ErrorCode::Unsupported,
                "the message's authenticated enveloped data carries authenticated attributes (RFC 5083 authAttrs), "
                "which mailseal does not read; nothing was written");
  }
  if (std::optional<std::size_t> opened = finish_candidates(candidates, tail, result.authenticated, sinks, failure)) {
    result.candidate = *opened;
    return result;
  }
  Decryption described{"", result.cipher, result.authenticated};
  throw_decrypt_failure(described, failure);
  throw Error(ErrorCode::NoMatchingKey,
              fmt::format("the message is not encrypted to any of the {} key{} of this profile; it is for: {}",
                          keys.size(), keys.size() == 1 ? "" : "s", describe_recipients(read_cms(header_only).get())));
}

Decryption decrypt_envelope(ByteView der, std::span<const DecryptionKey> keys) {
  // The plaintext is no longer than the ciphertext: one allocation, no copy.
  std::deque<StringSink> plaintexts;
  auto sinks = [&](std::size_t candidate) -> ByteSink& {
    while (plaintexts.size() <= candidate) {
      plaintexts.emplace_back();
      if (plaintexts.size() == 1)
        plaintexts.back().reserve(der.size());
    }
    return plaintexts[candidate];
  };
  auto wipe_all = [&](std::optional<std::size_t> keep) {
    for (std::size_t i = 0; i < plaintexts.size(); ++i) {
      if (keep == i)
        continue;
      std::string text = plaintexts[i].take();
      secure_wipe(text.data(), text.size());
    }
  };
  MemorySource source(der);
  try {
    StreamedDecryption streamed = decrypt_envelope_stream(source, keys, sinks);
    wipe_all(streamed.candidate);
    return Decryption{plaintexts[streamed.candidate].take(), streamed.cipher, streamed.authenticated};
  } catch (...) {
    wipe_all(std::nullopt);
    throw;
  }
}

}  // namespace mailseal::smime::internal
