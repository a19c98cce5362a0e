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

struct RestoreOptions {
  std::vector<std::string> shares;
  std::string device_name;
  KeyAccess key_access = KeyAccess::unencrypted();  // protects the restored key files
};

struct RestoreReport {
  Identity fingerprint;
  std::vector<EmailAddress> addresses;
  DeviceId device_id;
  int mail_keys = 0;
};

// Restores the profile in `home` (which must hold none) as a new admin
// device and publishes the new device list. Error(Usage) with the number
// needed when there are too few shares; Error(BadSignature) when the shares
// do not belong together.
RestoreReport restore(const std::filesystem::path& home, keyservice::Client& client, const RestoreOptions& options,
                      TimePoint now);

}  // namespace mailseal::devices
