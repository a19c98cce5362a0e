#pragma once
// The key service's database: published profiles, the claims to addresses
// (claims.h), devices (from the published profiles), join requests, invitations, key
// bundles, escrow, the nonces of signed requests and (PostgreSQL) the rate
// limits' buckets. Records only; the API validates everything before it gets
// here. One ServiceStore is one connection, to a SQLite file or a PostgreSQL
// database (docs/service.md, "Back ends"); several processes may share the
// database, so whatever must hold across requests is one atomic statement
// or a transaction that locks the rows it reads.

#include <cstdint>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/service/api.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/service/claims.h"
#include "mailseal/service/limits.h"
#include "service/internal/sql.h"

namespace mailseal::service {

class LookupListener;

struct AccountRecord {
  Identity fingerprint;
  Bytes root;            // DER
  std::string document;  // keyservice::PublishedProfile without updated_at, JSON
  std::optional<Bytes> escrow;
  std::optional<std::string> escrow_id;  // derived from the profile's root secret
  TimePoint updated_at{};
  // One more with every change to what a lookup answers for the profile
  // (its document, its time, its claims), in the transaction that makes it.
  std::int64_t generation = 0;
};

// What a memoized lookup answer is checked against (api.cc,
// RenderedProfiles): the profile's generation and time as just read.
struct ProfileVersion {
  std::int64_t generation = 0;
  TimePoint updated_at{};
  bool operator==(const ProfileVersion&) const = default;
};

// The claims to one address with the version of each claimant's profile,
// read in one statement (a lookup's one round trip).
struct AddressClaims {
  std::vector<Claim> claims;
  std::vector<ProfileVersion> versions;  // versions[i] is claims[i].account's
};

struct StoredDevice {
  DeviceId device_id;
  Bytes signature_certificate;
  std::string status;  // "active" or "removed"
};

struct JoinRequestRecord {
  RequestId id;
  Identity account;
  std::string document;  // keyservice::PendingRequest, JSON
  Bytes signature_key;   // SubjectPublicKeyInfo DER of the device's signature key
  std::string status;    // "pending", "accepted", "rejected"
  std::optional<Bytes> bundle;
  TimePoint created_at{};
};

enum class InviteUse { Accepted, Unknown, Used, Expired };

// Which lane a join request waits in (limits.h, Quotas): made with a valid
// PIN, or without one.
enum class JoinLane { Pin, NoPin };

class ServiceStore {
 public:
  // Opens (creating if needed, upgrading if older) the database: a SQLite
  // file, or a PostgreSQL URI (sql::is_postgres).
  explicit ServiceStore(const std::string& database);

  sql::Connection& connection() noexcept { return *connection_; }

  // Inside a transaction: holds the profile's row until the transaction
  // ends, so that what is counted for the profile (its join queue, its
  // invitations) stays true until the transaction writes.
  void lock_account(const Identity& fingerprint);

  std::optional<AccountRecord> account(const Identity& fingerprint);
  std::optional<AccountRecord> account_for_escrow(const std::string& escrow_id);
  // Creates or replaces a published profile with its devices; escrow is
  // kept when not given. Its claims to addresses are kept apart (below).
  void save_account(const AccountRecord& account, const std::vector<StoredDevice>& devices);

  // Every claim to an address, oldest first; every claim of a profile.
  std::vector<Claim> claims(const std::string& address);
  // Every verified claim, by address (SMIMEA export).
  std::vector<Claim> verified_claims();
  // The same, with each claimant's ProfileVersion, in one statement.
  AddressClaims claims_with_versions(const std::string& address);
  std::vector<Claim> claims_of(const Identity& account);
  // The claim whose challenge token hashes to `token_hash`.
  std::optional<Claim> claim_for_token(const std::string& token_hash);
  // Creates or replaces the profile's claim to the address, with the hash
  // of its challenge token (none for a listed claim).
  void put_claim(const Claim& claim, const std::optional<std::string>& token_hash);
  // The claim, still pending, becomes verified at `now`; every other claim
  // to its address is dropped. The token's hash stays, so a replayed link
  // is recognised. False when the claim was no longer pending (another
  // claim to the address was verified first, by another request).
  bool confirm_claim(const Claim& claim, TimePoint now);
  // False when the profile had no claim to the address.
  bool remove_claim(const std::string& address, const Identity& account);
  // Forgets pending claims that expired.
  void drop_stale_claims(TimePoint now);
  std::optional<StoredDevice> device(const Identity& account, const DeviceId& device_id);

  // False if this key used this nonce before. Forgets nonces older than
  // `horizon`.
  bool remember_nonce(const std::string& key, const std::string& nonce, TimePoint now, TimePoint horizon);

  void add_request(const JoinRequestRecord& request, JoinLane lane);
  std::optional<JoinRequestRecord> request(const RequestId& id);
  std::vector<JoinRequestRecord> pending_requests(const Identity& account);
  int pending_count(const Identity& account, JoinLane lane);
  // Rejects the `count` oldest pending requests without a PIN.
  void evict_oldest_requests(const Identity& account, std::size_t count);
  // Rejects every pending request made at or before `cutoff` (expired),
  // and deletes (with their keys) the rejected ones made at or before
  // `forget_before`.
  void expire_requests(TimePoint cutoff, TimePoint forget_before);
  // Rejects every pending request of the profile; their ids.
  std::vector<RequestId> reject_pending(const Identity& account);
  // Only a pending request is decided; returns false otherwise.
  bool decide(const RequestId& id, const std::string& status, const std::string& document,
              const std::optional<Bytes>& bundle);

  void add_invite(const std::string& pin_id, const Identity& account, TimePoint expires_at);
  int open_invites(const Identity& account, TimePoint now);
  // Marks the invitation used if it is for `account`, unused and unexpired
  // (one statement: of two requests with one PIN, one wins).
  InviteUse use_invite(const std::string& pin_id, const Identity& account, TimePoint now);

  void put_bundle(const Identity& account, const DeviceId& device_id, ByteView bundle, TimePoint now);
  std::optional<Bytes> bundle(const Identity& account, const DeviceId& device_id);
  // Trust records: the last number a device's log holds here (0: none), how
  // many the profile keeps, a new one (false when that number is taken),
  // and those after the positions given (at most `limit`) with every
  // device's last number.
  std::int64_t last_record(const Identity& account, const DeviceId& device_id);
  std::int64_t record_count(const Identity& account);
  bool add_record(const Identity& account, const keyservice::StoredRecord& record, TimePoint now);
  keyservice::RecordBatch records_after(const Identity& account,
                                        const std::vector<std::pair<DeviceId, std::int64_t>>& after,
                                        std::size_t limit);

  // The outbox (docs/service.md, "Verified addresses"): a challenge mail is
  // queued by the publication's transaction (with its claim's token hash)
  // and sent after it committed, with no connection held. Its id.
  std::int64_t queue_mail(const Claim& claim, const std::string& token_hash, const OutgoingMail& mail, TimePoint now);
  // Sent: the row, and the token in its message, are gone.
  void mail_sent(std::int64_t id);
  // Not sent: the message (and the token in it) is dropped and the failure
  // kept; the claim stays pending, its link expired, so that the profile's
  // next publication mails a new one.
  void mail_failed(std::int64_t id, const std::string& error, TimePoint now);
  // Mails queued at or before `cutoff` and never sent (their process
  // stopped) fail as above.
  void fail_abandoned_mails(TimePoint cutoff, TimePoint now);
  // Forgets the profile's failed mails (a new publication retries them).
  void forget_mail_failures(const Identity& account);

  // Rate limits kept in the database (PostgreSQL: shared by every process):
  // the bucket `key` of `rate` as limits.h's RateLimiter keeps it, in one
  // atomic statement. Takes `cost` tokens if `min(cost, count)` are there
  // (or always, with `force`); nullopt when taken, else how long to wait.
  std::optional<std::chrono::seconds> take_tokens(const std::string& key, const Rate& rate, TimePoint now,
                                                  std::uint32_t cost, bool force);
  // How long until `cost` tokens are there; takes nothing.
  std::optional<std::chrono::seconds> tokens_wait(const std::string& key, const Rate& rate, TimePoint now,
                                                  std::uint32_t cost);
  // Forgets the buckets untouched since `before` (full again by then).
  void forget_buckets(TimePoint before);

  // PostgreSQL, when this connection's transactions notified lookups
  // (notify_lookups): waits until every process's lookup listener has
  // processed those notifications (docs/service.md, "Lookups from
  // memory"), so that no process answers from before them once the request
  // is answered. The answers come to this process's `listener` while it
  // listens, else to this connection. False when a listener did not answer
  // in time.
  bool fence_lookups(LookupListener* listener);

 private:
  // The profile's generation goes up by one (and its row stays locked
  // until the transaction ends).
  void bump_generation(const Identity& account);
  // PostgreSQL: tells every process's lookup listener, on commit, that the
  // answers of an address or a profile changed (lookup_memo.h's payloads).
  void notify_lookups(const std::string& payload);
  // Sends a fence whose answers come on `channel`; the backend pids of the
  // listeners that must answer it.
  std::set<std::string> send_fence(const std::string& channel, const std::string& token);
  // A fence answered on this connection's own channel, which it LISTENs
  // to only while it waits for the answers.
  bool fence_on_own_channel();

  std::unique_ptr<sql::Connection> connection_;
  bool notified_ = false;  // notify_lookups since the last fence
  std::int64_t fence_seq_ = 0;
};

}  // namespace mailseal::service
