#include "mailseal/smime/release.h"

#include "mailseal/common/error.h"
#include "mailseal/common/secret.h"
#include "mailseal/smime/smime.h"
#include "mailseal/udf/udf.h"

namespace mailseal::smime {

namespace {

// The content type a message is fingerprinted as (RFC 2046 section 5.2.1).
constexpr std::string_view kMessageContentType = "message/rfc822";

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

udf::Fingerprint HeldContent::fingerprint() const {
  if (taken_) {
    throw Error(ErrorCode::Internal, "the content of the message was released before it was fingerprinted");
  }
  return udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, kMessageContentType, as_bytes(text_));
}

// Takes the content out of `held`; a withheld one is wiped at once.
Release::Release(HeldContent& held, std::optional<Withheld> reason) : content_(std::move(held.text_)), reason_(reason) {
  held.text_.clear();
  held.taken_ = true;
  if (reason_) {
    secure_wipe(content_.data(), content_.size());
    content_.clear();
  }
}

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
}

const std::string& Release::content() const {
  if (!reason_)
    return content_;
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
