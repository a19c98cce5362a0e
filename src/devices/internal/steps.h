#pragma once
// What the steps of connecting devices share (publish.cc, join.cc,
// approval.cc, sync.cc, removal.cc, bundles.cc): the keys that sign
// requests to the key service, this device's record, key bundles, and the
// approval steps a sync runs.

#include <filesystem>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "devices/internal/bundle.h"
#include "mailseal/common/error.h"
#include "mailseal/common/key_access.h"
#include "mailseal/devices/connect.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/profile/profile.h"

namespace mailseal::devices::internal {

// A key that signs requests (made at `now`), kept alive with the signer
// that points to it.
struct KeySigner {
  crypto::PrivateKey key;
  keyservice::RequestSigner signer;
  KeySigner(crypto::PrivateKey private_key, std::string key_id, TimePoint now)
      : key(std::move(private_key)), signer{&key, std::move(key_id), now} {}
  KeySigner(const KeySigner&) = delete;
};

// The profile root, signing as keyservice::kRootKey. Admin devices only.
KeySigner root_signer(profile::Profile& profile, const KeyAccess& key_access, TimePoint now);

// This device's record in its store.
store::DeviceRecord this_device(store::LocalStore& store);

// --- Key bundles (bundles.cc) ---

// What a bundle and the escrow both carry: the profile, and the mail keys
// `wanted` selects; issued `now`.
KeyBundle bundle_of(profile::Profile& profile, const KeyAccess& key_access,
                    const std::function<bool(const store::MailKeyRecord&)>& wanted, TimePoint now);
// The bundle for one device: its record, the keys its role may hold, and the
// proof of the PIN it joined with.
KeyBundle bundle_for(profile::Profile& profile, const KeyAccess& key_access, const store::DeviceRecord& device,
                     std::optional<std::string> pin_proof, TimePoint now);
// Signed by this device at `now`, encrypted to `recipient` (a device's
// key-agreement certificate).
Bytes seal_bundle(profile::Profile& profile, const KeyAccess& key_access, const KeyBundle& bundle,
                  const crypto::Certificate& recipient, TimePoint now);
// Opens a bundle for this device and checks it comes from a device of the
// profile whose root is `root`, and that every key belongs to its certificate.
KeyBundle open_bundle(ByteView sealed, const crypto::PrivateKey& agreement_key,
                      const crypto::Certificate& agreement_certificate, const crypto::Certificate& root);

// --- Removing a device (removal.cc) ---

// Archives the profile's current encryption keys (and signing keys, when
// `signing`), revokes their certificates and issues new ones under the root:
// what a removed device holds reads (and signs) nothing new. The addresses.
std::vector<EmailAddress> rotate_mail_keys(profile::Profile& profile, const KeyAccess& key_access, bool signing,
                                           TimePoint now);

// --- Two admin devices (roster.cc) ---

struct RosterChanges;  // roster.h

// Adds, removes, restricts and renews devices as merging another list said.
void apply_roster_changes(store::LocalStore& store, const RosterChanges& changes, TimePoint now);

// Publications of each admin device (device id to count) that a device has
// seen, carried in the escrow: one older than what a device has seen is a
// replay.
using RosterClock = std::map<std::string, std::int64_t>;
// What this device's next publication carries: what it has seen, its own
// count one more.
RosterClock next_roster_clock(store::LocalStore& store);
// Notes the clock of an escrow served or published: each count seen the
// higher of the two, and the newest escrow's clock (what a replay is older
// than).
void remember_roster_clock(store::LocalStore& store, const RosterClock& clock);

// The status of every mail certificate held here or in `keys` (a bundle's,
// an escrow's) after merging them (roster.h, merge_mail_certificates):
// archived stays archived, one current per address and purpose.
std::map<Bytes, store::KeyStatus> merged_mail_statuses(const std::vector<store::MailKeyRecord>& held,
                                                       const std::vector<BundleKey>& keys);

// An escrow refused because it removes this device or lowers its role
// (only a holder of the root writes one: another admin device or a stolen
// one); RejectedByPolicy.
class EscrowRefused : public Error {
 public:
  using Error::Error;
};

struct EscrowLearning {
  bool changed = false;  // this device took something from the escrow
  bool behind = false;   // the escrow lacks something this device holds: publish
  bool older_served = false;  // older than the newest escrow served or published here (merged all the same)
  // Refused (it removes this device or lowers its role), but only an admin
  // device removed here can have sealed it: of it only what shrinks (the
  // removals of other devices, revocations) is merged; publish over it.
  bool ignored = false;
  // Of an ignored escrow, what was taken here ("taken here: device X
  // removed, ..."): the person judges whether they did it.
  std::string ignored_taken;
};
// Admin devices: merges what the escrow the service serves holds (the other
// admin devices' devices, mail keys, records keys, revocations): removals
// are final, roles only go down, keys only get archived. Error(BadSignature),
// changing nothing, when the escrow was altered or is another profile's;
// EscrowRefused when it removes this device or lowers its role, unless only
// an admin device removed here can have sealed it (it lists that device
// active, or no other admin device is active here): then it is ignored,
// whatever else it lists. Either way what of it only shrinks is merged first
// (roster.h, shrinking_changes): the removals of other devices, with a
// rotation of this device's keys away from them, and the revocations. An
// older escrow served again (a backup restored, a replay) is merged like any
// other: every merge only adds, so it changes nothing; older_served says so,
// and `behind` makes the caller publish the newer state again. An escrow
// without a roster clock (an older mailseal) is merged as of unknown age.
EscrowLearning learn_from_escrow(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                                 TimePoint now);

// Publishes this device's state over the escrow the service serves without
// merging it first: for 'device remove' once learn_from_escrow refused that
// escrow (a stolen admin device's, which must not stop its own removal
// from being published: review of issue 14, fifth round). publish() is
// learn_from_escrow and this.
PublishReport publish_over_escrow(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                                  TimePoint now);

// Admin devices: how the device list the service serves for the profile
// differs from this device's (the first difference, naming the device), or
// nullopt when it agrees or is not served. Only reported: nothing is taken
// from it.
std::optional<std::string> served_list_differs(profile::Profile& profile, keyservice::Client& client);

// --- Steps a sync runs ---

// join.cc: the accepted join: the store is made from the bundle, and the
// pending state goes.
SyncReport complete_join(const std::filesystem::path& home, keyservice::Client& client, const KeyAccess& key_access,
                         TimePoint now);
// approval.cc: admin devices accept (or refuse) requests made with a PIN
// they issued, without anyone comparing witnesses: a PIN that was used, has
// expired at `now` or does not match is refused.
void process_pin_requests(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                          SyncReport& report, TimePoint now);

}  // namespace mailseal::devices::internal
