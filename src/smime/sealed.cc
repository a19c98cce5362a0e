#include "mailseal/smime/sealed.h"

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "smime/internal/bio_sink.h"
#include "smime/internal/cms.h"
#include "smime/internal/reading.h"

namespace mailseal::smime {

namespace {

Bytes to_der(CMS_ContentInfo* cms) {
  unsigned char* out = nullptr;
  int length = i2d_CMS_ContentInfo(cms, &out);
  ossl::check(length, "cannot encode a CMS structure");
  ossl::OpensslBytes owned(out);
  return Bytes(out, out + length);
}

}  // namespace

Bytes seal(ByteView content, const SignerIdentity& signer, std::span<const crypto::Certificate> recipients) {
  if (recipients.empty()) {
    throw Error(ErrorCode::Usage, "a sealed object needs a recipient");
  }
  ossl::Cms signed_data = internal::make_signed_data(signer, false);
  auto content_bio = ossl::memory_reader(content.data(), content.size());
  ossl::check(CMS_final(signed_data.get(), content_bio.get(), nullptr, CMS_BINARY), "cannot sign the content");
  Bytes inner = to_der(signed_data.get());

  ossl::X509Stack none(ossl::check_ptr(sk_X509_new_null(), "cannot allocate a certificate stack"));
  ossl::Cms envelope(ossl::check_ptr(CMS_encrypt(none.get(), nullptr, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL),
                                     "cannot start the encryption"));
  // Recipients named by key identifier: a device whose certificate was
  // renewed for the same key (docs/profile.md) opens what was sealed to its
  // new certificate while it still holds the old one.
  for (const auto& certificate : recipients) {
    ossl::check_ptr(CMS_add1_recipient_cert(envelope.get(), certificate.native(), CMS_USE_KEYID),
                    fmt::format("cannot encrypt to '{}'", certificate.subject()), ErrorCode::Unsupported);
  }
  auto inner_bio = ossl::memory_reader(inner.data(), inner.size());
  ossl::check(CMS_final(envelope.get(), inner_bio.get(), nullptr, CMS_BINARY), "cannot encrypt the content");
  return to_der(envelope.get());
}

Opened open_sealed(ByteView sealed, std::span<const DecryptionKey> keys) {
  if (sealed.size() > kMaxSealedSize) {
    throw Error(ErrorCode::Malformed, "the sealed object is larger than mailseal accepts");
  }
  if (internal::cms_content_type(sealed) != NID_id_smime_ct_authEnvelopedData) {
    throw Error(ErrorCode::Malformed, "not a sealed object (AuthEnvelopedData expected)");
  }
  internal::Decryption decrypted = internal::decrypt_envelope(sealed, keys);
  ByteView inner = as_bytes(decrypted.plaintext);
  if (internal::cms_content_type(inner) != NID_pkcs7_signed) {
    throw Error(ErrorCode::Malformed, "the sealed object does not hold signed data");
  }
  ossl::Cms signed_data = internal::read_cms(inner);
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(signed_data.get());
  if (infos == nullptr || sk_CMS_SignerInfo_num(infos) != 1) {
    throw Error(ErrorCode::Malformed, "a sealed object has exactly one signer");
  }
  if (!internal::signer_digest_listed(inner, sk_CMS_SignerInfo_value(infos, 0))) {
    throw Error(ErrorCode::Malformed, "the sealed object's signature does not list its digest algorithm");
  }
  StringSink content;
  internal::SinkBio out(content);
  if (CMS_verify(signed_data.get(), nullptr, nullptr, nullptr, out.get(), CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) !=
      1) {
    out.rethrow_if_failed();
    throw Error(ErrorCode::BadSignature,
                fmt::format("the signature inside the sealed object does not hold: {}", ossl::take_errors()));
  }
  out.rethrow_if_failed();
  // CMS_get0_signers lends its certificates: only the stack itself is freed.
  ossl::BorrowedX509Stack signers(CMS_get0_signers(signed_data.get()));
  if (!signers || sk_X509_num(signers.get()) != 1) {
    throw Error(ErrorCode::Malformed, "the sealed object's signer certificate is missing");
  }
  Opened opened{SecretBytes(), crypto::Certificate(ossl::add_reference(sk_X509_value(signers.get(), 0))), {}};
  std::string text = content.take();
  opened.content.assign(text.begin(), text.end());
  secure_wipe(text.data(), text.size());
  opened.certificates = internal::carried_certificates(signed_data.get());
  return opened;
}

}  // namespace mailseal::smime
