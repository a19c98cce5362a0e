// Certificates that ask senders for AES-CBC, for mail clients without
// AES-GCM: the one step every client export takes first.

#include <fmt/format.h>

#include "clients/internal/cbc.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/client.h"

namespace mailseal::clients::internal {

CbcReaders ask_senders_for_cbc(profile::Profile& profile, const KeyAccess& key_access, TimePoint now) {
  CbcReaders result;
  const smime::Capabilities cbc = smime::Capabilities::cbc_only();
  if (profile.advertises(cbc))
    return result;
  if (!profile.holds_root()) {
    result.warnings.push_back(
        "this profile's certificates still ask senders for AES-GCM, which this client cannot read; run the same "
        "set-up on an admin device (it re-issues them), then 'mailseal sync' here");
    return result;
  }
  result.reissued = profile.advertise_capabilities(cbc, key_access, now);
  auto url = devices::service_to_use({}, profile.store());
  if (!url) {
    result.warnings.push_back(
        "correspondents learn the new certificates from your next signed message (no key service is configured)");
    return result;
  }
  try {
    keyservice::Client client(*url);
    devices::publish(profile, client, key_access, now);
    result.published = true;
    result.devices_updated = devices::send_key_bundles(profile, client, key_access, now);
  } catch (const Error& error) {
    result.warnings.push_back(
        fmt::format("could not update the key service: {}; run 'mailseal publish' later", error.what()));
  }
  return result;
}

}  // namespace mailseal::clients::internal
