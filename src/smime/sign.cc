#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "smime/internal/bio_sink.h"
#include "smime/internal/cms.h"
#include "smime/internal/compose.h"

namespace mailseal::smime {

namespace internal {

struct DetachedSigner::Impl {
  ossl::Cms cms;
  ossl::Bio data;                 // CMS_dataInit chain: digests what is written
  std::unique_ptr<BioSink> sink;  // writes into `data`; declared after it, so destroyed first
};

DetachedSigner::DetachedSigner(const SignerIdentity& signer) : impl_(std::make_unique<Impl>()) {
  impl_->cms = make_signed_data(signer, true);
  impl_->data.reset(ossl::check_ptr(CMS_dataInit(impl_->cms.get(), nullptr), "cannot start the signature"));
  impl_->sink = std::make_unique<BioSink>(impl_->data.get());
}

DetachedSigner::~DetachedSigner() = default;

ByteSink& DetachedSigner::content() noexcept {
  return *impl_->sink;
}

Bytes DetachedSigner::finish() {
  ossl::check(CMS_dataFinal(impl_->cms.get(), impl_->data.get()), "cannot complete the signature");
  impl_->data.reset();
  auto out = ossl::memory_writer();
  ossl::check(i2d_CMS_bio(out.get(), impl_->cms.get()), "cannot encode the signature");
  std::string_view der = ossl::memory_contents(out.get());
  return Bytes(der.begin(), der.end());
}

}  // namespace internal

namespace {

void check_signer_names_sender(const SignerIdentity& signer, const EmailAddress& from) {
  if (!signer.certificate.names_address(from)) {
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("the signing certificate is not for {}, the message's From address", from.str()));
  }
}

}  // namespace

void sign_message(OutgoingMessage& message, ByteSink& out, const SignerIdentity& signer, SignatureForm form,
                  TimePoint now) {
  const EmailAddress from = message.from();
  check_signer_names_sender(signer, from);
  message.complete_headers(now);
  out.write(internal::message_headers(message, {}));
  out.write(std::string_view("MIME-Version: 1.0\r\n"));
  if (form == SignatureForm::Detached) {
    internal::write_multipart_signed(message, out, signer, internal::Transport::SevenBit,
                                     internal::HeaderProtection::Clear, "");
    out.finish();
    return;
  }
  out.write(
      std::string_view("Content-Type: application/pkcs7-mime; smime-type=signed-data; name=\"smime.p7m\"\r\n"
                       "Content-Transfer-Encoding: base64\r\n"
                       "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n"
                       "Content-Description: S/MIME Cryptographic Signature\r\n\r\n"));
  ossl::Cms cms = internal::make_signed_data(signer, false);
  internal::stream_cms(cms.get(), out, "signature", [&](ByteSink& content) {
    internal::write_content_entity(message, content, internal::Transport::Binary, internal::HeaderProtection::Clear);
  });
  out.finish();
}

std::string_view to_string(SignatureForm form) noexcept {
  return form == SignatureForm::Detached ? "detached" : "opaque";
}

}  // namespace mailseal::smime
