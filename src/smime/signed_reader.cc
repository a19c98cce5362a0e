// The outer layers of a signed-data CMS message (RFC 5652 sections 3, 5.1,
// 5.2), read as they stream:
//
//   ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY }
//   SignedData ::= SEQUENCE { version, digestAlgorithms SET OF AlgorithmIdentifier,
//     encapContentInfo, certificates [0] IMPLICIT OPTIONAL,
//     crls [1] IMPLICIT OPTIONAL, signerInfos SET OF SignerInfo }
//   EncapsulatedContentInfo ::= SEQUENCE { eContentType OBJECT IDENTIFIER,
//     eContent [0] EXPLICIT OCTET STRING OPTIONAL }
//
// The eContent is passed on and digested chunk by chunk; everything else is
// small and kept as read.

#include "smime/internal/signed_reader.h"

#include <algorithm>

#include <fmt/format.h>
#include <openssl/obj_mac.h>

#include "mailseal/common/error.h"
#include "smime/internal/cms.h"
#include "smime/internal/envelope_reader.h"

namespace mailseal::smime::internal {

namespace {

constexpr std::size_t kMaxObjectBytes = 128;
constexpr std::size_t kMaxVersionBytes = 16;
constexpr std::size_t kMaxDigestAlgorithmsBytes = 4096;
constexpr std::size_t kMaxDigestAlgorithms = 16;
constexpr std::size_t kContentChunk = 64 * 1024;
constexpr std::uint8_t kDerSequence = 0x30;
constexpr std::uint8_t kDerExplicitZero = 0xA0;

[[noreturn]] void malformed(std::string_view what) {
  throw Error(ErrorCode::Malformed, fmt::format("the signature is not a valid CMS signed-data structure: {}", what));
}

BerHeader expect_element(BerReader& reader, TagClass tag_class, std::uint32_t tag, std::string_view what) {
  std::optional<BerHeader> header = reader.next();
  if (!header)
    malformed(fmt::format("{} is missing", what));
  const bool constructed = tag_class == TagClass::Context || tag == kTagSequence || tag == kTagSet;
  if (!header->is(tag_class, tag) || header->constructed != constructed)
    malformed(fmt::format("{} is not where it belongs", what));
  return *header;
}

bool is_constructed_context(const std::optional<BerHeader>& header, std::uint32_t tag) {
  return header && header->constructed && header->is(TagClass::Context, tag);
}

// The elements of a SignedData other than its content, as read.
struct SignedParts {
  Bytes version;
  Bytes digest_algorithms;
  Bytes content_type;
  Bytes certificates;
  Bytes crls;
  Bytes signer_infos;
};

// The algorithms a digestAlgorithms SET lists, as NIDs.
std::vector<int> listed_digests(const Bytes& set) {
  std::vector<int> nids;
  for (const Bytes& algorithm : element_children(set, kMaxDigestAlgorithms)) {
    std::vector<Bytes> fields = element_children(algorithm, 2);
    if (fields.empty())
      malformed("a digest algorithm is empty");
    nids.push_back(object_nid(fields.front()));
  }
  return nids;
}

// ContentInfo, SignedData, version, digestAlgorithms and eContentType; the
// reader is left inside the EncapsulatedContentInfo.
void read_head(BerReader& reader, SignedParts& parts) {
  expect_element(reader, TagClass::Universal, kTagSequence, "the ContentInfo");
  reader.enter();
  expect_element(reader, TagClass::Universal, kTagObjectIdentifier, "the content type");
  if (object_nid(reader.read_element(kMaxObjectBytes, "content type")) != NID_pkcs7_signed)
    throw Error(ErrorCode::Malformed, "the signature is not a CMS signed-data structure");
  expect_element(reader, TagClass::Context, 0, "the content");
  reader.enter();
  expect_element(reader, TagClass::Universal, kTagSequence, "the signed data");
  reader.enter();
  expect_element(reader, TagClass::Universal, kTagInteger, "the version");
  parts.version = reader.read_element(kMaxVersionBytes, "version");
  expect_element(reader, TagClass::Universal, kTagSet, "the digest algorithms");
  parts.digest_algorithms = reader.read_element(kMaxDigestAlgorithmsBytes, "digest algorithms");
  expect_element(reader, TagClass::Universal, kTagSequence, "the encapsulated content information");
  reader.enter();
  expect_element(reader, TagClass::Universal, kTagObjectIdentifier, "the encapsulated content's type");
  parts.content_type = reader.read_element(kMaxObjectBytes, "encapsulated content's type");
}

// The eContent, if there is one: its octets to `content`, digested.
void read_content(BerReader& reader, StreamedSignedData& out, ByteSink& content) {
  std::optional<BerHeader> header = reader.next();
  if (!header)
    return;
  if (!is_constructed_context(header, 0))
    malformed("the encapsulated content is not where it belongs");
  reader.enter();
  std::optional<BerHeader> octets = reader.next();
  if (!octets || !octets->is_universal(kTagOctetString))
    malformed("the encapsulated content is not an OCTET STRING");
  reader.begin_octets();
  std::vector<std::uint8_t> buffer(kContentChunk);
  while (std::size_t n = reader.read_octets(buffer)) {
    const ByteView chunk(buffer.data(), n);
    out.digests.update(chunk);
    content.write(chunk);
    out.content_size += n;
  }
  if (reader.next())
    malformed("an element follows the encapsulated content");
  reader.leave();  // [0]
  out.has_content = true;
}

// certificates, crls and signerInfos, up to the end of the input.
void read_tail(BerReader& reader, SignedParts& parts, StreamedSignedData& out) {
  std::optional<BerHeader> header = reader.next();
  if (is_constructed_context(header, 0)) {
    parts.certificates = reader.read_element(kMaxSignedCertificatesBytes, "certificates");
    element_children(parts.certificates, kMaxSignedCertificates);
    header = reader.next();
  }
  if (is_constructed_context(header, 1)) {
    parts.crls = reader.read_element(kMaxSignedCrlsBytes, "revocation lists");
    header = reader.next();
  }
  if (!header || !header->is_universal(kTagSet) || !header->constructed)
    malformed("the signer information (a SET) is missing");
  parts.signer_infos = reader.read_element(kMaxSignerInfosBytes, "signer information");
  out.signer_count = element_children(parts.signer_infos, kMaxSignerInfos).size();
  if (reader.next())
    malformed("an element follows where the signed data should end");
  reader.leave();  // SignedData
  reader.leave();  // [0]
  reader.leave();  // ContentInfo
  reader.finish();
}

// The ContentInfo again, in DER around the elements as read, without eContent.
Bytes detached_content_info(const SignedParts& parts) {
  Bytes encapsulated;
  append_der(encapsulated, kDerSequence, parts.content_type);
  Bytes signed_data;
  append(signed_data, parts.version);
  append(signed_data, parts.digest_algorithms);
  append(signed_data, encapsulated);
  append(signed_data, parts.certificates);
  append(signed_data, parts.crls);
  append(signed_data, parts.signer_infos);
  Bytes sequence;
  append_der(sequence, kDerSequence, signed_data);
  Bytes outer = type_element(NID_pkcs7_signed);
  append_der(outer, kDerExplicitZero, sequence);
  Bytes result;
  append_der(result, kDerSequence, outer);
  return result;
}

}  // namespace

ContentDigests::ContentDigests(const std::vector<int>& listed) {
  for (int nid : listed) {
    if (std::any_of(contexts_.begin(), contexts_.end(), [nid](const auto& entry) { return entry.first == nid; }))
      continue;
    const EVP_MD* md = EVP_get_digestbynid(nid);
    if (md == nullptr) {
      unknown_ = true;
      continue;
    }
    if (contexts_.size() == kMaxContentDigests)
      malformed(fmt::format("it lists more than {} digest algorithms", kMaxContentDigests));
    ossl::MdCtx context(ossl::check_ptr(EVP_MD_CTX_new(), "cannot start a digest"));
    ossl::check(EVP_DigestInit_ex(context.get(), md, nullptr), "cannot start a digest");
    contexts_.emplace_back(nid, std::move(context));
  }
}

void ContentDigests::update(ByteView bytes) {
  for (auto& [nid, context] : contexts_)
    ossl::check(EVP_DigestUpdate(context.get(), bytes.data(), bytes.size()), "cannot digest the content");
}

ossl::Bio ContentDigests::chain() const {
  // Ended by a sink, as the chain CMS_verify builds is ended by the content:
  // OpenSSL's search for a signer's digest walks to the end of the chain and
  // would otherwise report a null parameter beside "no matching digest".
  ossl::Bio head(ossl::check_ptr(BIO_new(BIO_s_null()), "cannot start a digest"));
  for (auto entry = contexts_.rbegin(); entry != contexts_.rend(); ++entry) {
    ossl::Bio md(ossl::check_ptr(BIO_new(BIO_f_md()), "cannot start a digest"));
    EVP_MD_CTX* state = nullptr;
    BIO_get_md_ctx(md.get(), &state);
    ossl::check(state != nullptr && EVP_MD_CTX_copy_ex(state, entry->second.get()) == 1 ? 1 : 0,
                "cannot copy a digest");
    BIO_push(md.get(), head.release());
    head = std::move(md);
  }
  return head;
}

Bytes ContentDigests::value(int nid) const {
  for (const auto& [listed, context] : contexts_) {
    if (listed != nid)
      continue;
    ossl::MdCtx copy(ossl::check_ptr(EVP_MD_CTX_new(), "cannot copy a digest"));
    ossl::check(EVP_MD_CTX_copy_ex(copy.get(), context.get()), "cannot copy a digest");
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int size = 0;
    ossl::check(EVP_DigestFinal_ex(copy.get(), out.data(), &size), "cannot finish a digest");
    out.resize(size);
    return out;
  }
  return {};
}

StreamedSignedData read_signed_stream(ByteSource& der, std::uint64_t max_size, ByteSink& content) {
  BerReader reader(der, max_size);
  SignedParts parts;
  StreamedSignedData out;
  read_head(reader, parts);
  out.data_content = object_nid(parts.content_type) == NID_pkcs7_data;
  out.digest_nids = listed_digests(parts.digest_algorithms);
  out.digests = ContentDigests(out.digest_nids);
  read_content(reader, out, content);
  reader.leave();  // EncapsulatedContentInfo
  read_tail(reader, parts, out);
  out.detached_info = detached_content_info(parts);
  return out;
}

StreamedSignedData detached_signed_data(ByteView der) {
  ossl::Cms cms = read_cms(der);
  StreamedSignedData out;
  out.detached = true;
  out.detached_info = Bytes(der.begin(), der.end());
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed)
    return out;  // refused by the check, as check_signature refuses it
  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  out.has_content = content != nullptr && *content != nullptr;
  out.data_content = OBJ_obj2nid(CMS_get0_eContentType(cms.get())) == NID_pkcs7_data;
  try {
    out.digest_nids = listed_digest_algorithms(der);
  } catch (const Error&) {
    // the check reads the set again, and reports it as check_signature does
  }
  return out;
}

}  // namespace mailseal::smime::internal
