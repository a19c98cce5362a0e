#pragma once
// Every device reads the mail (DESIGN.md section 6): publishing the profile
// to the key service, connecting devices by witness or PIN, key bundles,
// removing a device (which rotates the keys), and synchronising.
//
// The key service is trusted with nothing secret: bundles are sealed to the
// receiving device's key-agreement key and signed by an admin device; a
// witness or a PIN binds every new device key, so a service that swaps keys
// is caught.
//
// Every operation takes `now`, the caller's clock: what it issues is valid
// from then, what it decides (an invitation expired?) is decided at then,
// and its requests to the key service are signed with that time.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/key_access.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/profile/profile.h"

namespace mailseal::devices {

struct PublishReport {
  Identity fingerprint;
  std::vector<EmailAddress> addresses;
  int certificates = 0;
  int devices = 0;
  // Where each address stands on the service (docs/service.md, "Verified
  // addresses"): pending ones wait for the challenge mailed to them. Empty
  // from a service that predates verification.
  std::vector<keyservice::AddressClaim> claims;
  // The key service served an older escrow than this device had seen (a
  // backup restored, a replay): it was merged, which changes nothing, and
  // this publication restores the newer one (docs/service.md, "Two admin devices").
  bool older_escrow_merged = false;
  // Admin devices: the key service served an escrow that removes this device
  // or lowers its role, listing as active an admin device removed here (the
  // one that may have written it): nothing was taken from it, and this
  // device's state was published over it.
  bool escrow_ignored = false;
};

// Publishes the profile (root, current mail certificates, exportable
// endorsements, revocations, devices) and the escrow of its keys, sealed to
// the root secret. Admin devices only (it is signed by the root).
PublishReport publish(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                      TimePoint now);

// Answers a challenge mail from the key service with its token (or the link
// holding it), signed by the profile root instead of pressing the page's
// button: the address becomes verified for this profile. Error(Usage) when
// the text holds no token; the service's refusals as Client says.
keyservice::AddressClaim confirm_address(profile::Profile& profile, keyservice::Client& client,
                                         const KeyAccess& key_access, std::string_view token_or_link, TimePoint now);

// Has the key service stop serving one of the profile's addresses (signed
// by the root). The next publication claims it again, with a new challenge.
keyservice::AddressClaim withdraw_address(profile::Profile& profile, keyservice::Client& client,
                                          const KeyAccess& key_access, const EmailAddress& address, TimePoint now);

// A new profile's first publication (`init --service URL`): the service is
// remembered and the profile published. A service that cannot be reached,
// refuses, or is not a service URL at all leaves the new profile working:
// the reason is returned, and `publish` finishes the job later.
struct FirstPublication {
  std::optional<PublishReport> published;
  std::optional<std::string> failure;  // why it was not published
};
FirstPublication publish_new_profile(profile::Profile& profile, std::string_view service_url,
                                     const KeyAccess& key_access, TimePoint now);

// The profile the key service publishes for `address`, checked: the root is
// a profile root constrained to the address asked for, the fingerprint is
// the root's, every certificate was issued by the root.
// Error(NotFound) when the service has no profile for the address;
// Error(Malformed) when what it returns does not hold together.
keyservice::PublishedProfile fetch_profile(keyservice::Client& client, const EmailAddress& address);
// The same checks on an answer already received (the JSON text).
keyservice::PublishedProfile read_published_profile(std::string_view answer, const EmailAddress& address);

struct JoinTicket {
  DeviceId device_id;
  std::string witness;
  RequestId request_id;
  Identity fingerprint;  // of the profile the service named
};

struct JoinOptions {
  EmailAddress address;
  std::string device_name;
  std::optional<std::string> pin;
  KeyAccess key_access = KeyAccess::unencrypted();  // protects this device's key files
};

// On a new device: makes its keys and asks to join the profile of
// `options.address`. The home holds only a pending join until `sync` finds
// the request accepted. Error(AlreadyExists) if the home holds a profile or
// a pending join.
JoinTicket join(const std::filesystem::path& home, keyservice::Client& client, const JoinOptions& options,
                TimePoint now);

// True if the home holds a join that is not complete yet.
bool join_pending(const std::filesystem::path& home);
// The key service a pending join was made on.
std::string pending_join_service(const std::filesystem::path& home);

struct PendingDevice {
  RequestId request_id;
  std::string device_name;
  std::string witness;
  bool by_pin = false;
  TimePoint created_at{};
};

// Requests waiting for an admin device, with the witness computed here.
std::vector<PendingDevice> pending_devices(profile::Profile& profile, keyservice::Client& client,
                                           const KeyAccess& key_access, TimePoint now);

struct AcceptedDevice {
  DeviceId device_id;
  std::string name;
  store::DeviceRole role = store::DeviceRole::Full;
  RequestId request_id;
};

// Accepts the request with that witness (any 100 bits of it) or request id:
// issues the device's certificates, sends it a key bundle, publishes.
// Error(NotFound) when no pending request matches.
AcceptedDevice accept_device(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                             std::string_view witness_or_id, store::DeviceRole role, TimePoint now);
void reject_device(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                   std::string_view witness_or_id, TimePoint now);
// Rejects every pending request to join the profile at once (a queue
// spammed by strangers); the ids of the requests rejected.
std::vector<RequestId> reject_all_requests(profile::Profile& profile, keyservice::Client& client,
                                           const KeyAccess& key_access, TimePoint now);

struct Invitation {
  std::string pin;
  std::string uri;
  TimePoint expires_at{};
  store::DeviceRole role = store::DeviceRole::Full;
};

// A one-time PIN: a device joining with it is accepted by this admin device
// on its next sync, without comparing witnesses, until `now` + `lifetime`.
Invitation invite(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                  std::chrono::seconds lifetime, store::DeviceRole role, TimePoint now);

// Renewal of the profile's mail certificates (docs/profile.md, "Renewal").
struct RenewalReport {
  std::vector<crypto::Certificate> renewed;  // issued now, on this device
  bool published = false;                    // this renewal, or an earlier unpublished one, reached the key service
  int devices_updated = 0;                   // other devices sent the new certificates
  bool unpublished = false;                  // renewed certificates wait for a key service
  std::optional<std::string> publish_failure;
  bool waiting_for_admin = false;  // due, but this device cannot issue: an admin device renews
};

// Renews the mail certificates that are due (profile::Profile::renew_certificates)
// when this device holds the root. With `client`, a renewal (this one, or
// one an earlier command made without a key service) is then published and
// sent to the other devices in their key bundles; a key service that cannot
// be reached leaves the renewal in place and it is published next time
// (publish_failure says why). Without `client`, nothing leaves this device.
// On a device without the root nothing is issued (two devices never make
// different certificates the others do not know): waiting_for_admin says
// whether a renewal is due.
RenewalReport renew_certificates(profile::Profile& profile, keyservice::Client* client, const KeyAccess& key_access,
                                 TimePoint now);
// Where renewal stands on this device at `now`, for `status`.
enum class RenewalStatus {
  NoneDue,          // no mail certificate is due
  Due,              // due, and this device renews them (it holds the root)
  WaitingForAdmin,  // due, and only an admin device can renew them
  Unpublished,      // renewed here, waiting for a key service
};
std::string_view to_string(RenewalStatus status);
RenewalStatus renewal_status(profile::Profile& profile, TimePoint now);

// Who a record held back is charged to (docs/service.md, "Frontier proofs").
enum class FrontierVerdict {
  Unproven,    // a record without proofs names past the service's head: the writer or the service lies
  Forged,      // a frontier entry without the named device's valid proof: the writer forged it
  Downgraded,  // a record without proofs after its writer signed them: the writer escapes the proofs
  Withheld,    // the named device signed the record named and the service does not serve it: the service lies
  // The record itself cannot be merged (docs/service.md, "Records that do not open"):
  Unopened,     // it does not open or verify: its writer uploaded it so, or the service altered it
  Malformed,    // its writer signed a record that does not decode: the writer
  Newer,        // its writer signed a record of a version this mailseal does not read: upgrade, or the writer
  ClockBroken,  // its writer signed a time that breaks the clock rule (docs/service.md, "The clock"): the writer
};
std::string_view to_string(FrontierVerdict verdict);

// A device's record held back with the rest of its writer's log: its
// frontier names a record of another device that the key service does not
// serve, or names one without proof, or the record goes back to the format
// without proofs, or it does not open, verify or decode (then `named` is
// the writer and `problem` says what is wrong). The other devices' records
// are merged (review of issue 14, F4 and the fifth round's F3); `verdict`
// says who lies.
struct OverreachingRecord {
  DeviceId writer;
  std::int64_t seq = 0;  // the writer's first record that names too far
  DeviceId named;        // the device it names
  std::int64_t named_seq = 0;
  std::int64_t served = 0;  // the last record of `named` the service holds
  int waiting = 0;          // the writer's records that wait
  FrontierVerdict verdict = FrontierVerdict::Unproven;
  std::string problem{};  // for a record that cannot be merged: why
};

// What to tell the person about a record held back: who is charged and what
// to do (only a writer charged for sure is to be removed).
std::string describe_held_back(const OverreachingRecord& record);

// Another device merged more of a removed device's log than this one, which
// now refuses the rest (docs/security.md, "Known open problems", G6): the
// two differ for good about what the removed device decided or learned in
// between. Shown by the frontier of a record of `other` merged in this sync.
struct RemovedDifference {
  DeviceId removed;
  DeviceId other;
  std::int64_t theirs = 0;  // the last record of `removed` that `other` merged
  std::int64_t ours = 0;    // the last one this device merged
};

// The warning for a removed device's records merged on another device and
// not here, naming both devices and what to do.
std::string describe_removed_difference(const RemovedDifference& difference);

// A device's log whose first waiting record has waited here longer than a
// key bundle takes to arrive (docs/service.md, "A wait without end"): a key
// bundle for this device is withheld or late, or the key service rewrote
// the key id of the writer's last records; nothing here tells which.
struct LongWait {
  DeviceId writer;
  std::int64_t seq = 0;  // the writer's first record that waits
  int waiting = 0;       // the writer's records that wait
  TimePoint since{};     // when this device first found it waiting
  std::chrono::seconds waited{0};
};

// The warning for a long wait: the device, the record, how long, and what
// to do.
std::string describe_long_wait(const LongWait& wait);

// This device merged records of a removed device past the cut its removal
// names (docs/security.md, "The cut"): it synced between the removing admin
// device's fetch and the removal's bundle, or the service served it another
// fork. What the records past the cut decided is taken back here, so that
// this device shows what every other device shows.
struct PastCut {
  DeviceId removed;
  std::int64_t cut = 0;     // the last record of `removed` the removal accepts
  std::int64_t merged = 0;  // the last one this device merged
  // The record this device merged as number `merged` (or as the cut's
  // number) is not the one the removal or the service names: the removed
  // device's key signed two records under one number, and this device
  // merged one fork or the service serves the other; said at every sync.
  bool other_fork = false;
  // Not 0: this device had merged another fork of the log from this number
  // on, and went back to the record before it to merge the log the removal
  // names (said once, as what was past the cut).
  std::int64_t fork_from = 0;
  int taken_back = 0;  // decisions of records past the cut (or of the fork) taken back in this sync
  // The subjects (an address, "anchor:FINGERPRINT", "endorsement:ISSUER:
  // SUBJECT") where what a taken-back decision replaced cannot be rebuilt
  // here: the person decides again.
  std::vector<std::string> decide_again;
};

// The warning for a removed device's records merged here past its cut,
// saying what to do.
std::string describe_past_cut(const PastCut& past);

// What a sync did with trust records (docs/service.md, "Trust records").
struct RecordsReport {
  bool has_key = false;  // false until an admin device made the records key
  int written = 0;       // records this device wrote into its log
  int uploaded = 0;      // records the service took
  int merged = 0;        // other devices' records merged
  int ignored = 0;       // decisions of read-only devices, not taken
  int refused = 0;       // records of removed devices, not taken
  int refused_new = 0;   // of those, the ones no sync here refused before (said once)
  int deferred = 0;      // records of devices or keys not known here yet
  int unserved = 0;      // records that wait: they name a removed device's record the key service does not serve
  int conflicts = 0;     // subjects decided differently on two devices
  int restored = 0;      // this device's own records taken back from the service (a store restored from a backup)
  std::vector<OverreachingRecord> overreaching;  // by writer
  std::vector<RemovedDifference> removed_differences;  // by removed device, then other device
  std::vector<LongWait> long_waits;                    // by writer
  std::vector<PastCut> past_cut;                       // each said once (kept in the store's settings)
};

struct SyncReport {
  bool joined = false;                   // a pending join completed
  bool waiting = false;                  // a pending join is still waiting
  bool removed = false;                  // this device was removed from the profile
  std::vector<AcceptedDevice> accepted;  // PIN requests this admin device accepted
  std::vector<RequestId> refused;        // PIN requests refused (bad, used or expired PIN)
  int keys_added = 0;
  int keys_archived = 0;
  RenewalReport renewal;  // admin devices renew; the others take the renewed certificates
  RecordsReport records;
  // Admin devices: how the device list the key service served differed from
  // what the profile's admin devices sealed (raw text naming a device the
  // service listed); nothing was taken from it, and the true list was
  // published again. Empty when it agreed (docs/service.md, "Two admin devices").
  std::optional<std::string> served_list_corrected;
  // Admin devices: the key service served an older escrow than this device
  // had seen; it was merged (which changes nothing) and the newer one
  // published again.
  bool older_escrow_merged = false;
  // Admin devices: the key service served an escrow that removes this device
  // or lowers its role, after an admin device was removed here (the one that
  // may have written it): only what removes or lowers other devices was
  // taken from it (escrow_ignored_taken says what), and this device's state
  // was published over it.
  bool escrow_ignored = false;
  std::string escrow_ignored_taken;
};

// An address decided differently on two devices (by their names).
struct RecordsConflict {
  // What was decided about: an address (pins and acceptances),
  // "anchor:FINGERPRINT" (a trust anchor) or "endorsement:ISSUER:SUBJECT"
  // (the endorsements the profile made of an identity).
  std::string subject;
  std::optional<EmailAddress> address;  // for an address's pins
  std::string device_a;
  std::string decision_a;  // "pin F", "accept F", "unpin F" ("unpin *": all), "anchor F AMOUNT", "unanchor F",
                           // "endorse DIGEST AMOUNT/DEPTH", "withdraw *"; several joined by "; "
  std::string device_b;
  std::string decision_b;
};

// Where trust records stand on this device, for `mailseal status`.
struct RecordsStatus {
  bool has_key = false;
  std::optional<TimePoint> last_sync;  // the last sync that exchanged records
  int pending_changes = 0;             // decided or learned here, not yet in a record
  int pending_records = 0;             // written, not yet taken by the service
  int waiting_logs = 0;                // other devices' logs whose records wait here (a key bundle, or what they name)
  std::optional<TimePoint> oldest_wait;  // since when the longest of those waits
  std::vector<RecordsConflict> conflicts;
};
RecordsStatus records_status(store::LocalStore& store);

// Completes a pending join, or (on a device of a profile) processes PIN
// requests and renews the certificates that are due at `now` (admin devices:
// a PIN expired at `now` is refused), or takes the newest key bundle (other
// devices).
SyncReport sync(const std::filesystem::path& home, keyservice::Client& client, const KeyAccess& key_access,
                TimePoint now);

// Sends every other active device of the profile its current key bundle
// (after keys or certificates changed); returns how many. Admin devices only.
int send_key_bundles(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access, TimePoint now);

struct RemovalReport {
  DeviceId device_id;
  std::vector<EmailAddress> rotated;  // addresses with new keys
  int devices_updated = 0;            // remaining devices sent new bundles
  // The escrow served was refused (it removes or lowers this device, or
  // does not read as the profile's devices): why. The removal went on and
  // its publication replaced it; empty when none was refused.
  std::string escrow_refused;
  // The cut the removal names (docs/security.md, "The cut"): the last
  // record of the removed device's log that this device checked and every
  // device merges; `cut_problem` says why it is only what this device had
  // merged before (the key service did not answer or misbehaved), else empty.
  std::int64_t cut = 0;
  std::string cut_problem;
};

// Removes a device: revokes its certificates, makes new mail encryption keys
// (and signing keys, revoking the old ones, when the device could sign),
// publishes them and sends them to the remaining devices. The removed device
// gets nothing new.
RemovalReport remove_device(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                            const DeviceId& device_id, TimePoint now);

}  // namespace mailseal::devices
