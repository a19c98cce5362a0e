// The outer layers of an encrypted CMS message (RFC 5652 sections 3, 6.1;
// RFC 5083 section 2.1), read as they stream:
//
//   ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY }
//   EnvelopedData ::= SEQUENCE { version, originatorInfo [0] IMPLICIT OPTIONAL,
//     recipientInfos SET, encryptedContentInfo, unprotectedAttrs [1] IMPLICIT OPTIONAL }
//   AuthEnvelopedData ::= SEQUENCE { version, originatorInfo [0] IMPLICIT OPTIONAL,
//     recipientInfos SET, authEncryptedContentInfo, authAttrs [1] IMPLICIT OPTIONAL,
//     mac OCTET STRING, unauthAttrs [2] IMPLICIT OPTIONAL }
//   EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
//     encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }

#include "smime/internal/envelope_reader.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"

namespace mailseal::smime::internal {

namespace {

constexpr std::size_t kMaxObjectBytes = 128;
constexpr std::size_t kMaxVersionBytes = 16;
constexpr std::size_t kMaxAlgorithmBytes = 4096;
constexpr std::size_t kMaxMacBytes = 64;
// The mac stand-in handed to OpenSSL: the real one is set before the end.
constexpr std::size_t kMacPlaceholderBytes = 16;
constexpr std::uint8_t kDerSequence = 0x30;
constexpr std::uint8_t kDerOctetString = 0x04;
constexpr std::uint8_t kDerExplicitZero = 0xA0;

[[noreturn]] void malformed(std::string_view what) {
  throw Error(ErrorCode::Malformed, fmt::format("the encrypted part is not a valid CMS structure: {}", what));
}

BerHeader expect(BerReader& reader, TagClass tag_class, std::uint32_t tag, bool constructed, std::string_view what) {
  std::optional<BerHeader> header = reader.next();
  if (!header)
    malformed(fmt::format("{} is missing", what));
  if (!header->is(tag_class, tag) || header->constructed != constructed)
    malformed(fmt::format("{} is not where it belongs", what));
  return *header;
}

bool is_constructed_context(const std::optional<BerHeader>& header, std::uint32_t tag) {
  return header && header->constructed && header->is(TagClass::Context, tag);
}

}  // namespace

// DER definite-length encoding of one element (X.690 section 10.1).
void append_der(Bytes& out, std::uint8_t identifier, ByteView contents) {
  out.push_back(identifier);
  const std::size_t size = contents.size();
  if (size < 0x80) {
    out.push_back(static_cast<std::uint8_t>(size));
  } else {
    int octets = 0;
    for (std::size_t rest = size; rest > 0; rest >>= 8)
      ++octets;
    out.push_back(static_cast<std::uint8_t>(0x80 | octets));
    for (int i = octets - 1; i >= 0; --i)
      out.push_back(static_cast<std::uint8_t>(size >> (8 * i)));
  }
  out.insert(out.end(), contents.begin(), contents.end());
}

void append(Bytes& out, ByteView bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

// The OBJECT IDENTIFIER element of a content type.
Bytes type_element(int nid) {
  unsigned char* oid = nullptr;
  int length = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &oid);
  ossl::OpensslString owner(reinterpret_cast<char*>(oid));
  if (length <= 0)
    throw Error(ErrorCode::Internal, "cannot encode a content type");
  return Bytes(oid, oid + length);
}

int object_nid(ByteView element) {
  const unsigned char* cursor = element.data();
  ossl::Asn1Object oid(d2i_ASN1_OBJECT(nullptr, &cursor, static_cast<long>(element.size())));
  ERR_clear_error();
  return oid ? OBJ_obj2nid(oid.get()) : NID_undef;
}

int read_content_info_type(BerReader& reader) {
  expect(reader, TagClass::Universal, kTagSequence, true, "the ContentInfo");
  reader.enter();
  expect(reader, TagClass::Universal, kTagObjectIdentifier, false, "the content type");
  int type = object_nid(reader.read_element(kMaxObjectBytes, "content type"));
  expect(reader, TagClass::Context, 0, true, "the content");
  return type;
}

EnvelopeHead read_envelope_head(BerReader& reader) {
  EnvelopeHead head;
  head.type = read_content_info_type(reader);
  if (head.type != NID_pkcs7_enveloped && head.type != NID_id_smime_ct_authEnvelopedData)
    throw Error(ErrorCode::Malformed, "the encrypted part is not an enveloped-data structure");
  reader.enter();
  expect(reader, TagClass::Universal, kTagSequence, true, "the enveloped data");
  reader.enter();
  expect(reader, TagClass::Universal, kTagInteger, false, "the version");
  head.version = reader.read_element(kMaxVersionBytes, "version");
  std::optional<BerHeader> header = reader.next();
  if (is_constructed_context(header, 0)) {
    head.originator_info = reader.read_element(kMaxRecipientInfosBytes, "originator information");
    header = reader.next();
  }
  if (!header || !header->is_universal(kTagSet) || !header->constructed)
    malformed("the recipient information (a SET) is missing");
  head.recipient_infos = reader.read_element(kMaxRecipientInfosBytes, "recipient information");
  head.recipient_count = element_children(head.recipient_infos, kMaxRecipientInfosBytes).size();
  if (head.recipient_count == 0)
    malformed("it names no recipient");
  expect(reader, TagClass::Universal, kTagSequence, true, "the encrypted content information");
  reader.enter();
  expect(reader, TagClass::Universal, kTagObjectIdentifier, false, "the encrypted content's type");
  head.content_type = reader.read_element(kMaxObjectBytes, "encrypted content's type");
  expect(reader, TagClass::Universal, kTagSequence, true, "the content-encryption algorithm");
  head.algorithm = reader.read_element(kMaxAlgorithmBytes, "content-encryption algorithm");
  std::vector<Bytes> algorithm = element_children(head.algorithm, kMaxAlgorithmBytes);
  if (algorithm.empty())
    malformed("the content-encryption algorithm is empty");
  head.algorithm_nid = object_nid(algorithm.front());
  header = reader.next();
  if (!header || !header->is(TagClass::Context, 0)) {
    throw Error(ErrorCode::Malformed,
                "the encrypted part carries no encrypted content (content sent apart from its envelope is not read)");
  }
  reader.begin_octets();
  return head;
}

EnvelopeTail read_envelope_tail(BerReader& reader, const EnvelopeHead& head) {
  EnvelopeTail tail;
  reader.leave();  // the encrypted content information
  std::optional<BerHeader> header = reader.next();
  if (head.type == NID_pkcs7_enveloped) {
    if (is_constructed_context(header, 1)) {
      tail.unprotected_attributes = reader.read_element(kMaxAttributesBytes, "unprotected attributes");
      header = reader.next();
    }
  } else {
    if (is_constructed_context(header, 1)) {
      tail.auth_attributes = reader.read_element(kMaxAttributesBytes, "authenticated attributes");
      header = reader.next();
    }
    if (!header || !header->is_universal(kTagOctetString))
      malformed("the authentication tag (mac) is missing");
    tail.mac = reader.read_primitive(kMaxMacBytes, "authentication tag (mac)");
    header = reader.next();
    if (is_constructed_context(header, 2)) {
      reader.skip();
      header = reader.next();
    }
  }
  if (header)
    malformed("an element follows where the enveloped data should end");
  reader.leave();  // the (auth)enveloped data
  reader.leave();  // [0]
  reader.leave();  // the ContentInfo
  reader.finish();
  return tail;
}

Bytes header_only_content_info(const EnvelopeHead& head) {
  Bytes content_info;
  append(content_info, head.content_type);
  append(content_info, head.algorithm);
  Bytes envelope;
  append(envelope, head.version);
  append(envelope, head.originator_info);
  append(envelope, head.recipient_infos);
  append_der(envelope, kDerSequence, content_info);
  if (head.type == NID_id_smime_ct_authEnvelopedData) {
    const Bytes placeholder(kMacPlaceholderBytes, 0);
    append_der(envelope, kDerOctetString, placeholder);
  }
  Bytes sequence;
  append_der(sequence, kDerSequence, envelope);
  Bytes outer = type_element(head.type);
  append_der(outer, kDerExplicitZero, sequence);
  Bytes result;
  append_der(result, kDerSequence, outer);
  return result;
}

EnvelopeContents read_envelope(ByteSource& der, std::uint64_t max_size) {
  EnvelopeContents contents;
  BerReader reader(der, max_size);
  contents.head = read_envelope_head(reader);
  contents.type = type_element(contents.head.type);
  std::vector<std::uint8_t> buffer(64 * 1024);
  while (std::size_t n = reader.read_octets(buffer)) {
    if (contents.ciphertext.size() + n > max_size)
      malformed("the encrypted content is larger than the limit");
    contents.ciphertext.insert(contents.ciphertext.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
  }
  contents.tail = read_envelope_tail(reader, contents.head);
  return contents;
}

std::vector<Bytes> element_children(ByteView element, std::size_t max_children) {
  MemorySource source(element);
  BerReader reader(source, element.size());
  std::optional<BerHeader> header = reader.next();
  if (!header || !header->constructed)
    malformed("a constructed element is expected");
  reader.enter();
  std::vector<Bytes> children;
  while (reader.next()) {
    if (children.size() >= max_children)
      malformed("an element holds too many elements");
    children.push_back(reader.read_element(element.size(), "element"));
  }
  reader.leave();
  reader.finish();
  return children;
}

}  // namespace mailseal::smime::internal
