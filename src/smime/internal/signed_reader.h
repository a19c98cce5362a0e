#pragma once
// The outer layers of a signed-data CMS message read as they stream in
// (RFC 5652 sections 3 and 5), with BerReader: ContentInfo, SignedData, its
// digestAlgorithms, the encapsulated content (digested chunk by chunk as it
// is passed on to a sink), the certificates, CRLs and signerInfos after it
// (kept as read, for OpenSSL to check the signers in).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "common/openssl.h"
#include "mailseal/common/bytes.h"
#include "smime/internal/ber_reader.h"

namespace mailseal::smime::internal {

// Limits on what is held in memory: a signature carries a few certificates
// and one signer (RFC 8551 messages; more is refused as malformed).
inline constexpr std::size_t kMaxSignedCertificatesBytes = 1024 * 1024;
inline constexpr std::size_t kMaxSignedCertificates = 64;
inline constexpr std::size_t kMaxSignedCrlsBytes = 1024 * 1024;
inline constexpr std::size_t kMaxSignerInfosBytes = 256 * 1024;
inline constexpr std::size_t kMaxSignerInfos = 16;
// Distinct digest algorithms computed over the content.
inline constexpr std::size_t kMaxContentDigests = 4;

// The digests of a content as it streams: one for each digest algorithm the
// signed-data lists (what OpenSSL's CMS_dataInit computes for CMS_verify).
class ContentDigests {
 public:
  ContentDigests() = default;
  // Error(Malformed) for more than kMaxContentDigests distinct algorithms.
  explicit ContentDigests(const std::vector<int>& listed);
  void update(ByteView bytes);
  // Message-digest BIOs holding a copy of each state, chained: what
  // CMS_SignerInfo_verify_content finds the signer's digest in.
  ossl::Bio chain() const;
  // The finished digest for `nid` (empty when it was not computed).
  Bytes value(int nid) const;
  // A listed algorithm OpenSSL does not know (CMS_verify fails then too).
  bool has_unknown() const noexcept { return unknown_; }

 private:
  std::vector<std::pair<int, ossl::MdCtx>> contexts_;
  bool unknown_ = false;
};

// A signed-data ContentInfo read from a stream: its content went to a sink.
struct StreamedSignedData {
  // The ContentInfo as one DER structure without the eContent (as a
  // detached signature is), every other element as read.
  Bytes detached_info;
  std::vector<int> digest_nids;  // the digestAlgorithms listed
  ContentDigests digests;
  // A multipart/signed's: `digests` are of the first part made canonical
  // (CRLF), `exact_digests` of its bytes as they stand when they differ.
  bool detached = false;
  std::optional<ContentDigests> exact_digests;
  bool has_content = false;    // an eContent was there
  bool data_content = false;   // its eContentType is id-data
  std::uint64_t content_size = 0;
  std::size_t signer_count = 0;
};

// Reads a signed-data ContentInfo from `der` (at most `max_size` bytes),
// passing the octets of its eContent to `content` in chunks and digesting
// them. Error(Malformed) for any other structure, or one over the limits.
StreamedSignedData read_signed_stream(ByteSource& der, std::uint64_t max_size, ByteSink& content);

// A multipart/signed's signature, held whole (small), taken as
// check_signature takes one (OpenSSL's parser, trailing zero padding
// allowed); its digests are the caller's to compute over the signed part.
StreamedSignedData detached_signed_data(ByteView der);

}  // namespace mailseal::smime::internal
