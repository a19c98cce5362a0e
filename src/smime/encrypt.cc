#include <algorithm>
#include <optional>

#include <openssl/rsa.h>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "smime/internal/background_sink.h"
#include "smime/internal/bio_sink.h"
#include "smime/internal/cms.h"
#include "smime/internal/compose.h"

namespace mailseal::smime {

namespace {

// RFC 9788 section 4.5.1: the outer Subject of an encrypted message.
constexpr std::string_view kObscuredSubject = "[...]";

void add_recipient(CMS_ContentInfo* cms, const crypto::Certificate& certificate, bool oaep, unsigned int flags) {
  CMS_RecipientInfo* recipient = CMS_add1_recipient_cert(cms, certificate.native(), flags | (oaep ? CMS_KEY_PARAM : 0u));
  ossl::check_ptr(recipient, fmt::format("cannot encrypt to the certificate '{}'", certificate.subject()),
                  ErrorCode::Unsupported);
  if (oaep) {
    // RFC 8017 RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 4055 parameters).
    EVP_PKEY_CTX* context = CMS_RecipientInfo_get0_pkey_ctx(recipient);
    ossl::check(EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING), "cannot select RSA-OAEP");
    ossl::check(EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()), "cannot select RSA-OAEP");
    ossl::check(EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()), "cannot select RSA-OAEP");
  }
}

std::optional<Bytes> key_identifier(const crypto::Certificate& certificate) {
  const ASN1_OCTET_STRING* identifier = X509_get0_subject_key_id(certificate.native());
  if (identifier == nullptr)
    return std::nullopt;
  const unsigned char* data = ASN1_STRING_get0_data(identifier);
  return Bytes(data, data + ASN1_STRING_length(identifier));
}

// RFC 5280 section 4.2.1.2, method 1: the SHA-1 of the subjectPublicKey. A
// certificate whose key identifier is anything else may be naming someone
// else's key, so it is never used to name a recipient.
bool key_identifier_is_its_own(const crypto::Certificate& certificate) {
  std::optional<Bytes> identifier = key_identifier(certificate);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!identifier || X509_pubkey_digest(certificate.native(), EVP_sha1(), digest, &length) != 1) {
    ossl::take_errors();
    return false;
  }
  return *identifier == Bytes(digest, digest + length);
}

// A reader finds its part of the message by issuer and serial number, or by
// key identifier, and readers stop at the first match (NSS does). Two
// recipients whose certificates share either but hold different keys would
// leave one of them unable to decrypt: a correspondent's certificate made to
// imitate another's. Refused, naming both.
void refuse_imitating_recipients(const std::vector<crypto::Certificate>& recipients) {
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    for (std::size_t j = i + 1; j < recipients.size(); ++j) {
      const crypto::Certificate& a = recipients[i];
      const crypto::Certificate& b = recipients[j];
      if (a.public_key() == b.public_key())
        continue;
      const bool same_serial = a.issuer_name_der() == b.issuer_name_der() && a.serial_hex() == b.serial_hex();
      const std::optional<Bytes> a_id = key_identifier(a);
      const bool same_key_id = a_id && a_id == key_identifier(b);
      if (same_serial || same_key_id) {
        throw Error(ErrorCode::RejectedByPolicy,
                    fmt::format("the recipients' certificates '{}' and '{}' carry the same {} but different keys: one "
                                "imitates the other, and a message to both could not be read by one of them",
                                a.subject(), b.subject(), same_serial ? "issuer and serial number" : "key identifier"),
                    "remove the contact you do not trust, or send to each separately");
      }
    }
  }
}

ossl::Cms make_envelope(const EncryptOptions& options) {
  const EVP_CIPHER* cipher = options.choice.cipher == ContentCipher::Aes256Gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
  ossl::X509Stack none(ossl::check_ptr(sk_X509_new_null(), "cannot allocate a certificate stack"));
  // With an AEAD cipher OpenSSL 3 builds AuthEnvelopedData (RFC 5083).
  ossl::Cms cms(ossl::check_ptr(CMS_encrypt(none.get(), nullptr, cipher, CMS_BINARY | CMS_STREAM | CMS_PARTIAL),
                                "cannot start the encryption"));
  for (const auto& certificate : options.recipients) {
    bool oaep = options.choice.rsa_oaep && certificate.public_key().family() == crypto::KeyFamily::Rsa;
    add_recipient(cms.get(), certificate, oaep, 0);
    const auto& by_key_id = options.also_by_key_id;
    if (std::find(by_key_id.begin(), by_key_id.end(), certificate) != by_key_id.end() &&
        key_identifier_is_its_own(certificate)) {
      add_recipient(cms.get(), certificate, oaep, CMS_USE_KEYID);
    }
  }
  return cms;
}

}  // namespace

std::string_view to_string(ContentCipher cipher) noexcept {
  return cipher == ContentCipher::Aes256Gcm ? "AES-256-GCM" : "AES-256-CBC";
}

std::string_view key_transport(const EncryptionChoice& choice) noexcept {
  return choice.rsa_oaep ? "RSAES-OAEP" : "RSAES-PKCS1-v1_5";
}

EncryptionChoice choose_encryption(std::span<const EncryptionRecipient> recipients, CipherPolicy policy) {
  EncryptionChoice choice;  // AES-256-CBC, RSA PKCS#1 v1.5
  if (policy == CipherPolicy::EveryClient)
    return choice;
  bool all_gcm = !recipients.empty();
  bool all_oaep = true;
  for (const auto& recipient : recipients) {
    all_gcm = all_gcm && recipient.capabilities.aes256_gcm;
    if (recipient.certificate.public_key().family() == crypto::KeyFamily::Rsa) {
      all_oaep = all_oaep && recipient.capabilities.rsaes_oaep;
    }
  }
  choice.cipher = all_gcm ? ContentCipher::Aes256Gcm : ContentCipher::Aes256Cbc;
  // OAEP only together with GCM: the CBC path stays exactly what gpgsm 2.2
  // and NSS read.
  choice.rsa_oaep = all_gcm && all_oaep;
  return choice;
}

void encrypt_message(OutgoingMessage& message, ByteSink& out, const EncryptOptions& options, TimePoint now) {
  if (options.recipients.empty()) {
    throw Error(ErrorCode::Usage, "no recipients to encrypt to");
  }
  refuse_imitating_recipients(options.recipients);
  message.complete_headers(now);
  if (options.signer != nullptr && !options.signer->certificate.names_address(message.from())) {
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("the signing certificate is not for {}, the message's From address", message.from().str()));
  }
  const bool authenticated = options.choice.cipher == ContentCipher::Aes256Gcm;
  // Bcc is never written; the Subject is kept where it was, or replaced.
  const bool obscured = options.subject == OuterSubject::Obscured;
  std::string outer = obscured ? internal::message_headers(message, {"Subject", "Bcc"})
                               : internal::message_headers(message, {"Bcc"});
  if (obscured)
    outer += fmt::format("Subject: {}\r\n", kObscuredSubject);
  outer += "MIME-Version: 1.0\r\n";
  outer += fmt::format(
      "Content-Type: application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n"
      "Content-Description: S/MIME Encrypted Message\r\n\r\n",
      authenticated ? "authEnveloped-data" : "enveloped-data");
  out.write(outer);

  // RFC 9788: what is obscured outside and user-facing (the Subject; Bcc is
  // written nowhere) leads the main body parts, for clients that do not read
  // protected header fields. Nothing is obscured when the Subject stays in
  // clear, so then there is no element.
  std::vector<mime::DisplayedField> legacy_display;
  if (obscured) {
    for (const auto& field : message.headers().fields()) {
      if (mime::same_field_name(field.name, "Subject") && !field.value().empty()) {
        legacy_display.push_back(mime::displayed_field("Subject", field.raw_value));
        break;
      }
    }
  }
  ossl::Cms cms = make_envelope(options);
  internal::stream_cms(cms.get(), out, "encryption", [&](ByteSink& plaintext) {
    if (options.signer != nullptr) {
      // The signature's digest and the encryption each take a core.
      internal::BackgroundSink encryption(plaintext);
      internal::write_multipart_signed(message, encryption, *options.signer, internal::Transport::Binary,
                                       internal::HeaderProtection::Cipher, "", legacy_display);
      encryption.finish();
    } else {
      internal::write_content_entity(message, plaintext, internal::Transport::Binary,
                                     internal::HeaderProtection::Cipher, legacy_display);
    }
  });
  out.finish();
}

}  // namespace mailseal::smime
