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
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/service/claims.h"
#include "mailseal/service/limits.h"
#include "service/internal/sql.h"

namespace mailseal::service {

struct AccountRecord {
  Identity fingerprint;
  Bytes root;            // DER
  std::string document;  // keyservice::PublishedProfile without updated_at, JSON
  std::optional<Bytes> escrow;
  std::optional<std::string> escrow_id;  // derived from the profile's root secret
  TimePoint updated_at{};
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
  // Rejects every pending request made at or before `cutoff` (expired).
  void expire_requests(TimePoint cutoff);
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

 private:
  std::unique_ptr<sql::Connection> connection_;
};

}  // namespace mailseal::service
