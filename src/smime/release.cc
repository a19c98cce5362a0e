#include "mailseal/smime/release.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/secret.h"
#include "mailseal/smime/smime.h"
#include "mailseal/udf/udf.h"

namespace mailseal::smime {

namespace {

// The content type a message is fingerprinted as (RFC 2046 section 5.2.1).
constexpr std::string_view kMessageContentType = "message/rfc822";
constexpr std::size_t kSpoolChunk = 1024 * 1024;

}  // namespace

std::string_view to_string(Withheld reason) noexcept {
  switch (reason) {
    case Withheld::NotSigned:
      return "not signed";
    case Withheld::BadSignature:
      return "bad signature";
    case Withheld::TrustBelowRequired:
      return "trust below the required level";
    case Withheld::IdentityMismatch:
      return "the From addresses disagree";
    case Withheld::Unauthenticated:
      return "unauthenticated encryption";
  }
  return "withheld";
}

HeldContent::HeldContent() = default;
HeldContent::HeldContent(std::string text) : text_(std::move(text)) {}
HeldContent::HeldContent(HeldContent&&) noexcept = default;
HeldContent& HeldContent::operator=(HeldContent&&) noexcept = default;
HeldContent::~HeldContent() = default;

void HeldContent::continue_with(SpooledContent rest) {
  rest_ = std::make_unique<SpooledContent>(std::move(rest));
}

udf::Fingerprint HeldContent::fingerprint() const {
  if (taken_) {
    throw Error(ErrorCode::Internal, "the content of the message was released before it was fingerprinted");
  }
  if (rest_) {
    // Only signed content is fingerprinted (to learn from it), and signed
    // content is never spooled (docs/smime.md, "Large messages").
    throw Error(ErrorCode::Internal, "a large decrypted message is not fingerprinted");
  }
  return udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, kMessageContentType, as_bytes(text_));
}

// Takes the content out of `held`; a withheld one is wiped at once.
Release::Release(HeldContent& held, std::optional<Withheld> reason)
    : content_(std::move(held.text_)), rest_(std::move(held.rest_)), reason_(reason) {
  held.text_.clear();
  held.taken_ = true;
  if (reason_) {
    secure_wipe(content_.data(), content_.size());
    content_.clear();
    rest_.reset();  // the temporary file is deleted
  }
}

Release::Release(Release&&) noexcept = default;
Release& Release::operator=(Release&&) noexcept = default;
Release::~Release() = default;

Release Release::of_decrypted(ReadResult& result, BadSignature bad_signature, Unauthenticated unauthenticated) {
  std::optional<Withheld> reason;
  if (!result.identity_problems.empty()) {
    reason = Withheld::IdentityMismatch;
  } else if (result.has_bad_signature()) {
    if (bad_signature == BadSignature::Withhold)
      reason = Withheld::BadSignature;
  } else if (!result.authenticated_encryption && !result.signature && unauthenticated == Unauthenticated::Withhold) {
    reason = Withheld::Unauthenticated;
  }
  return Release(result.content, reason);
}

Release Release::of_verified(ReadResult& result) {
  std::optional<Withheld> reason;
  if (!result.identity_problems.empty()) {
    reason = Withheld::IdentityMismatch;
  } else if (!result.signature) {
    reason = Withheld::NotSigned;
  } else if (!result.signature->valid) {
    reason = Withheld::BadSignature;
  }
  return Release(result.content, reason);
}

void Release::withhold(Withheld reason) {
  if (reason_)
    return;
  reason_ = reason;
  secure_wipe(content_.data(), content_.size());
  content_.clear();
  rest_.reset();
}

const std::string& Release::content() const {
  if (rest_) {
    throw Error(ErrorCode::Unsupported, "the decrypted message is too large to hold in memory",
                "write it to a file with -o FILE");
  }
  if (!reason_)
    return content_;
  throw_withheld();
}

void Release::write_to(ByteSink& out) const {
  if (reason_)
    throw_withheld();
  out.write(content_);
  if (!rest_)
    return;
  // Line endings made CRLF as in read_message (RFC 8551 section 3.1.1).
  CrlfSink canonical(out);
  std::vector<std::uint8_t> buffer(kSpoolChunk);
  for (std::uint64_t offset = rest_->offset;;) {
    ssize_t n = ::pread(rest_->reader.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(ErrorCode::Io, fmt::format("cannot read the decrypted message back: {}", std::strerror(errno)));
    if (n == 0)
      break;
    canonical.write(ByteView(buffer.data(), static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
  }
  canonical.finish();
}

void Release::throw_withheld() const {
  switch (*reason_) {
    case Withheld::NotSigned:
      throw Error(ErrorCode::BadSignature, "the message is not signed, so its content is not released");
    case Withheld::BadSignature:
      throw Error(ErrorCode::BadSignature,
                  "the message's signature is not valid, so it may have been altered; its content is not released");
    case Withheld::TrustBelowRequired:
      throw Error(ErrorCode::RejectedByPolicy,
                  "the signer is trusted less than required, so the content is not released");
    case Withheld::IdentityMismatch:
      throw Error(ErrorCode::BadSignature,
                  "the message's From addresses disagree (with each other, with its protected headers or with the "
                  "signer), so whom it is from is unknown; its content is not released");
    case Withheld::Unauthenticated:
      throw Error(ErrorCode::RejectedByPolicy,
                  "the message is encrypted without authentication (CBC) and not signed by its sender, so it may "
                  "have been altered in transit; its content is not released");
  }
  throw Error(ErrorCode::Internal, "the content is withheld");
}

}  // namespace mailseal::smime
