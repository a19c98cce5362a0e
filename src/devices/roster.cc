// Two admin devices (docs/service.md, "Two admin devices"): each learns what
// the other added, removed, rotated and revoked from the escrow the other
// published, which is sealed under a key only the profile root's holders
// derive (the admin devices), before it publishes and at each sync. The
// device list the service serves is never read for this: nobody the devices
// trust signed it.

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "devices/internal/recovery_secret.h"
#include "devices/internal/roster.h"
#include "devices/internal/steps.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"

namespace mailseal::devices::internal {

namespace {

// What this device took of an escrow it refused or ignored.
struct ShrinkingPart {
  std::vector<DeviceId> removed;
  std::vector<std::pair<DeviceId, store::DeviceRole>> restricted;
  std::vector<std::string> revoked;  // serials
};

// The highest count of each admin device's publications seen (what this
// device's next publication carries), and the clock of the newest escrow the
// service served or this device published (what a replay is older than).
constexpr std::string_view kClockSetting = "roster.clock";
constexpr std::string_view kServedSetting = "roster.served";
constexpr std::string_view kRemovedSource = "device removed";
constexpr std::string_view kSupersededSource =
    "superseded by a key another admin device made at the same time, or its key retired by a rotation";
constexpr std::string_view kEscrowHint =
    "the key service is not serving what this profile's admin devices published; nothing was taken from it";

RosterClock read_clock(store::LocalStore& store, std::string_view setting = kClockSetting) {
  auto text = store.setting(setting);
  if (!text)
    return {};
  auto document = nlohmann::json::parse(*text, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    return {};
  return document.get<RosterClock>();
}

// True when `served` is older than `seen`: no count above it, one below.
bool is_older(const RosterClock& served, const RosterClock& seen) {
  bool below = false;
  for (const auto& [device, count] : served) {
    auto at = seen.find(device);
    if (at == seen.end() || count > at->second)
      return false;
  }
  for (const auto& [device, count] : seen) {
    auto at = served.find(device);
    below = below || at == served.end() || at->second < count;
  }
  return below;
}

std::vector<MailCertificate> certificates_of(const std::vector<store::MailKeyRecord>& keys) {
  std::vector<MailCertificate> out;
  for (const auto& key : keys)
    out.push_back({key.address, key.purpose, key.origin, key.certificate, key.status});
  return out;
}

std::vector<MailCertificate> certificates_of(const std::vector<BundleKey>& keys) {
  std::vector<MailCertificate> out;
  for (const auto& key : keys)
    out.push_back({key.record.address, key.record.purpose, key.record.origin, key.record.certificate, key.record.status});
  return out;
}

KeyStatuses statuses_of(const std::vector<BundleRecordsKey>& keys) {
  KeyStatuses out;
  for (const auto& key : keys)
    out.emplace(key.key_id, key.status);
  return out;
}

KeyStatuses statuses_held(store::LocalStore& store) {
  KeyStatuses out;
  for (const auto& key : store::TrustSync(store).records_keys())
    out.emplace(key.key_id, key.status);
  return out;
}

// What an escrow and a store are compared by: whether the one lacks what the
// other holds.
std::string state_digest(const std::vector<store::DeviceRecord>& devices, const std::vector<MailCertificate>& mail,
                         const KeyStatuses& records, std::vector<std::string> revoked) {
  std::vector<std::string> parts;
  for (const auto& device : devices) {
    parts.push_back(fmt::format(
        "device {} {} {} {}{}", device.device_id.str(), store::to_string(device.role), store::to_string(device.status),
        to_hex(crypto::sha256(device.signature_certificate)),
        device.removal_cut ? fmt::format(" cut {} {}", device.removal_cut->seq, to_hex(device.removal_cut->hash))
                           : std::string()));
  }
  for (const auto& certificate : mail)
    parts.push_back(fmt::format("mail {} {}", to_hex(crypto::sha256(certificate.certificate)),
                                store::to_string(certificate.status)));
  for (const auto& [id, status] : records)
    parts.push_back(fmt::format("records {} {}", id, store::to_string(status)));
  std::sort(revoked.begin(), revoked.end());
  revoked.erase(std::unique(revoked.begin(), revoked.end()), revoked.end());
  for (const auto& serial : revoked)
    parts.push_back("revoked " + serial);
  std::sort(parts.begin(), parts.end());
  std::string all;
  for (const auto& part : parts)
    all += part + "\n";
  return all;
}

std::string local_state(store::LocalStore& store) {
  return state_digest(store.devices(), certificates_of(store.mail_keys()), statuses_held(store),
                      store::TrustRecords(store).revoked_serials(store.profile().fingerprint));
}

// The escrow this profile's admin devices published, opened and checked:
// nullopt when the service keeps none.
std::optional<KeyBundle> served_escrow(profile::Profile& profile, keyservice::Client& client,
                                       const crypto::PrivateKey& root_key) {
  RecoverySecret secret = RecoverySecret::of_root_key(root_key);
  keyservice::EscrowAnswer answer;
  try {
    answer = client.escrow(secret.escrow_id());
  } catch (const Error& error) {
    if (error.code() == ErrorCode::NotFound)
      return std::nullopt;
    throw;
  }
  KeyBundle escrow;
  try {
    escrow = decode_bundle(crypto::open_symmetric(secret.escrow_key(), answer.escrow, as_bytes(secret.escrow_id())));
  } catch (const Error&) {
    throw Error(ErrorCode::BadSignature,
                "the escrow the key service serves for this profile was altered, or not sealed by an admin device "
                "of it: nothing was taken from it",
                std::string(kEscrowHint));
  }
  const crypto::Certificate root = profile.root_certificate();
  if (escrow.fingerprint != keyservice::profile_fingerprint_of(root) || !escrow.root_key ||
      !(crypto::PrivateKey::from_pkcs8_pem(as_string_view(*escrow.root_key), nullptr).public_key() ==
        root.public_key())) {
    throw Error(ErrorCode::BadSignature, "the escrow the key service serves is another profile's",
                std::string(kEscrowHint));
  }
  return escrow;
}

// An escrow that removes this very device: only a holder of the root
// writes one, another admin device of the person's or a stolen one; taking
// it would remove this device for good, whoever wrote it.
std::optional<EscrowRefused> own_removal(const DeviceId& self, const RosterChanges& changes) {
  if (std::find(changes.removed.begin(), changes.removed.end(), self) == changes.removed.end())
    return std::nullopt;
  return EscrowRefused(
      ErrorCode::RejectedByPolicy,
      "an escrow sealed by an admin device removes this device; of it only what removes or lowers other "
      "devices was taken",
      "only a device holding the profile's root writes one: if you did not remove this device from another "
      "admin device of yours, that device is stolen or compromised and can do what an admin device can "
      "until the profile's root is replaced: remove it from this device ('mailseal device remove'; "
      "docs/service.md, \"Two admin devices\")");
}

// An escrow that lowers this device's own role: only a holder of the root
// writes one, and a device lowered to read would have its decisions ignored
// by the others for good.
std::optional<EscrowRefused> own_restriction(const DeviceId& self, const RosterChanges& changes) {
  for (const auto& [id, role] : changes.admins_lowered) {
    if (id != self)
      continue;
    return EscrowRefused(
        ErrorCode::RejectedByPolicy,
        fmt::format("an escrow sealed by an admin device lowers this device's role to {}; of it only what removes "
                    "or lowers other devices was taken",
                    store::to_string(role)),
        "only a device holding the profile's root writes one: if you did not change this device's role from another "
        "admin device of yours, that device is stolen or compromised: remove it from this device ('mailseal device "
        "remove'; docs/service.md, \"Two admin devices\")");
  }
  return std::nullopt;
}

// Whether only an admin device removed here can have sealed the escrow
// (one that removes this device or lowers its role): it lists such a device
// as active, so its writer did not know of the removal; or such a device
// exists and no other admin device is active here. The escrow does not say
// who sealed it (any holder of the root can), and the removed device keeps
// the root: it may list itself removed (review of issue 14, F3). Once the
// person removed the admin device a refusal named, such an escrow is
// ignored and this device publishes over it, whatever it lists.
bool sealed_by_removed_admin(const std::vector<store::DeviceRecord>& held, const KeyBundle& escrow) {
  const auto removed_admin = [&](const DeviceId& id) {
    return std::any_of(held.begin(), held.end(), [&](const store::DeviceRecord& device) {
      return device.device_id == id && device.status == store::DeviceStatus::Removed &&
             device.role == store::DeviceRole::Admin;
    });
  };
  const bool lists_removed_active =
      std::any_of(escrow.devices.begin(), escrow.devices.end(), [&](const store::DeviceRecord& entry) {
        return entry.status == store::DeviceStatus::Active && removed_admin(entry.device_id);
      });
  const bool other_admin_active = std::any_of(held.begin(), held.end(), [](const store::DeviceRecord& device) {
    return !device.is_this_device && device.status == store::DeviceStatus::Active &&
           device.role == store::DeviceRole::Admin;
  });
  const bool admin_removed = std::any_of(
      held.begin(), held.end(), [&](const store::DeviceRecord& device) { return removed_admin(device.device_id); });
  return lists_removed_active || (admin_removed && !other_admin_active);
}

// The escrow's mail keys merged into the store: new ones added, statuses
// as merge_mail_certificates says.
void take_mail_keys(store::LocalStore& store, const KeyBundle& escrow, const KeyAccess& key_access, TimePoint now) {
  const auto held = store.mail_keys();
  const auto merged = merged_mail_statuses(held, escrow.keys);
  std::set<std::string> key_files;
  for (const auto& record : held)
    key_files.insert(record.key_file);
  std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
  std::vector<store::MailKeyRecord> certificates_only;
  for (const auto& key : escrow.keys) {
    if (std::any_of(held.begin(), held.end(),
                    [&](const store::MailKeyRecord& record) { return record.certificate == key.record.certificate; }))
      continue;
    auto [record, file] = stored_key(key, key_access);
    record.status = merged.at(record.certificate);
    record.created_at = now;
    if (key_files.insert(file.name).second)
      additions.emplace_back(std::move(record), std::move(file));
    else
      certificates_only.push_back(std::move(record));
  }
  for (const auto& record : held) {
    if (merged.at(record.certificate) != record.status)
      store.set_mail_key_status(record.id, merged.at(record.certificate));
  }
  // A certificate that lost to one made at the same time elsewhere, or one
  // of a key retired there, may have been sealed to a device the other admin
  // device removed.
  store::TrustRecords records(store);
  for (const auto& der : certificates_superseded(certificates_of(held), certificates_of(escrow.keys), merged)) {
    records.add_revocation(store.profile().fingerprint, crypto::Certificate::from_der(der).serial_hex(),
                           std::string(kSupersededSource), now);
  }
  if (!additions.empty())
    store.add_mail_keys(additions);
  for (const auto& record : certificates_only)
    store.add_mail_certificate(record);
}

// Keys this device made that the escrow does not know: a current mail
// certificate of the profile, or a current records key.
bool holds_unseen_keys(store::LocalStore& store, const KeyBundle& escrow) {
  std::set<Bytes> known;
  for (const auto& key : escrow.keys)
    known.insert(key.record.certificate);
  for (const auto& key : store.mail_keys()) {
    if (key.origin == store::KeyOrigin::Profile && key.status == store::KeyStatus::Current &&
        !known.count(key.certificate))
      return true;
  }
  const KeyStatuses served = statuses_of(escrow.records_keys);
  for (const auto& [id, status] : statuses_held(store)) {
    if (status == store::KeyStatus::Current && !served.count(id))
      return true;
  }
  return false;
}

// Devices removed here that the escrow lists as active: its writer did not
// know of the removal, and sealed whatever keys it made to them.
std::vector<DeviceId> removed_here_active_there(const std::vector<store::DeviceRecord>& held, const KeyBundle& escrow) {
  std::vector<DeviceId> out;
  for (const auto& entry : escrow.devices) {
    if (entry.status != store::DeviceStatus::Active)
      continue;
    if (std::any_of(held.begin(), held.end(), [&](const store::DeviceRecord& device) {
          return device.device_id == entry.device_id && device.status == store::DeviceStatus::Removed;
        }))
      out.push_back(entry.device_id);
  }
  return out;
}

// Keys the escrow brings that this device does not hold: a current mail key
// of the profile (compared by key, not certificate: a renewal brings none),
// or a current records key. An older escrow served again brings none.
bool brings_unknown_keys(store::LocalStore& store, const KeyBundle& escrow) {
  std::set<Bytes> held_keys;
  for (const auto& key : store.mail_keys())
    held_keys.insert(crypto::Certificate::from_der(key.certificate).public_key().spki_der());
  for (const auto& key : escrow.keys) {
    if (key.record.origin == store::KeyOrigin::Profile && key.record.status == store::KeyStatus::Current &&
        !held_keys.count(crypto::Certificate::from_der(key.record.certificate).public_key().spki_der()))
      return true;
  }
  const KeyStatuses held = statuses_held(store);
  for (const auto& [id, status] : statuses_of(escrow.records_keys)) {
    if (status == store::KeyStatus::Current && !held.count(id))
      return true;
  }
  return false;
}

// Whether one of `devices` could sign (its role here).
bool could_sign(const std::vector<store::DeviceRecord>& held, const std::vector<DeviceId>& devices) {
  return std::any_of(held.begin(), held.end(), [&](const store::DeviceRecord& device) {
    return device.role != store::DeviceRole::Read &&
           std::find(devices.begin(), devices.end(), device.device_id) != devices.end();
  });
}

// Whether merging the escrow must rotate this device's keys, and which
// devices the rotation is for: another admin device removed a device while
// this one, not knowing it, made keys the other never saw (a removal of its
// own, at the same time), which may have reached that device in a bundle;
// or the mirror image, the escrow's writer, not knowing of a removal made
// here, made keys this device lacks and may have sealed them to the device
// removed here. Either way the keys that device may hold go.
std::vector<DeviceId> rotation_for(store::LocalStore& store, const std::vector<store::DeviceRecord>& held,
                                   const RosterChanges& changes, const KeyBundle& escrow) {
  std::vector<DeviceId> out;
  if (!changes.removed.empty() && holds_unseen_keys(store, escrow))
    out = changes.removed;
  const std::vector<DeviceId> unaware = removed_here_active_there(held, escrow);
  if (!unaware.empty() && brings_unknown_keys(store, escrow))
    out.insert(out.end(), unaware.begin(), unaware.end());
  return out;
}

// Serials no escrow revokes here, read once the escrow was merged: this
// device's own device certificates (as held here and as the escrow lists
// them), its current mail certificates, the profile's root (a thief's
// escrow that removes this device revokes them; a revoked root would make
// every correspondent refuse the profile, for good, since revocations are
// never undone: review of issue 14, fourth round), and the device
// certificates of every device still active here: an escrow revokes a
// device by removing it, and only the revocations of what it removed or
// retired are taken (a removed thief's escrow that leaves this device alone
// revoked an active device's: fifth round).
std::set<std::string> serials_never_revoked(profile::Profile& profile, const KeyBundle& escrow) {
  store::LocalStore& store = profile.store();
  const store::DeviceRecord self = this_device(store);
  std::vector<Bytes> certificates = {self.signature_certificate, self.agreement_certificate,
                                     profile.root_certificate().der(), escrow.root};
  for (const auto& entry : escrow.devices) {
    if (entry.device_id == self.device_id) {
      certificates.push_back(entry.signature_certificate);
      certificates.push_back(entry.agreement_certificate);
    }
  }
  for (const auto& device : store.devices()) {
    if (device.status == store::DeviceStatus::Active) {
      certificates.push_back(device.signature_certificate);
      certificates.push_back(device.agreement_certificate);
    }
  }
  for (const auto& key : store.mail_keys()) {
    if (key.status == store::KeyStatus::Current)
      certificates.push_back(key.certificate);
  }
  std::set<std::string> out;
  for (const Bytes& der : certificates) {
    if (!der.empty())
      out.insert(crypto::Certificate::from_der(der).serial_hex());
  }
  return out;
}

// The revocations an escrow brings (its revocation list, and the device
// certificates of the devices it removed), but none of serials_never_revoked.
// They are a union: this device's publication replaces the service's
// revocation list, which must not lose one. The serials revoked here.
std::vector<std::string> take_revocations_of(profile::Profile& profile, const KeyBundle& escrow,
                                             const RosterChanges& changes, TimePoint now) {
  store::LocalStore& store = profile.store();
  std::vector<std::string> serials = escrow.revoked;
  for (const auto& der : changes.revoked)
    serials.push_back(crypto::Certificate::from_der(der).serial_hex());
  const std::set<std::string> kept = serials_never_revoked(profile, escrow);
  std::vector<std::string> taken;
  store::TrustRecords records(store);
  for (const auto& serial : serials) {
    if (kept.count(serial))
      continue;
    records.add_revocation(store.profile().fingerprint, serial, std::string(kRemovedSource), now);
    taken.push_back(serial);
  }
  return taken;
}

// The roster changes without their revocations (take_revocations_of takes
// those once the rest is merged).
RosterChanges without_revocations(RosterChanges changes) {
  changes.revoked.clear();
  return changes;
}

// What of an escrow this device refuses (it removes this device or lowers
// its role) is still merged, in one transaction: what only shrinks who can
// read or sign (shrinking_changes). A removal there of a device active here
// rotates this device's mail and records keys as 'device remove' does, since
// this device may have sealed them to it. Nothing that adds (a device, a
// key, a renewal) is taken, and of its revocations only those of what it
// removed or retired (take_revocations_of).
ShrinkingPart take_what_only_shrinks(profile::Profile& profile, const KeyAccess& key_access,
                                     const std::vector<store::DeviceRecord>& held, const KeyBundle& escrow,
                                     TimePoint now) {
  store::LocalStore& store = profile.store();
  const RosterChanges changes =
      shrinking_changes(held, escrow.devices, this_device(store).device_id, profile.root_certificate());
  store::Transaction transaction(store.database());
  apply_roster_changes(store, without_revocations(changes), now);
  if (!changes.removed.empty()) {
    rotate_mail_keys(profile, key_access, could_sign(held, changes.removed), now);
    rotate_records_key(store, profile.access_for_new_key_files(key_access), now);
  }
  ShrinkingPart part{changes.removed, changes.restricted, take_revocations_of(profile, escrow, changes, now)};
  transaction.commit();
  return part;
}

// What of a refused or ignored escrow was taken here, said in words.
std::string shrinking_part_text(const ShrinkingPart& part) {
  std::string text;
  for (const auto& id : part.removed)
    text += fmt::format("{}device {} removed", text.empty() ? "" : ", ", id.str());
  for (const auto& [id, role] : part.restricted)
    text += fmt::format("{}device {} lowered to {}", text.empty() ? "" : ", ", id.str(), store::to_string(role));
  if (!part.revoked.empty())
    text += fmt::format("{}{} certificate(s) of removed devices or retired keys revoked", text.empty() ? "" : ", ",
                        part.revoked.size());
  return text.empty() ? "nothing was taken from it" : "taken here: " + text;
}

// The refusal, saying what of the escrow this device took.
EscrowRefused refusal_naming(const EscrowRefused& refused, const ShrinkingPart& part) {
  std::string what = refused.what();
  if (!part.removed.empty())
    what += "; this device's keys were rotated away from the devices removed";
  return EscrowRefused(refused.code(), fmt::format("{} ({})", what, shrinking_part_text(part)), refused.hint());
}

}  // namespace

void apply_roster_changes(store::LocalStore& store, const RosterChanges& changes, TimePoint now) {
  for (auto device : changes.added) {
    device.created_at = now;
    store.add_device(device);
  }
  for (const auto& id : changes.removed)
    store.set_device_status(id, store::DeviceStatus::Removed);
  for (const auto& [id, cut] : changes.cuts)
    store.set_device_removal_cut(id, cut);
  for (const auto& [id, role] : changes.restricted)
    store.set_device_role(id, role);
  for (const auto& device : changes.renewed)
    store.set_device_certificates(device.device_id, device.signature_certificate, device.agreement_certificate);
  store::TrustRecords records(store);
  for (const auto& der : changes.revoked) {
    records.add_revocation(store.profile().fingerprint, crypto::Certificate::from_der(der).serial_hex(),
                           std::string(kRemovedSource), now);
  }
}

std::map<Bytes, store::KeyStatus> merged_mail_statuses(const std::vector<store::MailKeyRecord>& held,
                                                       const std::vector<BundleKey>& keys) {
  return merge_mail_certificates(certificates_of(held), certificates_of(keys));
}

RosterClock next_roster_clock(store::LocalStore& store) {
  RosterClock clock = read_clock(store);
  ++clock[this_device(store).device_id.str()];
  return clock;
}

void remember_roster_clock(store::LocalStore& store, const RosterClock& clock) {
  RosterClock seen = read_clock(store);
  for (const auto& [device, count] : clock)
    seen[device] = std::max(seen[device], count);
  store.set_setting(kClockSetting, nlohmann::json(seen).dump());
  store.set_setting(kServedSetting, nlohmann::json(clock).dump());
}

std::optional<std::string> served_list_differs(profile::Profile& profile, keyservice::Client& client) {
  store::LocalStore& store = profile.store();
  const Identity fingerprint = store.profile().fingerprint;
  std::optional<keyservice::PublishedProfile> served;
  for (const auto& address : profile.addresses()) {
    try {
      served = client.profile_for(address);
    } catch (const Error&) {
      continue;  // not served for this address (pending, withdrawn)
    }
    if (served->fingerprint == fingerprint)
      break;
    served.reset();
  }
  if (!served)
    return std::nullopt;
  std::map<DeviceId, store::DeviceRecord> sealed;
  for (auto& device : store.devices())
    sealed.emplace(device.device_id, std::move(device));
  for (const auto& entry : served->devices) {
    auto at = sealed.find(entry.device_id);
    if (at == sealed.end())
      return fmt::format("it listed a device {} that no admin device added", entry.device_id.str());
    const store::DeviceRecord& device = at->second;
    if (entry.role != store::to_string(device.role) || entry.status != store::to_string(device.status)) {
      return fmt::format("it listed device {} as {} and {}; the admin devices sealed {} and {}", entry.device_id.str(),
                         entry.role, entry.status, store::to_string(device.role), store::to_string(device.status));
    }
    if (entry.signature_certificate.der() != device.signature_certificate ||
        entry.agreement_certificate.der() != device.agreement_certificate)
      return fmt::format("it listed other certificates for device {}", entry.device_id.str());
    sealed.erase(at);
  }
  if (!sealed.empty())
    return fmt::format("it left out device {}", sealed.begin()->first.str());
  return std::nullopt;
}

EscrowLearning learn_from_escrow(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                                 TimePoint now) {
  store::LocalStore& store = profile.store();
  std::optional<KeyBundle> escrow = served_escrow(profile, client, profile.root_key(key_access));
  if (!escrow)
    return {};  // never published: nothing to learn, and sync does not publish it
  // Older than the newest escrow served or published (a backup restored, a
  // replay): merged all the same, since every merge only adds and what this
  // device published holds every escrow it merged; the caller warns and
  // publishes. (Not the highest counts seen: an escrow this device merged,
  // concurrent with its own publication, is below their union.) An escrow
  // without a clock (an older mailseal) is of unknown age.
  const bool older =
      !escrow->roster_clock.empty() && is_older(escrow->roster_clock, read_clock(store, kServedSetting));
  const std::string before = local_state(store);
  const crypto::Certificate root = profile.root_certificate();
  const auto held = store.devices();
  RosterChanges changes;
  try {
    changes = merge_roster(held, escrow->devices, root);
  } catch (const Error& error) {
    // A list that does not read as the profile's devices (an entry twice,
    // another device's certificate) was sealed by a holder of the root all
    // the same: ignored once only a removed admin device can have sealed it,
    // refused otherwise, so that 'device remove' goes on and its publication
    // replaces it (a thief must not stop its own removal with a malformed
    // list: review of issue 14, fourth round).
    if (sealed_by_removed_admin(held, *escrow))
      return {false, true, older, true, fmt::format("nothing was taken from it: {}", error.what())};
    throw EscrowRefused(error.code(), error.what(), error.hint());
  }
  const DeviceId self = this_device(store).device_id;
  std::optional<EscrowRefused> refused = own_removal(self, changes);
  if (!refused)
    refused = own_restriction(self, changes);
  if (refused) {
    // Removals of other devices are never lost, whoever's list it is
    // (review of issue 14, F3): the person's other admin device, listing
    // this one removed on a thief's word, may have removed a phone since.
    const ShrinkingPart part = take_what_only_shrinks(profile, key_access, held, *escrow, now);
    if (!sealed_by_removed_admin(held, *escrow))
      throw refusal_naming(*refused, part);
    return {!part.removed.empty(), true, older, true, shrinking_part_text(part)};
  }
  const std::vector<DeviceId> rotate_for = rotation_for(store, held, changes, *escrow);
  const bool rotate = !rotate_for.empty();
  {
    store::Transaction transaction(store.database());
    apply_roster_changes(store, without_revocations(changes), now);
    const KeyAccess new_files = profile.access_for_new_key_files(key_access);
    take_mail_keys(store, *escrow, new_files, now);
    KeyBundle keys_only;
    keys_only.records_keys = escrow->records_keys;
    take_records_material(store, keys_only, new_files, now);
    const crypto::Certificate renewed = crypto::Certificate::from_der(escrow->root);
    if (keyservice::same_profile_root(renewed, root) && renewed.not_after() > root.not_after())
      store.set_root_certificate(renewed.der());
    if (rotate) {
      rotate_mail_keys(profile, key_access, could_sign(held, rotate_for), now);
      rotate_records_key(store, new_files, now);
    }
    take_revocations_of(profile, *escrow, changes, now);
    remember_roster_clock(store, escrow->roster_clock);
    transaction.commit();
  }
  const std::string after = local_state(store);
  const std::string served = state_digest(escrow->devices, certificates_of(escrow->keys),
                                          statuses_of(escrow->records_keys), escrow->revoked);
  return {before != after, after != served, older, false, {}};
}

}  // namespace mailseal::devices::internal
