// Renewing the profile's mail certificates before they expire, publishing
// the renewal and sending it to the other devices (docs/profile.md,
// "Renewal").

#include "devices/internal/steps.h"
#include "mailseal/common/error.h"
#include "mailseal/devices/key_service.h"

namespace mailseal::devices {

namespace {

// A renewal made without a key service (a command that noticed it offline)
// waits here until a call with one publishes it.
constexpr std::string_view kUnpublishedSetting = "renewal_unpublished";
constexpr std::string_view kUnpublished = "1";

bool renewal_unpublished(profile::Profile& profile) {
  return profile.store().setting(kUnpublishedSetting) == std::string(kUnpublished);
}

}  // namespace

std::string_view to_string(RenewalStatus status) {
  switch (status) {
    case RenewalStatus::NoneDue:
      return "none_due";
    case RenewalStatus::Due:
      return "due";
    case RenewalStatus::WaitingForAdmin:
      return "waiting_for_admin";
    case RenewalStatus::Unpublished:
      return "unpublished";
  }
  return "none_due";
}

RenewalStatus renewal_status(profile::Profile& profile, TimePoint now) {
  if (renewal_unpublished(profile))
    return RenewalStatus::Unpublished;
  if (!profile.renewal_due(now))
    return RenewalStatus::NoneDue;
  return profile.holds_root() ? RenewalStatus::Due : RenewalStatus::WaitingForAdmin;
}

RenewalReport renew_certificates(profile::Profile& profile, keyservice::Client* client, const KeyAccess& key_access,
                                 TimePoint now) {
  RenewalReport report;
  store::LocalStore& store = profile.store();
  if (!profile.holds_root()) {
    report.waiting_for_admin = profile.renewal_due(now);
    return report;
  }
  report.renewed = profile.renew_certificates(key_access, now);
  // A profile that was never published has nothing to bring up to date.
  if (!report.renewed.empty() && (client != nullptr || remembered_service(store)))
    store.set_setting(kUnpublishedSetting, kUnpublished);
  if (!renewal_unpublished(profile))
    return report;
  if (client == nullptr) {
    report.unpublished = true;
    return report;
  }
  try {
    publish(profile, *client, key_access, now);
    report.published = true;
    report.devices_updated = send_key_bundles(profile, *client, key_access, now);
    store.set_setting(kUnpublishedSetting, "");
  } catch (const Error& error) {
    // The new certificates are in use here already; the next sync (or the
    // gateway's next message) publishes them.
    report.unpublished = true;
    report.publish_failure = error.what();
  }
  return report;
}

}  // namespace mailseal::devices
