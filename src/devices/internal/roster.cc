#include "devices/internal/roster.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/keyservice/rules.h"

namespace mailseal::devices::internal {

namespace {

int rank(store::DeviceRole role) noexcept {
  switch (role) {
    case store::DeviceRole::Read:
      return 0;
    case store::DeviceRole::Full:
      return 1;
    case store::DeviceRole::Admin:
      return 2;
  }
  return 0;
}

// A device certificate names no address (a mail certificate does, and the
// root issues both).
bool is_device_certificate(const crypto::Certificate& certificate, const crypto::Certificate& root) {
  return certificate.is_issued_by(root) && !certificate.is_ca() && certificate.email_addresses().empty();
}

Bytes key_of(const Bytes& certificate) {
  return crypto::Certificate::from_der(certificate).public_key().spki_der();
}

// The device each key (SubjectPublicKeyInfo DER) of a list's device
// certificates belongs to.
std::map<Bytes, DeviceId> device_of_each_key(const std::vector<store::DeviceRecord>& devices) {
  std::map<Bytes, DeviceId> out;
  for (const auto& device : devices) {
    for (const Bytes* der : {&device.signature_certificate, &device.agreement_certificate})
      out.emplace(key_of(*der), device.device_id);
  }
  return out;
}

Error not_a_device(const DeviceId& id, std::string_view why) {
  return Error(ErrorCode::BadSignature,
               fmt::format("the device list another admin device sealed names device {}, {}: nothing was taken from it",
                           id.str(), why),
               "the other admin device may be compromised: compare 'mailseal device list' on both");
}

}  // namespace

store::DeviceRole lesser_role(store::DeviceRole a, store::DeviceRole b) noexcept {
  return rank(a) <= rank(b) ? a : b;
}

bool is_device_of(const store::DeviceRecord& device, const crypto::Certificate& root) {
  try {
    const auto signature = crypto::Certificate::from_der(device.signature_certificate);
    const auto agreement = crypto::Certificate::from_der(device.agreement_certificate);
    return is_device_certificate(signature, root) && is_device_certificate(agreement, root) &&
           keyservice::device_id_of(signature.public_key()) == device.device_id;
  } catch (const Error&) {
    return false;
  }
}

namespace {

bool same_keys(const store::DeviceRecord& a, const store::DeviceRecord& b) {
  return crypto::Certificate::from_der(a.signature_certificate).public_key() ==
             crypto::Certificate::from_der(b.signature_certificate).public_key() &&
         crypto::Certificate::from_der(a.agreement_certificate).public_key() ==
             crypto::Certificate::from_der(b.agreement_certificate).public_key();
}

// Two renewals in the same second end at the same time: the greater DER
// wins, so that every admin device keeps the same certificates.
bool lasts_longer(const store::DeviceRecord& candidate, const store::DeviceRecord& held) {
  const TimePoint candidate_end = crypto::Certificate::from_der(candidate.signature_certificate).not_after();
  const TimePoint held_end = crypto::Certificate::from_der(held.signature_certificate).not_after();
  if (candidate_end != held_end)
    return candidate_end > held_end;
  return candidate.signature_certificate > held.signature_certificate;
}

// The device certificates of both entries for a device removed on either
// side: whatever certificate for it an admin device renewed before it
// learned of the removal is revoked too.
void revoke_certificates_of(RosterChanges& changes, const store::DeviceRecord& a, const store::DeviceRecord& b) {
  for (const Bytes* der :
       {&a.signature_certificate, &a.agreement_certificate, &b.signature_certificate, &b.agreement_certificate}) {
    if (std::find(changes.revoked.begin(), changes.revoked.end(), *der) == changes.revoked.end())
      changes.revoked.push_back(*der);
  }
}

}  // namespace

std::optional<store::RemovalCut> agreed_cut(const std::optional<store::RemovalCut>& a,
                                            const std::optional<store::RemovalCut>& b) {
  if (!a || !b)
    return a ? a : b;
  return *a == *b ? a : std::optional<store::RemovalCut>(store::RemovalCut{});
}

RosterChanges merge_roster(const std::vector<store::DeviceRecord>& held, const std::vector<store::DeviceRecord>& other,
                           const crypto::Certificate& root) {
  RosterChanges changes;
  std::set<DeviceId> seen;
  // This device's own keys, and the list's: not every device held here,
  // or a thief's device, once taken, carrying the certificate of a device
  // this one had not yet seen would refuse every later honest list naming
  // that device (fifth round).
  std::vector<store::DeviceRecord> own;
  std::copy_if(held.begin(), held.end(), std::back_inserter(own),
               [](const store::DeviceRecord& device) { return device.is_this_device; });
  const std::map<Bytes, DeviceId> held_keys = device_of_each_key(own);
  const std::map<Bytes, DeviceId> listed_keys = device_of_each_key(other);
  for (const auto& entry : other) {
    if (!seen.insert(entry.device_id).second)
      throw not_a_device(entry.device_id, "twice");
    if (!is_device_of(entry, root))
      throw not_a_device(entry.device_id, "whose certificates are not the profile root's device certificates for it");
    // A removed entry's certificates are revoked: one carrying another
    // device's certificate would revoke that device (review of issue 14,
    // fourth round: a thief's list revoked this device's own).
    for (const Bytes* der : {&entry.signature_certificate, &entry.agreement_certificate}) {
      for (const auto* keys : {&held_keys, &listed_keys}) {
        auto owner = keys->find(key_of(*der));
        if (owner != keys->end() && owner->second != entry.device_id)
          throw not_a_device(entry.device_id, fmt::format("with a certificate of device {}", owner->second.str()));
      }
    }
    auto mine = std::find_if(held.begin(), held.end(),
                             [&](const store::DeviceRecord& device) { return device.device_id == entry.device_id; });
    if (mine == held.end()) {
      if (entry.status == store::DeviceStatus::Removed)
        revoke_certificates_of(changes, entry, entry);
      store::DeviceRecord added = entry;
      added.is_this_device = false;
      added.signature_key_file.clear();
      added.agreement_key_file.clear();
      changes.added.push_back(std::move(added));
      continue;
    }
    if (!same_keys(*mine, entry))
      throw not_a_device(entry.device_id, "with other keys than the device this one knows");
    if (entry.status == store::DeviceStatus::Removed && mine->status == store::DeviceStatus::Active)
      changes.removed.push_back(entry.device_id);
    if (lesser_role(entry.role, mine->role) != mine->role) {
      // An admin device taken for read would have its decisions ignored
      // for good: a stolen admin device's way to silence the other one.
      auto& list = mine->role == store::DeviceRole::Admin ? changes.admins_lowered : changes.restricted;
      list.emplace_back(entry.device_id, entry.role);
    }
    if (entry.status == store::DeviceStatus::Removed) {
      if (auto cut = agreed_cut(mine->removal_cut, entry.removal_cut); cut != mine->removal_cut)
        changes.cuts.emplace_back(entry.device_id, *cut);
    }
    if (entry.status == store::DeviceStatus::Removed || mine->status == store::DeviceStatus::Removed) {
      // Certificates renewed for a removed device are not taken: revoked.
      revoke_certificates_of(changes, *mine, entry);
      continue;
    }
    if (lasts_longer(entry, *mine)) {
      store::DeviceRecord renewed = *mine;
      renewed.signature_certificate = entry.signature_certificate;
      renewed.agreement_certificate = entry.agreement_certificate;
      changes.renewed.push_back(std::move(renewed));
    }
  }
  return changes;
}

RosterChanges shrinking_changes(const std::vector<store::DeviceRecord>& held,
                                const std::vector<store::DeviceRecord>& other, const DeviceId& self,
                                const crypto::Certificate& root) {
  std::vector<store::DeviceRecord> others;
  std::copy_if(other.begin(), other.end(), std::back_inserter(others),
               [&](const store::DeviceRecord& entry) { return entry.device_id != self; });
  RosterChanges changes = merge_roster(held, others, root);
  changes.added.clear();
  changes.renewed.clear();
  changes.admins_lowered.clear();
  changes.cuts.clear();
  return changes;
}

KeyStatuses merge_records_keys(const KeyStatuses& held, const KeyStatuses& other) {
  KeyStatuses merged = held;
  for (const auto& [id, status] : other) {
    auto [at, inserted] = merged.emplace(id, status);
    if (!inserted && status == store::KeyStatus::Archived)
      at->second = store::KeyStatus::Archived;
  }
  // The greatest current id stays current (a map is ordered by id).
  bool current_seen = false;
  for (auto at = merged.rbegin(); at != merged.rend(); ++at) {
    if (at->second != store::KeyStatus::Current)
      continue;
    if (current_seen)
      at->second = store::KeyStatus::Archived;
    current_seen = true;
  }
  return merged;
}

namespace {

// The profile's keys (SubjectPublicKeyInfo DER) every certificate of which
// `side` holds archived: rotated away there (a removal, a lost tie-break).
std::set<Bytes> retired_keys(const std::vector<MailCertificate>& side) {
  std::map<Bytes, bool> all_archived;
  for (const auto& certificate : side) {
    if (certificate.origin != store::KeyOrigin::Profile)
      continue;
    auto [at, inserted] = all_archived.emplace(key_of(certificate.certificate), true);
    if (certificate.status == store::KeyStatus::Current)
      at->second = false;
  }
  std::set<Bytes> out;
  for (const auto& [key, archived] : all_archived) {
    if (archived)
      out.insert(key);
  }
  return out;
}

}  // namespace

std::map<Bytes, store::KeyStatus> merge_mail_certificates(const std::vector<MailCertificate>& held,
                                                          const std::vector<MailCertificate>& other) {
  std::map<Bytes, store::KeyStatus> merged;
  std::map<Bytes, const MailCertificate*> by_der;
  for (const auto* side : {&held, &other}) {
    for (const auto& certificate : *side) {
      auto [at, inserted] = merged.emplace(certificate.certificate, certificate.status);
      if (!inserted && certificate.status == store::KeyStatus::Archived)
        at->second = store::KeyStatus::Archived;
      by_der.emplace(certificate.certificate, &certificate);
    }
  }
  // A key retired on either side stays retired, whatever certificate for it
  // the other side made meanwhile (a renewal that did not know of the
  // rotation): a removed device may hold it.
  std::set<Bytes> retired = retired_keys(held);
  retired.merge(retired_keys(other));
  for (auto& [der, status] : merged) {
    if (by_der.at(der)->origin == store::KeyOrigin::Profile && retired.count(key_of(der)))
      status = store::KeyStatus::Archived;
  }
  // Of the profile's current certificates for one address and purpose, the
  // one that begins last.
  using Slot = std::pair<std::string, store::KeyPurpose>;
  std::map<Slot, std::pair<TimePoint, Bytes>> newest;
  for (const auto& [der, status] : merged) {
    const MailCertificate& certificate = *by_der.at(der);
    if (status != store::KeyStatus::Current || certificate.origin != store::KeyOrigin::Profile)
      continue;
    const Slot slot{certificate.address.str(), certificate.purpose};
    std::pair<TimePoint, Bytes> candidate{crypto::Certificate::from_der(der).not_before(), der};
    auto at = newest.find(slot);
    if (at == newest.end() || at->second < candidate)
      newest[slot] = std::move(candidate);
  }
  for (auto& [der, status] : merged) {
    const MailCertificate& certificate = *by_der.at(der);
    if (status != store::KeyStatus::Current || certificate.origin != store::KeyOrigin::Profile)
      continue;
    if (newest.at({certificate.address.str(), certificate.purpose}).second != der)
      status = store::KeyStatus::Archived;
  }
  return merged;
}

std::vector<Bytes> certificates_superseded(const std::vector<MailCertificate>& held,
                                           const std::vector<MailCertificate>& other,
                                           const std::map<Bytes, store::KeyStatus>& merged) {
  std::set<Bytes> archived_somewhere;
  std::set<Bytes> profiles;
  for (const auto* side : {&held, &other}) {
    for (const auto& certificate : *side) {
      if (certificate.status != store::KeyStatus::Current)
        archived_somewhere.insert(certificate.certificate);
      else if (certificate.origin == store::KeyOrigin::Profile)
        profiles.insert(certificate.certificate);
    }
  }
  // A certificate renewed for the same key on both at once loses nothing:
  // its key is the winner's.
  std::vector<crypto::PublicKey> current_keys;
  for (const auto& [der, status] : merged) {
    if (status == store::KeyStatus::Current)
      current_keys.push_back(crypto::Certificate::from_der(der).public_key());
  }
  std::vector<Bytes> out;
  for (const auto& der : profiles) {
    auto at = merged.find(der);
    if (archived_somewhere.count(der) || at == merged.end() || at->second == store::KeyStatus::Current)
      continue;
    const crypto::PublicKey key = crypto::Certificate::from_der(der).public_key();
    if (std::none_of(current_keys.begin(), current_keys.end(),
                     [&](const crypto::PublicKey& current) { return current == key; }))
      out.push_back(der);
  }
  return out;
}

}  // namespace mailseal::devices::internal
