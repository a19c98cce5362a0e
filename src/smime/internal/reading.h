#pragma once
// Checking one signature layer and opening one encryption layer.

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mailseal/smime/smime.h"

namespace mailseal::smime::internal {

struct StreamedSignedData;

struct SignatureContext {
  std::vector<EmailAddress> from;
  std::optional<TimePoint> date;     // the Date header
  bool check_from = true;            // a mismatch is a problem (else only reported)
  const Policy* policy = nullptr;
};

struct SignatureCheck {
  SignatureReport report;
  std::string content;            // the signed entity (opaque: the eContent)
  bool content_mismatch = false;  // the digest of the content did not match
};

// "signed by SIGNER, but the message is from FROM": the signer's certificate
// does not name the From address of the layer it signs.
std::string signer_mismatch(const crypto::Certificate& signer, const EmailAddress& from);

// Verifies a signed-data CMS; `detached_content` is the canonical first part
// of a multipart/signed. Problems make the report invalid; only structure that
// cannot be read throws.
SignatureCheck check_signature(ByteView der, std::optional<std::string_view> detached_content,
                               const SignatureContext& context);

// The same checks for a signed-data read as a stream (read_signed_stream):
// its content (opaque) or the signed part (detached) digested as it
// streamed, `content` what reading goes on with (all of it, or its start
// when the rest stays in a file). `exact`: a detached part's digests as it
// stands rather than made canonical.
enum class DigestsOf { Canonical, Exact };
SignatureCheck check_streamed_signature(const StreamedSignedData& streamed, std::string content,
                                        const SignatureContext& context, DigestsOf digests = DigestsOf::Canonical);

// The decoded signature of a multipart/signed's second part (as it stands);
// Error(Malformed) when it is no application/pkcs7-signature.
Bytes detached_signature(std::string_view part);

struct Decryption {
  std::string plaintext;
  std::string cipher;  // "AES-256-GCM"
  bool authenticated = false;
};

// Opens an enveloped-data or authEnveloped-data CMS with the first key it is
// encrypted to. Error(NoMatchingKey) lists the recipients when none fits;
// Error(BadSignature) when the content fails to decrypt cleanly.
Decryption decrypt_envelope(ByteView der, std::span<const DecryptionKey> keys);

// Where the plaintext goes: each way into an envelope that opens under our
// keys (usually one) decrypts into its own sink, sinks(0), sinks(1), ...;
// only the one that StreamedDecryption::candidate names holds the content,
// and only once decrypt_envelope_stream has returned.
using PlaintextSinks = std::function<ByteSink&(std::size_t candidate)>;

struct StreamedDecryption {
  std::string cipher;  // "AES-256-GCM"
  bool authenticated = false;
  std::size_t candidate = 0;
};

// Opens an enveloped-data or authEnveloped-data CMS read from `der` as it
// streams (BerReader, constant memory): OpenSSL unwraps the content key from
// the recipientInfos, and the content is decrypted chunk by chunk into the
// sinks; CBC padding and the GCM tag are checked at the end. Errors as
// decrypt_envelope; on any error, what the sinks received is not plaintext to
// release.
StreamedDecryption decrypt_envelope_stream(ByteSource& der, std::span<const DecryptionKey> keys,
                                           const PlaintextSinks& sinks);

// read_message for a message whose outermost layer (of `top`, its header
// fields) was decrypted already, as a stream: the layers inside are read as
// read_message reads them.
ReadResult read_decrypted(const mime::Entity& top, Decryption decryption, KeyProvider& keys, const Policy& policy);

// read_message for a message whose outermost layer (of `top`) is an opaque
// signature read as a stream already: `content` is its content, or the start
// of it, the layers inside read as read_message reads them.
ReadResult read_verified(const mime::Entity& top, const StreamedSignedData& streamed, std::string content,
                         KeyProvider& keys, const Policy& policy);

// read_message for a message whose outermost layer was decrypted already and
// whose decrypted content is a signature read as a stream already:
// `decryption` holds only the decrypted layer's header block, `content` the
// signed content or the start of it (signed, then encrypted, as mailseal and
// most clients send, in constant memory).
ReadResult read_decrypted_verified(const mime::Entity& top, Decryption decryption, const StreamedSignedData& streamed,
                                   std::string content, KeyProvider& keys, const Policy& policy);

// The CMS content type (NID) of a DER/BER ContentInfo.
int cms_content_type(ByteView der);

// The content-encryption algorithm of an (auth)enveloped-data, by name.
std::string content_encryption_algorithm(ByteView der);

}  // namespace mailseal::smime::internal
