#pragma once
// CMS helpers shared by signing, encryption and reading.

#include <functional>
#include <string_view>
#include <vector>

#include "common/openssl.h"
#include "mailseal/smime/smime.h"

namespace mailseal::smime::internal {

// Reads a CMS ContentInfo (DER or BER with indefinite lengths). Error(Malformed)
// if it does not parse or bytes follow it.
ossl::Cms read_cms(ByteView der);

// A signed-data structure, streaming and partial, with `signer` added (SHA-256,
// signingTime, mailseal's SMIMECapabilities, the chain).
ossl::Cms make_signed_data(const SignerIdentity& signer, bool detached);

// The certificates a CMS structure carries (its CertificateSet), in order.
std::vector<crypto::Certificate> carried_certificates(CMS_ContentInfo* cms);

// Streams what `write` puts into its sink through `cms` (a streaming
// signed-data or enveloped-data) into `out`, base64-encoded; `what` names the
// operation in errors ("cannot start the signature").
void stream_cms(CMS_ContentInfo* cms, ByteSink& out, std::string_view what,
                const std::function<void(ByteSink& content)>& write);

// Writes bytes fully into a BIO or throws.
void bio_write_all(BIO* bio, ByteView bytes);

// A sink writing into a BIO (the write end of a streaming CMS chain).
class BioSink : public ByteSink {
 public:
  explicit BioSink(BIO* bio) : bio_(bio) {}
  using ByteSink::write;
  void write(ByteView bytes) override { bio_write_all(bio_, bytes); }

 private:
  BIO* bio_;
};

}  // namespace mailseal::smime::internal
