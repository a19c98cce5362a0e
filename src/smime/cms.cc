#include <climits>

#include <fmt/format.h>

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
  SinkBio der_out(base64);
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
