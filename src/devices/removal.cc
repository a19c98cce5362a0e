// Removing a device: revoke it, rotate the keys it held, and send the new
// ones to the devices that remain.

#include <algorithm>

#include <fmt/format.h>

#include "devices/internal/steps.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/error.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/store/trust_records.h"

namespace mailseal::devices {

using namespace internal;

namespace internal {

std::vector<EmailAddress> rotate_mail_keys(profile::Profile& profile, const KeyAccess& key_access, bool signing,
                                           TimePoint now) {
  store::LocalStore& store = profile.store();
  crypto::PrivateKey root_key = profile.root_key(key_access);
  crypto::Certificate root = profile.root_certificate();
  auto record = store.profile();
  const KeyAccess new_files = profile.access_for_new_key_files(key_access);
  store::TrustRecords records(store);
  std::vector<EmailAddress> rotated;
  std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
  for (const auto& key : store.mail_keys()) {
    if (key.origin != store::KeyOrigin::Profile || key.status != store::KeyStatus::Current)
      continue;
    if (key.purpose == store::KeyPurpose::Signing && !signing)
      continue;
    store.set_mail_key_status(key.id, store::KeyStatus::Archived);
    // Revoked whatever its purpose: the removed device holds the key, and a
    // correspondent who still has an encryption certificate for it must not
    // encrypt to it (the published CRL tells them).
    records.add_revocation(record.fingerprint, crypto::Certificate::from_der(key.certificate).serial_hex(),
                           "device removed", now);
    // The new certificate asks for what the old one asked for (CBC when the
    // keys also live in a client without AES-GCM).
    auto capabilities = smime::Capabilities::of_certificate_extension(
        crypto::Certificate::from_der(key.certificate).smime_capabilities());
    additions.push_back(profile::issue_mail_key(root_key, root, record.name, key.address, key.purpose, record.suite,
                                                new_files, now,
                                                capabilities.advertised ? capabilities : smime::Capabilities::mailseal()));
    if (std::find(rotated.begin(), rotated.end(), key.address) == rotated.end())
      rotated.push_back(key.address);
  }
  store.add_mail_keys(additions);
  return rotated;
}

}  // namespace internal

RemovalReport remove_device(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                            const DeviceId& device_id, TimePoint now) {
  store::LocalStore& store = profile.store();
  // What the other admin devices did, before anything changes here: an
  // escrow that cannot be read stops the removal with nothing done. One
  // refused because it removes this device or lowers its role (a stolen
  // admin device wrote it) does not: removing that device is what the
  // refusal tells the person to do, and this removal's escrow replaces it
  // (what of it only shrinks, its removals of other devices, is merged).
  std::string escrow_refused;
  try {
    learn_from_escrow(profile, client, key_access, now);
  } catch (const EscrowRefused& refused) {
    escrow_refused = refused.what();  // said with the removal: it warns of a stolen device
  }
  auto devices = store.devices();
  auto target = std::find_if(devices.begin(), devices.end(),
                             [&](const store::DeviceRecord& device) { return device.device_id == device_id; });
  if (target == devices.end()) {
    throw Error(ErrorCode::NotFound, fmt::format("no device {} in this profile", device_id.str()),
                "'mailseal device list' shows the devices");
  }
  if (target->is_this_device) {
    throw Error(ErrorCode::Usage, "a device cannot remove itself", "remove it from another admin device");
  }
  if (target->status == store::DeviceStatus::Removed) {
    if (!escrow_refused.empty()) {
      throw Error(ErrorCode::AlreadyExists,
                  fmt::format("that device was removed already, by an escrow: {}", escrow_refused),
                  "remove the admin device that removed this one, if it is not in your hands");
    }
    throw Error(ErrorCode::AlreadyExists, "that device was removed already",
                "if publishing the removal failed, 'mailseal sync' publishes it");
  }
  auto record = store.profile();
  const KeyAccess new_files = profile.access_for_new_key_files(key_access);
  const bool could_sign = target->role != store::DeviceRole::Read;

  // The removed device's trust records up to here are its decisions while
  // it was the person's, and every device merges them, a device that joins
  // later too; what it signs after the cut is refused (docs/security.md,
  // "The cut"). Named before the removal, while the service still serves
  // its log as any other.
  const CutFound cut = removal_cut(profile, client, key_access, device_id, now);
  RemovalReport report{device_id, {}, 0, escrow_refused, cut.cut.seq, cut.problem};
  {
    store::Transaction transaction(store.database());
    store.set_device_status(device_id, store::DeviceStatus::Removed);
    store.set_device_removal_cut(device_id, cut.cut);
    store::TrustRecords records(store);
    for (const Bytes& der : {target->signature_certificate, target->agreement_certificate}) {
      records.add_revocation(record.fingerprint, crypto::Certificate::from_der(der).serial_hex(), "device removed",
                             now);
    }
    // New keys for everything the removed device held: it keeps the old ones,
    // so nothing sent from now on may be readable (or signable) with them.
    report.rotated = rotate_mail_keys(profile, key_access, could_sign, now);
    transaction.commit();
  }
  // A new records key: the removed device cannot read what is written from
  // now on (it keeps the old key, and the records it could read before).
  rotate_records_key(store, new_files, now);
  try {
    if (escrow_refused.empty())
      publish(profile, client, key_access, now);
    else
      internal::publish_over_escrow(profile, client, key_access, now);
  } catch (const Error& error) {
    // Removed here, not yet published: the next sync publishes it (the
    // escrow lacks the removal) and sends the new keys.
    throw Error(error.code(), error.what(),
                "the device is removed on this device; 'mailseal sync' publishes the removal once the key service "
                "answers");
  }
  report.devices_updated = send_key_bundles(profile, client, key_access, now);
  remember_records_material(store);
  return report;
}

}  // namespace mailseal::devices
