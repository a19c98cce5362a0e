// Admin devices learn the devices another admin device added or removed
// (docs/service.md, "Two admin devices"): the device list a publication
// carries replaces the one the service holds, so an admin device that
// published from its own list alone would drop the devices it never heard
// of (their requests then 404) and bring back the ones removed elsewhere.

#include <algorithm>
#include <map>
#include <set>

#include "devices/internal/steps.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/devices/connect.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/store/trust_records.h"

namespace mailseal::devices::internal {

namespace {

// The profile as the service serves it for one of its addresses; nullopt
// when none is served (not yet verified, withdrawn) or the service is down.
std::optional<keyservice::PublishedProfile> published_self(profile::Profile& profile, keyservice::Client& client) {
  const Identity fingerprint = profile.store().profile().fingerprint;
  for (const auto& address : profile.addresses()) {
    try {
      auto published = fetch_profile(client, address);
      if (published.fingerprint == fingerprint)
        return published;
    } catch (const Error&) {
    }
  }
  return std::nullopt;
}

// A device of this profile: both certificates issued by its root, the id
// the fingerprint of the signature key. A service cannot make one.
bool is_ours(const keyservice::DeviceEntry& entry, const crypto::Certificate& root) {
  return entry.signature_certificate.is_issued_by(root) && entry.agreement_certificate.is_issued_by(root) &&
         !entry.signature_certificate.is_ca() && !entry.agreement_certificate.is_ca() &&
         keyservice::device_id_of(entry.signature_certificate.public_key()) == entry.device_id;
}

// Serials the root revoked in the published revocation lists it issued.
std::set<std::string> revoked_by_root(const keyservice::PublishedProfile& published, const crypto::Certificate& root) {
  std::set<std::string> out;
  for (const auto& der : published.revocations) {
    try {
      crypto::RevocationList list = crypto::RevocationList::read(der);
      if (!list.is_issued_by(root))
        continue;
      for (auto& serial : list.revoked_serials())
        out.insert(std::move(serial));
    } catch (const Error&) {
    }
  }
  return out;
}

}  // namespace

int learn_published_devices(profile::Profile& profile, keyservice::Client& client, TimePoint now) {
  auto published = published_self(profile, client);
  if (!published)
    return 0;
  store::LocalStore& store = profile.store();
  const crypto::Certificate root = profile.root_certificate();
  const std::set<std::string> revoked = revoked_by_root(*published, root);
  std::map<DeviceId, store::DeviceRecord> known;
  for (auto& device : store.devices())
    known.emplace(device.device_id, std::move(device));
  const Identity fingerprint = store.profile().fingerprint;
  int learned = 0;
  store::Transaction transaction(store.database());
  for (const auto& entry : published->devices) {
    if (!is_ours(entry, root))
      continue;
    // Removed only with the root's word for it: its revocation list
    // revokes the device's signature certificate.
    const bool removed =
        entry.status == store::to_string(store::DeviceStatus::Removed) &&
        revoked.count(entry.signature_certificate.serial_hex());
    auto held = known.find(entry.device_id);
    if (held == known.end()) {
      store.add_device({entry.device_id, entry.name, store::parse_device_role(entry.role),
                        removed ? store::DeviceStatus::Removed : store::DeviceStatus::Active, false,
                        entry.signature_certificate.der(), entry.agreement_certificate.der(), "", "", now});
      ++learned;
    } else if (removed && !held->second.is_this_device && held->second.status == store::DeviceStatus::Active) {
      store.set_device_status(entry.device_id, store::DeviceStatus::Removed);
      ++learned;
    } else {
      continue;
    }
    if (removed) {
      store::TrustRecords records(store);
      for (const auto* certificate : {&entry.signature_certificate, &entry.agreement_certificate})
        records.add_revocation(fingerprint, certificate->serial_hex(), "device removed", now);
    }
  }
  transaction.commit();
  return learned;
}

}  // namespace mailseal::devices::internal
