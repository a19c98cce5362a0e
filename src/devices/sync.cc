// Synchronising a device: finishing a pending join, accepting PIN requests
// (admin devices), or taking the newest key bundle.

#include <algorithm>
#include <set>

#include "devices/internal/steps.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/error.h"
#include "mailseal/profile/issuing.h"

namespace mailseal::devices {

using namespace internal;

namespace {

// A renewed root and this device's renewed certificates, from a bundle
// open_bundle checked: the same keys, issued by the profile root, newer than
// what this device holds. Older ones (a bundle sent before a renewal) change
// nothing.
void adopt_renewed_certificates(store::LocalStore& store, const KeyBundle& bundle) {
  const crypto::Certificate held_root = crypto::Certificate::from_der(store.profile().root_certificate);
  const crypto::Certificate root = crypto::Certificate::from_der(bundle.root);
  if (root.not_after() > held_root.not_after())
    store.set_root_certificate(root.der());
  const store::DeviceRecord self = this_device(store);
  for (const auto& device : bundle.devices) {
    if (device.device_id != self.device_id)
      continue;
    auto signature = crypto::Certificate::from_der(device.signature_certificate);
    auto agreement = crypto::Certificate::from_der(device.agreement_certificate);
    auto held_signature = crypto::Certificate::from_der(self.signature_certificate);
    auto held_agreement = crypto::Certificate::from_der(self.agreement_certificate);
    if (!(signature.public_key() == held_signature.public_key()) ||
        !(agreement.public_key() == held_agreement.public_key()) || !signature.is_issued_by(root) ||
        !agreement.is_issued_by(root))
      throw Error(ErrorCode::BadSignature, "the key bundle holds certificates for another device's keys");
    if (signature.not_after() > held_signature.not_after())
      store.set_device_certificates(self.device_id, signature.der(), agreement.der());
  }
}

// Takes the newest bundle sent to this device: new keys are added, keys the
// bundle lists as archived are archived here too.
void take_bundle(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access, SyncReport& report,
                 TimePoint now) {
  store::LocalStore& store = profile.store();
  store::DeviceRecord self = this_device(store);
  KeySigner signer(profile.load_key(self.signature_key_file, key_access), self.device_id.str(), now);
  keyservice::FetchedBundle fetched = client.bundle(store.profile().fingerprint, self.device_id, signer.signer);
  if (fetched.state == keyservice::BundleState::NoneSent)
    return;  // nothing sent to this device since it joined
  if (fetched.state == keyservice::BundleState::DeviceRemoved) {
    store.set_device_status(self.device_id, store::DeviceStatus::Removed);
    report.removed = true;
    return;
  }
  crypto::PrivateKey agreement_key = profile.load_key(self.agreement_key_file, key_access);
  KeyBundle bundle = open_bundle(fetched.bundle, agreement_key,
                                 crypto::Certificate::from_der(self.agreement_certificate), profile.root_certificate());
  auto known = store.mail_keys();
  std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
  // New certificates for keys this device holds already (re-issued ones)
  // share the key's file.
  std::vector<store::MailKeyRecord> certificates_only;
  std::set<std::string> key_files;
  // Received keys are protected like the keys this store holds, whatever
  // passphrase this command was given.
  const KeyAccess new_key_files = profile.access_for_new_key_files(key_access);
  take_records_material(store, bundle, new_key_files, now);
  for (const auto& record : known)
    key_files.insert(record.key_file);
  store::Transaction transaction(store.database());
  adopt_renewed_certificates(store, bundle);
  // Statuses by the merge rule: a bundle replayed from before a removal does
  // not make what the removal archived current again.
  const auto merged = merged_mail_statuses(known, bundle.keys);
  for (const auto& key : bundle.keys) {
    auto existing = std::find_if(known.begin(), known.end(), [&](const store::MailKeyRecord& record) {
      return record.certificate == key.record.certificate;
    });
    if (existing == known.end()) {
      auto [record, file] = stored_key(key, new_key_files);
      record.created_at = now;
      record.status = merged.at(record.certificate);
      if (key_files.insert(file.name).second)
        additions.emplace_back(std::move(record), std::move(file));
      else
        certificates_only.push_back(std::move(record));
      ++report.keys_added;
    }
  }
  for (const auto& record : known) {
    const store::KeyStatus status = merged.at(record.certificate);
    if (status == record.status)
      continue;
    store.set_mail_key_status(record.id, status);
    if (status == store::KeyStatus::Archived)
      ++report.keys_archived;
  }
  if (!additions.empty())
    store.add_mail_keys(additions);
  for (const auto& record : certificates_only)
    store.add_mail_certificate(record);
  transaction.commit();
}

}  // namespace

SyncReport sync(const std::filesystem::path& home, keyservice::Client& client, const KeyAccess& key_access,
                TimePoint now) {
  if (!store::LocalStore::exists(home) && join_pending(home))
    return complete_join(home, client, key_access, now);
  profile::Profile profile = profile::Profile::open(home);
  SyncReport report;
  if (profile.holds_root()) {
    // Before anything is published or sent: what the other admin devices
    // added, removed, rotated and revoked (roster.cc).
    const EscrowLearning learned = learn_from_escrow(profile, client, key_access, now);
    report.older_escrow_merged = learned.older_served;
    report.escrow_ignored = learned.ignored;
    report.escrow_ignored_taken = learned.ignored_taken;
    process_pin_requests(profile, client, key_access, report, now);
    // The records key, made when first needed, and the roster reach every
    // device in fresh bundles whenever either changed.
    // The escrow (published with the profile) keeps it for a recovery, and
    // tells the other admin devices what this one holds.
    if (ensure_records_key(profile.store(), profile.access_for_new_key_files(key_access), now) || learned.behind ||
        learned.older_served)
      publish(profile, client, key_access, now);
    // The list the service serves is never read for what it says; where it
    // differs from what the admin devices sealed, the person hears of it and
    // the true list is published again.
    report.served_list_corrected = served_list_differs(profile, client);
    if (report.served_list_corrected)
      publish(profile, client, key_access, now);
    if (records_material_changed(profile.store())) {
      send_key_bundles(profile, client, key_access, now);
      remember_records_material(profile.store());
    }
    report.renewal = renew_certificates(profile, &client, key_access, now);
  } else {
    take_bundle(profile, client, key_access, report, now);
    if (report.removed)
      return report;
    // What the bundle brought may have renewed the certificates already.
    report.renewal = renew_certificates(profile, &client, key_access, now);
  }
  report.records = exchange_records(profile, client, key_access, now);
  return report;
}

}  // namespace mailseal::devices
