#pragma once
// The S/MIME engine (RFC 8551 on CMS, RFC 5652): signs and encrypts
// outgoing messages as streams, and reads incoming ones layer by layer
// (signatures, encryption) into one verdict. It takes keys and
// certificates as arguments; choosing them is the caller's job.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/capabilities.h"
#include "mailseal/smime/io.h"
#include "mailseal/smime/policy.h"
#include "mailseal/smime/release.h"

namespace mailseal::smime {

// Largest message read whole (decrypt, verify), and largest content an
// encryption layer may hold.
inline constexpr std::size_t kMaxMessageSize = 1024ull * 1024 * 1024;
// Messages up to this size are read whole even from a stream; a larger
// encrypted one streams (read_message with a ByteSource).
inline constexpr std::size_t kStreamAbove = 4 * 1024 * 1024;

// The key and certificates a signature is made with.
struct SignerIdentity {
  const crypto::PrivateKey* key = nullptr;
  crypto::Certificate certificate;
  // Further certificates the signature carries: the issuers, and the sender's
  // encryption certificate, so that a recipient can encrypt a reply.
  std::vector<crypto::Certificate> chain;
  // What the signer reads, announced in the SMIMECapabilities attribute.
  Capabilities capabilities = Capabilities::mailseal();
  // The signingTime attribute (RFC 5652 section 11.3): the caller's clock,
  // so that a signature made at an injected time says that time and agrees
  // with the Date it is checked against. Unset, OpenSSL stamps the process
  // clock.
  std::optional<TimePoint> signing_time;
};

enum class SignatureForm { Detached, Opaque };
// "detached" or "opaque".
std::string_view to_string(SignatureForm form) noexcept;

// An RFC 5322 message about to be signed or encrypted: its header block is
// read ahead, its body stays in the source and is streamed once.
class OutgoingMessage {
 public:
  // Reads the header block. Error(Malformed) if there is none or it is over
  // the limit.
  static OutgoingMessage read(ByteSource& source);

  const mime::Headers& headers() const noexcept { return headers_; }
  // The one From address; Error(Usage) when there is none or several.
  EmailAddress from() const;
  // Every address of To, Cc and Bcc, without duplicates.
  std::vector<EmailAddress> recipients() const;
  // Adds Date (`now`) and Message-ID when missing, as submission would.
  void complete_headers(TimePoint now);

  ByteSource& body() noexcept { return *body_; }
  mime::Headers& mutable_headers() noexcept { return headers_; }

 private:
  OutgoingMessage() = default;
  mime::Headers headers_;
  std::unique_ptr<ByteSource> body_;
};

// Signs with a detached (multipart/signed) or opaque (application/pkcs7-mime
// signed-data) signature carrying the chain, signingTime and
// SMIMECapabilities. The signer's certificate must name the From address.
// A message without a Date header is dated `now`.
void sign_message(OutgoingMessage& message, ByteSink& out, const SignerIdentity& signer, SignatureForm form,
                  TimePoint now);

enum class ContentCipher { Aes256Gcm, Aes256Cbc };
std::string_view to_string(ContentCipher cipher) noexcept;

struct EncryptionRecipient {
  crypto::Certificate certificate;
  Capabilities capabilities;
};

struct EncryptionChoice {
  ContentCipher cipher = ContentCipher::Aes256Cbc;
  bool rsa_oaep = false;
};
// The RSA key transport of a choice: "RSAES-OAEP" or "RSAES-PKCS1-v1_5".
std::string_view key_transport(const EncryptionChoice& choice) noexcept;

// Which content encryption a message gets (docs/smime.md, "Which cipher").
enum class CipherPolicy {
  // AES-256-CBC EnvelopedData with RSA PKCS#1 v1.5: what every S/MIME client
  // reads (Thunderbird 153 shows AES-GCM as a blank body, whatever the
  // recipient's certificate advertised when the sender learned it). The
  // default, signed or not: a signature inside authenticates the content.
  EveryClient,
  // AES-256-GCM AuthEnvelopedData (RFC 5083) when every recipient advertises
  // it, with RSA-OAEP when every RSA recipient advertises that too; else as
  // EveryClient. For recipients who read with mailseal only.
  Authenticated,
};

// The encryption for these recipients under `policy`.
EncryptionChoice choose_encryption(std::span<const EncryptionRecipient> recipients, CipherPolicy policy);

// The outer Subject of an encrypted message (RFC 9788 section 5.2: a header
// confidentiality policy). Either way the encrypted payload carries the real
// one with hp="cipher".
enum class OuterSubject {
  // "[...]" (hcp_baseline): only readers of protected headers (mailseal,
  // Thunderbird for OpenPGP only) show the real Subject.
  Obscured,
  // The real Subject (hcp_no_confidentiality): every client shows it, and so
  // does every server the message passes.
  Clear,
};

struct EncryptOptions {
  std::vector<crypto::Certificate> recipients;  // the sender included
  const SignerIdentity* signer = nullptr;       // sign inside the encryption when set
  EncryptionChoice choice;
  OuterSubject subject = OuterSubject::Obscured;
  // Recipients (of `recipients`) whose key is named twice: by issuer and
  // serial number, and by the certificate's subject key identifier (RFC 5652
  // section 6.2.1), through which NSS (Thunderbird) finds the key with any
  // certificate of it, such as one re-issued since the sender learned this
  // one. gpgsm 2.2 decrypts such a message but exits 2, so only where needed.
  std::vector<crypto::Certificate> also_by_key_id = {};
};

// Signs (optionally) then encrypts, protecting the headers as RFC 9788 does:
// the encrypted payload carries Subject, From, To, Cc, Date, Message-ID (and
// reply headers) with hp="cipher"; the outer Subject becomes "[...]" (unless
// options.subject is Clear) and Bcc is dropped. A message without a Date
// header is dated `now`.
void encrypt_message(OutgoingMessage& message, ByteSink& out, const EncryptOptions& options, TimePoint now);

// What a signature layer says.
struct SignatureReport {
  bool valid = false;
  SignatureForm form = SignatureForm::Detached;
  std::optional<crypto::Certificate> signer;
  std::vector<crypto::Certificate> certificates;  // every certificate the signature carries
  Capabilities capabilities;
  bool from_matches = false;
  std::optional<TimePoint> signing_time;
  std::string digest;  // "SHA-256"
  std::vector<std::string> problems;
};

// The address a signature is shown under: of the signer certificate's
// addresses, the one that is the message's From address, else the first;
// empty without a signer certificate or addresses.
std::string signer_address(const SignatureReport& report, const std::vector<EmailAddress>& from);

struct DecryptionKey {
  const crypto::PrivateKey* key = nullptr;
  crypto::Certificate certificate;
};

// The outcome of reading a message.
struct ReadResult {
  bool encrypted = false;  // an encryption layer was found where it is opened
  bool decrypted = false;
  std::string content_cipher;  // "AES-256-GCM", "AES-256-CBC", ...
  bool authenticated_encryption = false;
  // The signature that vouches for the message: the outermost one counted,
  // valid only if every counted layer is (see docs/smime.md).
  std::optional<SignatureReport> signature;
  std::vector<SignatureReport> layers;  // every counted signature, outermost first
  std::vector<EmailAddress> from;
  std::vector<std::string> notes;  // layers ignored or not opened, and why
  // Why whom the message is from is unknown (each names the addresses):
  // not exactly one From field with one mailbox, in the message or in a
  // signed or encrypted layer with header fields; a protected From that is
  // not the outer one. Any makes the signature invalid and withholds the
  // content (release.h).
  std::vector<std::string> identity_problems;
  // What a reader should know, since mail clients show it, without failing:
  // a display name holding another address, a Sender that is not the From,
  // outer header fields that differ from the signed ones (which count),
  // signed To/Cc that do not name the reader.
  std::vector<std::string> warnings;
  // Whether the signed To/Cc name one of Policy::reader_addresses; nullopt
  // when unknown (no reader addresses, or no signed To/Cc).
  std::optional<bool> addressed_to_reader;
  // A part of the message is signed, or encrypted, but not the message as a
  // whole (its root): such a part counts for nothing and is not opened.
  bool signed_part_only = false;
  bool encrypted_part_only = false;
  // A part could not be looked into for those (malformed, too deep, too
  // many): another reader may show it signed or encrypted.
  bool parts_unchecked = false;
  // The innermost message, protected headers restored, CRLF line endings:
  // held back until a Release (release.h) decides that it may be read.
  HeldContent content;

  // A signature vouches for the message, and it does not hold.
  bool has_bad_signature() const noexcept { return signature && !signature->valid; }
};

// Supplies decryption keys when, and only when, an encryption layer is met
// (loading keys may need a passphrase that reading a signature does not).
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  virtual std::span<const DecryptionKey> keys() = 0;
};

// Reads every layer of a message: verifies signatures, decrypts with the
// first key that fits. Error(NoMatchingKey) when encrypted to none of the
// keys (naming the recipients), Error(Malformed) for broken structure.
ReadResult read_message(ByteView message, KeyProvider& keys, const Policy& policy);
ReadResult read_message(ByteView message, std::span<const DecryptionKey> keys, const Policy& policy);

// Reads a message from a stream, with the same rules and results. One of up
// to kStreamAbove bytes, or one whose outermost layer is not base64
// encryption, a base64 opaque signature or a multipart/signed, is read whole
// (up to kMaxMessageSize). A larger one streams in bounded memory
// (docs/smime.md, "Large messages"): its outer CMS layers (or its
// multipart/signed body) are read incrementally, its content decrypted, or
// digested, chunk by chunk into a 0600 temporary file beside `spool` and
// checked at the end (CBC padding, the GCM tag; the signature) before
// anything else is read from it; content of one part stays in that file
// (HeldContent::spooled, written out by Release::write_to or move_to), any
// other (signed, multipart) is then read whole. The file is deleted unless
// the content is released.
ReadResult read_message(ByteSource& message, KeyProvider& keys, const Policy& policy,
                        const std::filesystem::path& spool);

}  // namespace mailseal::smime
