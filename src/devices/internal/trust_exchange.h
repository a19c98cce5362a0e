#pragma once
// Trust records on a device (records.cc): the records keys and the roster
// that key bundles carry, and the exchange a sync runs.

#include "devices/internal/bundle.h"
#include "mailseal/common/key_access.h"
#include "mailseal/devices/connect.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"

namespace mailseal::devices::internal {

// The records keys a bundle carries (current and archived).
std::vector<BundleRecordsKey> bundle_records_keys(store::LocalStore& store, const KeyAccess& key_access);
// Keeps the records keys and the roster (other devices, their role and
// status) a bundle from an admin device carries; new key files are
// protected as `key_access` says.
void take_records_material(store::LocalStore& store, const KeyBundle& bundle, const KeyAccess& key_access,
                           TimePoint now);
// Admin devices: makes the profile's first records key; true if it did.
bool ensure_records_key(store::LocalStore& store, const KeyAccess& key_access, TimePoint now);
// Admin devices: a new current records key (a device was removed: it must
// not read what is written from now on).
void rotate_records_key(store::LocalStore& store, const KeyAccess& key_access, TimePoint now);
// Admin devices: whether the records keys or the roster changed since the
// other devices were last sent bundles, and noting that they were.
bool records_material_changed(store::LocalStore& store);
void remember_records_material(store::LocalStore& store);

// The cut a removal of `device` names (docs/security.md, "The cut"): every
// log as the service serves it, checked as a sync checks it (nothing
// merged), and the last record of `device` that would be merged here; or
// what this device merged of it when the service cannot be asked or
// misbehaves (`problem` says why).
struct CutFound {
  store::RemovalCut cut;
  std::string problem;
};
CutFound removal_cut(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                     const DeviceId& device, TimePoint now);

// Writes what this device decided or learned into its log, sends what the
// service lacks, and merges the other devices' records: all of them or,
// when the service misbehaved, none (Error(BadSignature) saying what).
RecordsReport exchange_records(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                               TimePoint now);

}  // namespace mailseal::devices::internal
