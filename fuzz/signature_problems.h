#pragma once
// How the differential checks of the streaming signature reader compare a
// problem with the whole-message check's (fuzz_signed_stream and
// tests/unit/smime_differential_test.cc, which include it from here).

#include <string>
#include <string_view>

namespace mailseal::fuzz {

// A problem without OpenSSL's error queue, which the signature check adds in
// parentheses to "the signature does not match the message": the streamed
// check takes CMS_verify's steps itself, and where a structure breaks more
// than one rule, which error OpenSSL queues first is not part of the verdict
// ("no matching digest" or "unsupported algorithm" for a second signer whose
// digest is unknown and unlisted; fuzz/corpus/signed_stream has it).
inline std::string without_openssl_detail(const std::string& problem) {
  constexpr std::string_view kMismatch = "the signature does not match the message";
  return problem.rfind(kMismatch, 0) == 0 ? std::string(kMismatch) : problem;
}

}  // namespace mailseal::fuzz
