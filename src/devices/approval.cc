// Approving devices on an admin device: the pending requests with their
// witnesses, accepting and rejecting them, PIN invitations, and accepting
// the requests made with a PIN on sync.

#include <fmt/format.h>

#include "devices/internal/steps.h"
#include "mailseal/common/error.h"
#include "mailseal/devices/pairing.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"

namespace mailseal::devices {

using namespace internal;

namespace {

std::vector<keyservice::PendingRequest> pending_requests(profile::Profile& profile, keyservice::Client& client,
                                                         const KeySigner& root) {
  return client.pending_requests(profile.store().profile().fingerprint, root.signer).requests;
}

std::string witness_of(const Identity& fingerprint, const keyservice::PendingRequest& pending) {
  return compute_witness(fingerprint, pending.request.signature_key, pending.request.agreement_key,
                         pending.request.device_nonce, pending.service_nonce);
}

bool has_pin(const keyservice::PendingRequest& pending) {
  return pending.request.pin_id.has_value();
}

std::optional<store::InviteRecord> invite_for(store::LocalStore& store, const std::string& pin) {
  for (auto& invite : store.invites()) {
    if (invite.pin_id == pin)
      return invite;
  }
  return std::nullopt;
}

bool pin_mac_valid(const Identity& fingerprint, const keyservice::PendingRequest& pending,
                   const store::InviteRecord& invite) {
  const keyservice::JoinRequest& request = pending.request;
  std::string expected = join_pin_mac(invite.mac_key, fingerprint, request.signature_key, request.agreement_key,
                                      request.device_nonce, request.device_name);
  return request.pin_mac && pin_mac_equal(*request.pin_mac, expected);
}

AcceptedDevice accept_request(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                              const KeySigner& root, const keyservice::PendingRequest& pending, store::DeviceRole role,
                              const std::optional<store::InviteRecord>& invite, TimePoint now) {
  const auto fingerprint = profile.store().profile().fingerprint;
  const RequestId& request_id = pending.request_id;
  const std::string& name = pending.request.device_name;
  crypto::PublicKey signature_key = crypto::PublicKey::from_spki_der(pending.request.signature_key);
  crypto::PublicKey agreement_key = crypto::PublicKey::from_spki_der(pending.request.agreement_key);
  profile::DeviceCertificates certificates =
      profile::issue_device_certificates(root.key, profile.root_certificate(), name, signature_key, agreement_key, now);
  store::DeviceRecord device;
  device.device_id = keyservice::device_id_of(signature_key);
  device.name = name;
  device.role = role;
  device.status = store::DeviceStatus::Active;
  device.signature_certificate = certificates.signature.der();
  device.agreement_certificate = certificates.agreement.der();
  device.created_at = now;
  std::optional<std::string> proof;
  if (invite) {
    proof = bundle_pin_proof(invite->mac_key, fingerprint, device.device_id, request_id);
  }
  Bytes sealed = seal_bundle(profile, key_access, bundle_for(profile, key_access, device, proof, now),
                             certificates.agreement, now);
  keyservice::Decision decision{keyservice::Acceptance{sealed, certificates.signature, certificates.agreement}};
  client.decide(fingerprint, request_id, decision, root.signer);
  profile.store().add_device(device);
  if (invite)
    profile.store().mark_invite_used(invite->pin_id, now);
  return AcceptedDevice{device.device_id, name, role, request_id};
}

void refuse_request(profile::Profile& profile, keyservice::Client& client, const KeySigner& root,
                    const RequestId& request_id) {
  client.decide(profile.store().profile().fingerprint, request_id, keyservice::Decision{std::nullopt}, root.signer);
}

const keyservice::PendingRequest& matching_request(const std::vector<keyservice::PendingRequest>& requests,
                                                   const Identity& fingerprint, std::string_view witness_or_id) {
  for (const auto& request : requests) {
    if (request.request_id.str() == witness_or_id || witness_matches(witness_or_id, witness_of(fingerprint, request)))
      return request;
  }
  throw Error(ErrorCode::NotFound, fmt::format("no pending request has the witness or id {}", witness_or_id),
              "'mailseal device pending' lists them; compare the witness with the new device's screen");
}

}  // namespace

std::vector<PendingDevice> pending_devices(profile::Profile& profile, keyservice::Client& client,
                                           const KeyAccess& key_access, TimePoint now) {
  KeySigner root = root_signer(profile, key_access, now);
  const auto fingerprint = profile.store().profile().fingerprint;
  std::vector<PendingDevice> out;
  for (const auto& request : pending_requests(profile, client, root)) {
    out.push_back({request.request_id, request.request.device_name, witness_of(fingerprint, request), has_pin(request),
                   request.created_at});
  }
  return out;
}

AcceptedDevice accept_device(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                             std::string_view witness_or_id, store::DeviceRole role, TimePoint now) {
  if (role == store::DeviceRole::Admin) {
    throw Error(ErrorCode::Usage, "a connected device is full or read; admin devices are made by recovery");
  }
  KeySigner root = root_signer(profile, key_access, now);
  const auto fingerprint = profile.store().profile().fingerprint;
  auto requests = pending_requests(profile, client, root);
  const keyservice::PendingRequest& request = matching_request(requests, fingerprint, witness_or_id);
  std::optional<store::InviteRecord> invite;
  if (has_pin(request)) {
    // The device will check that the bundle proves the PIN.
    invite = invite_for(profile.store(), *request.request.pin_id);
    if (!invite || !pin_mac_valid(fingerprint, request, *invite)) {
      throw Error(ErrorCode::RejectedByPolicy,
                  "this request was made with a PIN this device did not issue, or with a wrong one",
                  "accept it on the admin device that made the invitation, or reject it");
    }
  }
  AcceptedDevice accepted = accept_request(profile, client, key_access, root, request, role, invite, now);
  publish(profile, client, key_access, now);
  return accepted;
}

void reject_device(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                   std::string_view witness_or_id, TimePoint now) {
  KeySigner root = root_signer(profile, key_access, now);
  auto requests = pending_requests(profile, client, root);
  const auto& request = matching_request(requests, profile.store().profile().fingerprint, witness_or_id);
  refuse_request(profile, client, root, request.request_id);
}

std::vector<RequestId> reject_all_requests(profile::Profile& profile, keyservice::Client& client,
                                           const KeyAccess& key_access, TimePoint now) {
  KeySigner root = root_signer(profile, key_access, now);
  return client.reject_all(profile.store().profile().fingerprint, root.signer).rejected;
}

Invitation invite(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                  std::chrono::seconds lifetime, store::DeviceRole role, TimePoint now) {
  if (role == store::DeviceRole::Admin) {
    throw Error(ErrorCode::Usage, "an invited device is full or read");
  }
  if (!keyservice::invitation_lifetime_allowed(lifetime)) {
    throw Error(ErrorCode::Usage, "an invitation lasts between a second and a week");
  }
  KeySigner root = root_signer(profile, key_access, now);
  Invitation invitation;
  invitation.pin = new_pin();
  invitation.expires_at = now + lifetime;
  invitation.role = role;
  const std::string id = pin_id(invitation.pin);
  client.invite(profile.store().profile().fingerprint, {id, invitation.expires_at}, root.signer);
  profile.store().add_invite({id, pin_mac_key(invitation.pin), role, invitation.expires_at, std::nullopt, now});
  invitation.uri = fmt::format("mailseal:join?address={}&service={}&pin={}",
                               keyservice::path_segment(profile.addresses().front().str()),
                               keyservice::path_segment(client.url()), invitation.pin);
  return invitation;
}

namespace internal {

// Admin devices: requests made with a PIN they issued are accepted (or
// refused) without anyone comparing witnesses.
void process_pin_requests(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                          SyncReport& report, TimePoint now) {
  KeySigner root = root_signer(profile, key_access, now);
  const auto fingerprint = profile.store().profile().fingerprint;
  bool accepted_any = false;
  for (const auto& request : pending_requests(profile, client, root)) {
    if (!has_pin(request))
      continue;
    auto invite = invite_for(profile.store(), *request.request.pin_id);
    if (!invite)
      continue;  // another admin device's invitation
    const RequestId& request_id = request.request_id;
    if (invite->used_at || invite->expires_at <= now || !pin_mac_valid(fingerprint, request, *invite)) {
      refuse_request(profile, client, root, request_id);
      report.refused.push_back(request_id);
      continue;
    }
    report.accepted.push_back(accept_request(profile, client, key_access, root, request, invite->role, invite, now));
    accepted_any = true;
  }
  if (accepted_any)
    publish(profile, client, key_access, now);
}

}  // namespace internal

}  // namespace mailseal::devices
