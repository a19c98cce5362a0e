#pragma once
// The outer layers of an encrypted CMS message read as they stream in
// (RFC 5652 sections 3 and 6.1, RFC 5083 section 2.1), with BerReader:
// ContentInfo, EnvelopedData or AuthEnvelopedData, its recipientInfos (kept
// as read, for OpenSSL's key transport and agreement), the encrypted content
// (streamed by the caller) and what follows it.

#include <cstddef>
#include <cstdint>
#include <string>

#include "mailseal/common/bytes.h"
#include "smime/internal/ber_reader.h"

namespace mailseal::smime::internal {

// Limits on the parts held in memory (a message has a few recipients).
inline constexpr std::size_t kMaxRecipientInfosBytes = 1024 * 1024;
inline constexpr std::size_t kMaxAttributesBytes = 64 * 1024;

// Everything before the encrypted content. Elements are kept as read, their
// identifier and length octets included.
struct EnvelopeHead {
  int type = 0;                 // NID_pkcs7_enveloped or NID_id_smime_ct_authEnvelopedData
  Bytes version;                // the INTEGER element
  Bytes originator_info;        // the [0] element, or empty
  Bytes recipient_infos;        // the SET element
  Bytes content_type;           // the OBJECT IDENTIFIER element of the encrypted content
  Bytes algorithm;              // the contentEncryptionAlgorithm (AlgorithmIdentifier) element
  int algorithm_nid = 0;        // its OID
  std::size_t recipient_count = 0;
};

// Everything after the encrypted content.
struct EnvelopeTail {
  Bytes unprotected_attributes;  // EnvelopedData's [1] element, or empty
  Bytes auth_attributes;         // AuthEnvelopedData's [1] element (authAttrs), or empty
  Bytes mac;                     // AuthEnvelopedData's mac: the contents of the OCTET STRING
};

// DER definite-length encoding of one element (X.690 section 10.1) onto `out`.
void append_der(Bytes& out, std::uint8_t identifier, ByteView contents);
// Appends bytes as they are.
void append(Bytes& out, ByteView bytes);
// The OBJECT IDENTIFIER element of a content type.
Bytes type_element(int nid);

// The NID of an OBJECT IDENTIFIER element (NID_undef when unknown).
int object_nid(ByteView element);

// The content type of the ContentInfo `reader` starts at; the reader is left
// at the start of the [0] content (its header read). Error(Malformed) when it
// is no ContentInfo.
int read_content_info_type(BerReader& reader);

// Reads an (auth)enveloped-data ContentInfo up to its encrypted content,
// which `reader` then streams (begin_octets() has been called: read_octets()
// until 0). Error(Malformed) for any other structure, or none, or an envelope
// without encrypted content (detached content is not read).
EnvelopeHead read_envelope_head(BerReader& reader);

// The rest, after the encrypted content, up to the end of the input
// (BerReader::finish: nothing may follow).
EnvelopeTail read_envelope_tail(BerReader& reader, const EnvelopeHead& head);

// The head as one DER ContentInfo without encrypted content (and, for an
// AuthEnvelopedData, with a mac of zeros), for OpenSSL to find and unwrap the
// content-encryption key in.
Bytes header_only_content_info(const EnvelopeHead& head);

// A whole (auth)enveloped-data ContentInfo taken apart, its encrypted content
// held in memory (for the differential test and the fuzz target; decryption
// streams it instead).
struct EnvelopeContents {
  Bytes type;  // the ContentInfo's OBJECT IDENTIFIER element
  EnvelopeHead head;
  Bytes ciphertext;
  EnvelopeTail tail;
};
EnvelopeContents read_envelope(ByteSource& der, std::uint64_t max_size);

// The children of a constructed element held in memory (each as read).
std::vector<Bytes> element_children(ByteView element, std::size_t max_children);

}  // namespace mailseal::smime::internal
