#pragma once
// Recovery (DESIGN.md section 6): the profile's root secret split into k of
// n Shamir shares (UDF share strings, draft-hallambaker-mesh-udf section
// 4.5). Any k of them find and open the escrow the key service keeps, which
// restores the profile root and every mail key on a fresh device, as a new
// admin device.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/key_access.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"

namespace mailseal::devices {

// `quorum` of `shares` (2 <= quorum <= shares <= 16) recover the profile.
// Admin devices only. The escrow must be published (`publish`) for the
// shares to be of use.
std::vector<std::string> create_recovery_shares(profile::Profile& profile, const KeyAccess& key_access, int shares,
                                                int quorum);

// Whether to restore from an escrow older than what the profile's root did
// since (RestoreReport::old_escrow): only on the person's word
// (`--accept-old-escrow`).
enum class OldEscrowPolicy { Refuse, Accept };

struct RestoreOptions {
  std::vector<std::string> shares;
  std::string device_name;
  KeyAccess key_access = KeyAccess::unencrypted();  // protects the restored key files
  OldEscrowPolicy old_escrow = OldEscrowPolicy::Refuse;
};

struct RestoredDevice {
  DeviceId device_id;
  std::string name;  // raw: escape to print
  store::DeviceRole role = store::DeviceRole::Read;
  store::DeviceStatus status = store::DeviceStatus::Active;
  bool this_device = false;
};

// What says the escrow the service serves is older than what the profile's
// root did since: a revocation list the root signed after the escrow was
// sealed, or serials it revoked that the escrow does not hold (a removal or
// rotation made after it). Devices removed since may be active in it.
struct OldEscrow {
  TimePoint newest_revocation_list{};  // lastUpdate of the newest one the root signed
  std::vector<std::string> serials_not_in_escrow;
};

struct RestoreReport {
  // False when an old escrow was refused: nothing was stored or published,
  // and `devices` lists the escrow's as it holds them.
  bool restored = false;
  std::optional<OldEscrow> old_escrow;
  Identity fingerprint;
  std::vector<EmailAddress> addresses;
  DeviceId device_id;
  int mail_keys = 0;
  // When an admin device sealed the escrow restored from: a key service may
  // serve an old one (docs/service.md, "Recovery").
  TimePoint escrow_sealed_at{};
  // The devices as restored, removed ones included.
  std::vector<RestoredDevice> devices;
  // Active in the escrow, but the root revoked their device certificates in
  // the revocation list the service publishes: the escrow is older than
  // their removal, so they are removed here too.
  std::vector<DeviceId> removed_by_revocations;
  // The mail and records keys were rotated: the escrow's current ones may be
  // held by a device removed since (its device or mail certificates revoked).
  bool rotated = false;
};

// Restores the profile in `home` (which must hold none) as a new admin
// device and publishes the new device list. An escrow older than what the
// root did since (old_escrow) is restored only with OldEscrowPolicy::Accept;
// otherwise nothing is stored or published. The serials the root revoked
// (the escrow's and those of the revocation lists the service publishes for
// the profile, signed by the root) are kept, a device whose device
// certificate is among them is removed, and the keys rotated when the escrow
// turns out older than a removal. Error(Usage) with the number
// needed when there are too few shares; Error(BadSignature) when the shares
// do not belong together.
RestoreReport restore(const std::filesystem::path& home, keyservice::Client& client, const RestoreOptions& options,
                      TimePoint now);

}  // namespace mailseal::devices
