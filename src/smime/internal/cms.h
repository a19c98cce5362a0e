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

// The digestAlgorithms set of a signed-data ContentInfo `der` (as NIDs, in
// order), read from the bytes because OpenSSL offers no accessor for it.
// Error(Malformed) when `der` is not a signed-data ContentInfo.
std::vector<int> listed_digest_algorithms(ByteView der);

// The NID of a signer's digest algorithm (NID_undef when it has none).
int signer_digest(CMS_SignerInfo* info);

// RFC 5652 section 5.3: the signer's digest algorithm "SHALL be among those
// listed in the digestAlgorithms field" of the signed-data `der`. Checked
// before OpenSSL verifies, because CMS_verify leaks its content BIO when the
// set lacks it (a message per leak would grow a long-running gateway).
bool signer_digest_listed(ByteView der, CMS_SignerInfo* info);

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
