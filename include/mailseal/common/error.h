#pragma once
// The one exception type of mailseal (STYLE.md: a code plus a detail, no hierarchy).

#include <stdexcept>
#include <string>
#include <string_view>

namespace mailseal {

// The categories a caller can act on. The CLI maps Usage to exit status 2 and
// everything else to 1 (DESIGN.md section 8).
enum class ErrorCode {
  Usage,             // the request itself is wrong: a bad argument or option
  Malformed,         // input bytes do not parse as what they claim to be
  Unsupported,       // parses, but uses an algorithm or feature mailseal does not do
  BadSignature,      // a signature or MAC does not verify
  NoMatchingKey,     // no key of ours (or of a recipient) fits
  BadPassword,       // a password or passphrase is wrong or missing
  RejectedByPolicy,  // valid, but refused (weak algorithm, untrusted, conflict)
  NotFound,          // a profile, contact, key or file that is not there
  AlreadyExists,     // creating something that exists already
  Io,                // the file system or the network failed
  Internal,          // a bug or an unexpected library failure
};

std::string_view to_string(ErrorCode code) noexcept;

// An error with a message a user can act on, and optionally a hint naming the
// command or flag that would help ("give --passphrase-file FILE").
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::string hint = {});

  ErrorCode code() const noexcept { return code_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  ErrorCode code_;
  std::string hint_;
};

}  // namespace mailseal
