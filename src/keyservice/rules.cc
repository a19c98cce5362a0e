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

bool invitation_lifetime_allowed(std::chrono::seconds lifetime) {
  return lifetime >= std::chrono::seconds(1) && lifetime <= kMaxInvitationLifetime;
}

bool device_name_allowed(std::string_view name) {
  return !name.empty() && name.size() <= kMaxDeviceNameLength;
}

}  // namespace mailseal::keyservice
