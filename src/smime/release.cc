#include "mailseal/smime/release.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/openssl.h"
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

namespace {

// Reads the file of `rest` from `offset` on, in chunks, into `out`, its line
// endings made CRLF as in read_message (RFC 8551 section 3.1.1) unless they
// are already.
void read_spooled(const SpooledContent& rest, ByteSink& out) {
  CrlfSink canonical(out);
  ByteSink& sink = rest.crlf ? out : canonical;
  std::vector<std::uint8_t> buffer(kSpoolChunk);
  for (std::uint64_t offset = rest.offset;;) {
    ssize_t n = ::pread(rest.reader.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(ErrorCode::Io, fmt::format("cannot read the message back: {}", std::strerror(errno)));
    if (n == 0)
      break;
    sink.write(ByteView(buffer.data(), static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
  }
  canonical.finish();
}

// Whether the file of `rest` starts with `text`.
bool file_starts_with(const SpooledContent& rest, std::string_view text) {
  std::string start(text.size(), '\0');
  for (std::size_t done = 0; done < start.size();) {
    ssize_t n = ::pread(rest.reader.get(), start.data() + done, start.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return start == text;
}

// A sink that digests what it is given.
class DigestSink : public ByteSink {
 public:
  DigestSink() : context_(EVP_MD_CTX_new()) {
    if (context_ == nullptr || EVP_DigestInit_ex(context_.get(), EVP_sha512(), nullptr) != 1)
      throw Error(ErrorCode::Internal, "cannot start a digest");
  }
  using ByteSink::write;
  void write(ByteView bytes) override {
    if (EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) != 1)
      throw Error(ErrorCode::Internal, "cannot digest the content");
  }
  Bytes value() {
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(context_.get(), out.data(), &size) != 1)
      throw Error(ErrorCode::Internal, "cannot finish a digest");
    out.resize(size);
    return out;
  }

 private:
  ossl::MdCtx context_;
};

}  // namespace

void HeldContent::continue_with(SpooledContent rest) {
  if (rest.crlf && rest.offset == text_.size() && file_starts_with(rest, text_)) {
    secure_wipe(text_.data(), text_.size());
    text_.clear();
    rest.offset = 0;
  }
  rest_ = std::make_unique<SpooledContent>(std::move(rest));
}

udf::Fingerprint HeldContent::fingerprint() const {
  if (taken_) {
    throw Error(ErrorCode::Internal, "the content of the message was released before it was fingerprinted");
  }
  if (rest_) {
    // The content as write_to writes it, digested as it is read back.
    DigestSink digest;
    digest.write(text_);
    read_spooled(*rest_, digest);
    return udf::Fingerprint::of_content_digest(udf::DigestAlgorithm::Sha2_512, kMessageContentType, digest.value());
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
  if (rest_)
    read_spooled(*rest_, out);
}

void Release::move_to(OutputSink& out) {
  if (reason_)
    throw_withheld();
  if (rest_ && content_.empty() && rest_->offset == 0 && rest_->crlf && out.adopt(rest_->file)) {
    rest_.reset();
    return;
  }
  write_to(out);
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
