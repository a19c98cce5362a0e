#include "mailseal/common/error.h"

namespace mailseal {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::Usage:
      return "usage";
    case ErrorCode::Malformed:
      return "malformed";
    case ErrorCode::Unsupported:
      return "unsupported";
    case ErrorCode::BadSignature:
      return "bad-signature";
    case ErrorCode::NoMatchingKey:
      return "no-matching-key";
    case ErrorCode::BadPassword:
      return "bad-password";
    case ErrorCode::RejectedByPolicy:
      return "rejected-by-policy";
    case ErrorCode::NotFound:
      return "not-found";
    case ErrorCode::AlreadyExists:
      return "already-exists";
    case ErrorCode::Io:
      return "io";
    case ErrorCode::Internal:
      return "internal";
  }
  return "internal";
}

Error::Error(ErrorCode code, const std::string& message, std::string hint)
    : std::runtime_error(message), code_(code), hint_(std::move(hint)) {}

}  // namespace mailseal
