#include "mailseal/keyservice/rules.h"

#include "mailseal/udf/udf.h"

namespace mailseal::keyservice {

DeviceId device_id_of(const crypto::PublicKey& signature_key) {
  return DeviceId(signature_key.fingerprint().to_string(kDeviceIdBits));
}

Identity profile_fingerprint_of(const crypto::Certificate& root) {
  return Identity(root.key_fingerprint().to_string(udf::kFullBits));
}

bool is_profile_root(const crypto::Certificate& certificate) {
  return certificate.is_ca() && certificate.is_self_issued() && certificate.is_issued_by(certificate);
}

bool same_profile_root(const crypto::Certificate& one, const crypto::Certificate& other) {
  return is_profile_root(one) && is_profile_root(other) && one.public_key() == other.public_key() &&
         one.common_name() == other.common_name();
}

bool invitation_lifetime_allowed(std::chrono::seconds lifetime) {
  return lifetime >= std::chrono::seconds(1) && lifetime <= kMaxInvitationLifetime;
}

bool device_name_allowed(std::string_view name) {
  return !name.empty() && name.size() <= kMaxDeviceNameLength;
}

bool is_verification_token(std::string_view text) noexcept {
  return text.size() == kVerificationTokenDigits &&
         text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<std::string> verification_token_in(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (is_verification_token(text))
    return std::string(text);
  text = text.substr(0, text.find_first_of("?#"));
  if (text.ends_with('/'))
    text.remove_suffix(1);
  auto at = text.rfind(kVerifyPath);
  if (at == std::string_view::npos)
    return std::nullopt;
  std::string_view token = text.substr(at + kVerifyPath.size());
  if (!is_verification_token(token))
    return std::nullopt;
  return std::string(token);
}

}  // namespace mailseal::keyservice
