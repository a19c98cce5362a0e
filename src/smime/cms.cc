#include <algorithm>
#include <climits>
#include <optional>

#include <fmt/format.h>

#include "smime/internal/background_sink.h"
#include "smime/internal/bio_sink.h"
#include "smime/internal/cms.h"

namespace mailseal::smime::internal {

ossl::Cms read_cms(ByteView der) {
  if (der.size() > static_cast<std::size_t>(LONG_MAX)) {
    throw Error(ErrorCode::Malformed, "the CMS structure is too large");
  }
  const unsigned char* cursor = der.data();
  ossl::Cms cms(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(der.size())));
  if (!cms) {
    ossl::fail("the S/MIME part is not a valid CMS structure (damaged or truncated)", ErrorCode::Malformed);
  }
  // Trailing bytes are refused, except zero padding some encoders leave.
  for (const unsigned char* rest = cursor; rest < der.data() + der.size(); ++rest) {
    if (*rest != 0) {
      throw Error(ErrorCode::Malformed, "unexpected bytes follow the CMS structure");
    }
  }
  return cms;
}

namespace {

// One BER header (X.690 section 8.1) read with OpenSSL's decoder: where the
// contents start, how long they are (nullopt: indefinite) and what they are.
struct BerHeader {
  int tag = 0;
  int tag_class = 0;
  bool constructed = false;
  std::optional<long> length;
};

BerHeader read_ber_header(const unsigned char*& cursor, const unsigned char* end) {
  long length = 0;
  int tag = 0;
  int tag_class = 0;
  const int flags = ASN1_get_object(&cursor, &length, &tag, &tag_class, end - cursor);
  if ((flags & 0x80) != 0) {
    ossl::take_errors();
    throw Error(ErrorCode::Malformed, "the signature's signed-data structure is damaged");
  }
  BerHeader header{tag, tag_class, (flags & V_ASN1_CONSTRUCTED) != 0, std::nullopt};
  if ((flags & 0x01) == 0)
    header.length = length;
  return header;
}

// Reads a header that must be `tag` in `tag_class`, and skips a primitive
// value's contents.
BerHeader expect_ber(const unsigned char*& cursor, const unsigned char* end, int tag, int tag_class, bool skip) {
  BerHeader header = read_ber_header(cursor, end);
  if (header.tag != tag || header.tag_class != tag_class || (skip && !header.length)) {
    throw Error(ErrorCode::Malformed, "the signature is not a CMS signed-data structure");
  }
  if (skip)
    cursor += *header.length;
  return header;
}

bool at_end_of_contents(const unsigned char* cursor, const unsigned char* end) {
  return end - cursor >= 2 && cursor[0] == 0 && cursor[1] == 0;
}

}  // namespace

std::vector<int> listed_digest_algorithms(ByteView der) {
  const unsigned char* cursor = der.data();
  const unsigned char* end = der.data() + der.size();
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT
  // SignedData ::= SEQUENCE { version INTEGER, digestAlgorithms SET OF ... } }
  expect_ber(cursor, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, false);
  expect_ber(cursor, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, true);
  expect_ber(cursor, end, 0, V_ASN1_CONTEXT_SPECIFIC, false);
  expect_ber(cursor, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, false);
  expect_ber(cursor, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, true);
  BerHeader set = expect_ber(cursor, end, V_ASN1_SET, V_ASN1_UNIVERSAL, false);
  const unsigned char* set_end = set.length ? cursor + *set.length : end;
  std::vector<int> digests;
  while (cursor < set_end && !(!set.length && at_end_of_contents(cursor, end))) {
    ossl::X509Algor algorithm(d2i_X509_ALGOR(nullptr, &cursor, set_end - cursor));
    if (!algorithm) {
      ossl::take_errors();
      throw Error(ErrorCode::Malformed, "the signature's digestAlgorithms set is damaged");
    }
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm.get());
    digests.push_back(OBJ_obj2nid(oid));
  }
  return digests;
}

int signer_digest(CMS_SignerInfo* info) {
  X509_ALGOR* digest = nullptr;
  CMS_SignerInfo_get0_algs(info, nullptr, nullptr, &digest, nullptr);
  if (digest == nullptr)
    return NID_undef;
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, digest);
  return OBJ_obj2nid(oid);
}

bool signer_digest_listed(ByteView der, CMS_SignerInfo* info) {
  std::vector<int> listed = listed_digest_algorithms(der);
  return std::find(listed.begin(), listed.end(), signer_digest(info)) != listed.end();
}

ossl::Cms make_signed_data(const SignerIdentity& signer, bool detached) {
  if (signer.key == nullptr) {
    throw Error(ErrorCode::Internal, "no signing key given");
  }
  unsigned int flags = CMS_PARTIAL | CMS_BINARY | CMS_STREAM | (detached ? CMS_DETACHED : 0u);
  ossl::Cms cms(ossl::check_ptr(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags), "cannot start a signature"));
  // mailseal writes its own SMIMECapabilities (RFC 8551 section 2.5.2) so that
  // correspondents learn whether the signer reads AES-GCM.
  CMS_SignerInfo* info = CMS_add1_signer(cms.get(), signer.certificate.native(), signer.key->native(), EVP_sha256(),
                                         flags | CMS_NOSMIMECAP);
  ossl::check_ptr(info, "cannot add the signer (does the key belong to the certificate?)");
  Bytes capabilities = signer.capabilities.to_der();
  ossl::check(CMS_signed_add1_attr_by_NID(info, NID_SMIMECapabilities, V_ASN1_SEQUENCE, capabilities.data(),
                                          static_cast<int>(capabilities.size())),
              "cannot add SMIMECapabilities");
  if (signer.signing_time) {
    // OpenSSL adds its own signingTime only when none is there.
    ossl::Asn1Time time(ossl::check_ptr(ASN1_TIME_set(nullptr, to_unix_seconds(*signer.signing_time)),
                                        "cannot encode the signing time"));
    ossl::check(CMS_signed_add1_attr_by_NID(info, NID_pkcs9_signingTime, time.get()->type, time.get(), -1),
                "cannot add the signing time");
  }
  for (const auto& certificate : signer.chain) {
    ossl::check(CMS_add1_cert(cms.get(), certificate.native()), "cannot add a chain certificate");
  }
  return cms;
}

std::vector<crypto::Certificate> carried_certificates(CMS_ContentInfo* cms) {
  std::vector<crypto::Certificate> out;
  ossl::X509Stack certificates(CMS_get1_certs(cms));
  for (int i = 0; certificates && i < sk_X509_num(certificates.get()); ++i) {
    out.emplace_back(ossl::add_reference(sk_X509_value(certificates.get(), i)));
  }
  return out;
}

void stream_cms(CMS_ContentInfo* cms, ByteSink& out, std::string_view what,
                const std::function<void(ByteSink& content)>& write) {
  Base64Sink base64(out);
  // Past a few MiB, base64 and the output take a second core while this one
  // reads, canonicalises and encrypts or digests (bench/smime_profile.md).
  BackgroundSink encoded(base64);
  SinkBio der_out(encoded);
  ossl::Bio chain(BIO_new_CMS(der_out.get(), cms));
  if (!chain) {
    der_out.rethrow_if_failed();
    ossl::fail(fmt::format("cannot start the {}", what));
  }
  // The chain ends in der_out's BIO and frees it with the rest; der_out
  // keeps the state its callbacks write into, and outlives the chain.
  der_out.release();
  try {
    BioSink content(chain.get());
    write(content);
    if (BIO_flush(chain.get()) <= 0) {
      der_out.rethrow_if_failed();
      ossl::fail(fmt::format("cannot complete the {}", what));
    }
  } catch (...) {
    chain.reset();
    der_out.rethrow_if_failed();
    throw;
  }
  chain.reset();
  der_out.rethrow_if_failed();
  encoded.finish();
  base64.finish();
}

void bio_write_all(BIO* bio, ByteView bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    int chunk = static_cast<int>(std::min<std::size_t>(bytes.size() - done, 1 << 30));
    int written = BIO_write(bio, bytes.data() + done, chunk);
    if (written <= 0) {
      ossl::fail("cannot process the message content");
    }
    done += static_cast<std::size_t>(written);
  }
}

}  // namespace mailseal::smime::internal
