#include "service/storage.h"

#include <algorithm>
#include <array>
#include <set>
#include <span>
#include <sstream>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "service/internal/lookup_listener.h"
#include "service/internal/lookup_memo.h"

namespace mailseal::service {

namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE accounts (
  fingerprint TEXT PRIMARY KEY,
  root        BLOB NOT NULL,
  document    TEXT NOT NULL,
  escrow      BLOB,
  escrow_id   TEXT UNIQUE,
  updated_at  INTEGER NOT NULL
);
CREATE TABLE addresses (
  address TEXT PRIMARY KEY,
  account TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE
);
CREATE TABLE devices (
  account               TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  device_id             TEXT NOT NULL,
  signature_certificate BLOB NOT NULL,
  status                TEXT NOT NULL CHECK (status IN ('active', 'removed')),
  PRIMARY KEY (account, device_id)
);
CREATE TABLE requests (
  id            TEXT PRIMARY KEY,
  account       TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  document      TEXT NOT NULL,
  signature_key BLOB NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
  bundle        BLOB,
  created_at    INTEGER NOT NULL
);
CREATE INDEX requests_by_account ON requests (account, status);
CREATE TABLE invites (
  pin_id     TEXT PRIMARY KEY,
  account    TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
);
CREATE TABLE bundles (
  account    TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  device_id  TEXT NOT NULL,
  bundle     BLOB NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account, device_id)
);
CREATE TABLE nonces (
  key     TEXT NOT NULL,
  nonce   TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (key, nonce)
);
CREATE INDEX nonces_by_time ON nonces (seen_at);
)sql";

// Verified addresses (docs/service.md): every profile's claim to an address,
// pending until its challenge is answered. The addresses served before are
// kept as listed claims (served, not verified).
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE claims (
  address          TEXT NOT NULL,
  account          TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'listed')),
  token_hash       TEXT UNIQUE,
  claimed_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  token_expires_at INTEGER NOT NULL,
  PRIMARY KEY (address, account)
);
CREATE INDEX claims_by_account ON claims (account);
INSERT INTO claims (address, account, state, claimed_at, expires_at, token_expires_at)
  SELECT addresses.address, addresses.account, 'listed', accounts.updated_at, 0, 0
  FROM addresses JOIN accounts ON accounts.fingerprint = addresses.account;
DROP TABLE addresses;
)sql";

// The join queue's lanes (docs/service.md, "Abuse"): requests made with a
// valid PIN apart from the others; expiry by creation time.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE requests ADD COLUMN pin_bound INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_by_time ON requests (status, created_at);
)sql";

// PostgreSQL's schema, first made at version 3: the SQLite schema of
// version 3 in PostgreSQL's types (BYTEA for BLOB, BIGINT for points in
// time). `rowid` is SQLite's implicit column made explicit, so that the
// queue's order (oldest first, then the order of arrival) is one statement.
constexpr std::string_view kPostgresV3 = R"sql(
CREATE TABLE accounts (
  fingerprint TEXT PRIMARY KEY,
  root        BYTEA NOT NULL,
  document    TEXT NOT NULL,
  escrow      BYTEA,
  escrow_id   TEXT UNIQUE,
  updated_at  BIGINT NOT NULL
);
CREATE TABLE devices (
  account               TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  device_id             TEXT NOT NULL,
  signature_certificate BYTEA NOT NULL,
  status                TEXT NOT NULL CHECK (status IN ('active', 'removed')),
  PRIMARY KEY (account, device_id)
);
CREATE TABLE requests (
  rowid         BIGSERIAL,
  id            TEXT PRIMARY KEY,
  account       TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  document      TEXT NOT NULL,
  signature_key BYTEA NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
  bundle        BYTEA,
  created_at    BIGINT NOT NULL,
  pin_bound     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_by_account ON requests (account, status);
CREATE INDEX requests_by_time ON requests (status, created_at);
CREATE TABLE invites (
  pin_id     TEXT PRIMARY KEY,
  account    TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  expires_at BIGINT NOT NULL,
  used_at    BIGINT
);
CREATE TABLE bundles (
  account    TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  device_id  TEXT NOT NULL,
  bundle     BYTEA NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (account, device_id)
);
CREATE TABLE nonces (
  key     TEXT NOT NULL,
  nonce   TEXT NOT NULL,
  seen_at BIGINT NOT NULL,
  PRIMARY KEY (key, nonce)
);
CREATE INDEX nonces_by_time ON nonces (seen_at);
CREATE TABLE claims (
  address          TEXT NOT NULL,
  account          TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'listed')),
  token_hash       TEXT UNIQUE,
  claimed_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,
  token_expires_at BIGINT NOT NULL,
  PRIMARY KEY (address, account)
);
CREATE INDEX claims_by_account ON claims (account);
)sql";

// The rate limits' buckets, shared by every process on the database
// (docs/service.md, "Back ends"). UNLOGGED: not written to the write-ahead
// log, so taking a token waits for no disk flush; after a crash the buckets
// start full, as after a restart. Only PostgreSQL keeps them (the
// processes on a SQLite file keep their own, in memory).
constexpr std::string_view kPostgresV4 = R"sql(
CREATE UNLOGGED TABLE rate_buckets (
  key         TEXT PRIMARY KEY,
  millitokens BIGINT NOT NULL,
  updated     BIGINT NOT NULL,
  admitted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rate_buckets_by_time ON rate_buckets (updated);
)sql";

// Lookups in one query (docs/service.md, "Back ends"): every write to what
// a lookup answers (a profile's document and time, its claims) adds one to
// its generation in the same transaction, so a memoized answer is checked
// against the generation that the lookup's one query reads. The outbox:
// challenge mails recorded by the publication's transaction and sent after
// it committed (docs/service.md, "Verified addresses").
constexpr std::string_view kSchemaV4 = R"sql(
ALTER TABLE accounts ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE TABLE outbox (
  id           INTEGER PRIMARY KEY,
  account      TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  address      TEXT NOT NULL,
  reverse_path TEXT NOT NULL,
  message      TEXT NOT NULL,
  token_hash   TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('queued', 'failed')),
  error        TEXT,
  created_at   INTEGER NOT NULL
);
CREATE INDEX outbox_by_account ON outbox (account, state);
CREATE INDEX outbox_by_time ON outbox (state, created_at);
)sql";

// The same in PostgreSQL's types.
constexpr std::string_view kPostgresV5 = R"sql(
ALTER TABLE accounts ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
CREATE TABLE outbox (
  id           BIGSERIAL PRIMARY KEY,
  account      TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  address      TEXT NOT NULL,
  reverse_path TEXT NOT NULL,
  message      TEXT NOT NULL,
  token_hash   TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('queued', 'failed')),
  error        TEXT,
  created_at   BIGINT NOT NULL
);
CREATE INDEX outbox_by_account ON outbox (account, state);
CREATE INDEX outbox_by_time ON outbox (state, created_at);
)sql";

// Trust records (docs/service.md, "Trust records"): each device's log of
// sealed records, numbered from 1 without gaps. The same table on both back
// ends (SQLite's version 5, PostgreSQL's version 6).
constexpr std::string_view kTrustRecordsSqlite = R"sql(
CREATE TABLE trust_records (
  account    TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  device_id  TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  sealed     BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account, device_id, seq)
);
)sql";
constexpr std::string_view kTrustRecordsPostgres = R"sql(
CREATE TABLE trust_records (
  account    TEXT NOT NULL REFERENCES accounts (fingerprint) ON DELETE CASCADE,
  device_id  TEXT NOT NULL,
  seq        BIGINT NOT NULL,
  sealed     BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account, device_id, seq)
);
)sql";

// One schema change: it brings a database to `version`.
struct Migration {
  std::int64_t version;
  std::string_view sql;
};

// SQLite's history from the first version; PostgreSQL's from version 3.
constexpr std::array<Migration, 5> kSqliteMigrations = {
    {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}, {4, kSchemaV4}, {5, kTrustRecordsSqlite}}};
constexpr std::array<Migration, 4> kPostgresMigrations = {
    {{3, kPostgresV3}, {4, kPostgresV4}, {5, kPostgresV5}, {6, kTrustRecordsPostgres}}};

// PostgreSQL keeps its version in a table; SQLite in its header.
constexpr std::string_view kPostgresVersionTable =
    "CREATE TABLE IF NOT EXISTS mailseal_schema (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL)";
// Any number, the same in every mailseal: the advisory lock's name.
constexpr std::int64_t kMigrationLock = 0x6d61696c7365616c;  // "mailseal"

std::int64_t schema_version(sql::Connection& connection) {
  auto rows = connection.query(connection.dialect() == sql::Dialect::Sqlite
                                   ? "PRAGMA user_version"
                                   : "SELECT version FROM mailseal_schema WHERE one = 1");
  return rows->next() ? rows->integer(0) : 0;
}

void set_schema_version(sql::Connection& connection, std::int64_t version) {
  if (connection.dialect() == sql::Dialect::Sqlite) {
    connection.execute(fmt::format("PRAGMA user_version = {};", version));
    return;
  }
  connection.run(
      "INSERT INTO mailseal_schema (one, version) VALUES (1, ?1) ON CONFLICT (one) DO UPDATE SET version = "
      "excluded.version",
      {version});
}

// Brings the database to this mailseal's schema, one version per
// transaction (an interrupted upgrade leaves a consistent database). The
// version is read inside the transaction, which holds the write lock
// (SQLite) or an advisory lock (PostgreSQL): of several processes starting
// together, one upgrades and the others find it done.
void migrate(sql::Connection& connection) {
  const std::span<const Migration> steps = connection.dialect() == sql::Dialect::Sqlite
                                               ? std::span<const Migration>(kSqliteMigrations)
                                               : std::span<const Migration>(kPostgresMigrations);
  const std::int64_t newest = steps.back().version;
  for (const Migration& step : steps) {
    sql::Transaction transaction(connection);
    if (connection.dialect() == sql::Dialect::Postgres) {
      connection.query("SELECT pg_advisory_xact_lock(?1)", {kMigrationLock})->next();
      connection.execute(kPostgresVersionTable);
    }
    const std::int64_t version = schema_version(connection);
    if (version < 0 || version > newest) {
      throw Error(ErrorCode::Unsupported,
                  fmt::format("the service database was made by a newer mailseal (schema {}, this one reads {})",
                              version, newest),
                  "upgrade mailseal");
    }
    if (version >= step.version)
      continue;  // rolled back: nothing was written
    connection.execute(step.sql);
    set_schema_version(connection, step.version);
    transaction.commit();
  }
}

std::unique_ptr<sql::Connection> connect(const std::string& database) {
  return sql::is_postgres(database) ? sql::open_postgres(database) : sql::open_sqlite(database);
}

}  // namespace

ServiceStore::ServiceStore(const std::string& database) : connection_(connect(database)) {
  migrate(*connection_);
}

void ServiceStore::lock_account(const Identity& fingerprint) {
  connection_->query(fmt::format("SELECT fingerprint FROM accounts WHERE fingerprint = ?1{}", connection_->lock_rows()),
                     {fingerprint.str()})
      ->next();
}

namespace {

AccountRecord account_from(const sql::Rows& rows) {
  AccountRecord out{Identity(rows.text(0)), rows.blob(1), rows.text(2), std::nullopt, std::nullopt, rows.time(5),
                    rows.integer(6)};
  if (!rows.is_null(3))
    out.escrow = rows.blob(3);
  if (!rows.is_null(4))
    out.escrow_id = rows.text(4);
  return out;
}

constexpr std::string_view kAccountColumns =
    "fingerprint, root, document, escrow, escrow_id, updated_at, generation";

std::int64_t lane_flag(JoinLane lane) {
  return lane == JoinLane::Pin ? 1 : 0;
}

}  // namespace

std::optional<AccountRecord> ServiceStore::account(const Identity& fingerprint) {
  auto rows = connection_->query(fmt::format("SELECT {} FROM accounts WHERE fingerprint = ?1", kAccountColumns),
                                 {fingerprint.str()});
  if (!rows->next())
    return std::nullopt;
  return account_from(*rows);
}

std::optional<AccountRecord> ServiceStore::account_for_escrow(const std::string& escrow_id) {
  auto rows =
      connection_->query(fmt::format("SELECT {} FROM accounts WHERE escrow_id = ?1", kAccountColumns), {escrow_id});
  if (!rows->next())
    return std::nullopt;
  return account_from(*rows);
}

void ServiceStore::save_account(const AccountRecord& account, const std::vector<StoredDevice>& devices) {
  sql::Transaction transaction(*connection_);
  const bool escrow = account.escrow && account.escrow_id;
  connection_->run(
      "INSERT INTO accounts (fingerprint, root, document, escrow, escrow_id, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT (fingerprint) DO UPDATE SET root = excluded.root, document = excluded.document, "
      "escrow = COALESCE(excluded.escrow, accounts.escrow), "
      "escrow_id = COALESCE(excluded.escrow_id, accounts.escrow_id), updated_at = excluded.updated_at, "
      "generation = accounts.generation + 1",
      {account.fingerprint.str(), account.root, account.document,
       escrow ? sql::Value(*account.escrow) : sql::Value(std::nullopt),
       escrow ? sql::Value(*account.escrow_id) : sql::Value(std::nullopt), account.updated_at});
  notify_lookups(LookupMemo::account_payload(account.fingerprint.str()));
  connection_->run("DELETE FROM devices WHERE account = ?1", {account.fingerprint.str()});
  for (const auto& device : devices) {
    connection_->run("INSERT INTO devices (account, device_id, signature_certificate, status) VALUES (?1, ?2, ?3, ?4)",
                     {account.fingerprint.str(), device.device_id.str(), device.signature_certificate, device.status});
  }
  transaction.commit();
}

std::optional<StoredDevice> ServiceStore::device(const Identity& account, const DeviceId& device_id) {
  auto rows = connection_->query(
      "SELECT signature_certificate, status FROM devices WHERE account = ?1 AND device_id = ?2",
      {account.str(), device_id.str()});
  if (!rows->next())
    return std::nullopt;
  return StoredDevice{device_id, rows->blob(0), rows->text(1)};
}

// One INSERT on the primary key: of two requests with the same nonce, in
// one process or two, exactly one inserts.
bool ServiceStore::remember_nonce(const std::string& key, const std::string& nonce, TimePoint now, TimePoint horizon) {
  connection_->run("DELETE FROM nonces WHERE seen_at < ?1", {horizon});
  return connection_->run("INSERT INTO nonces (key, nonce, seen_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                          {key, nonce, now}) > 0;
}

void ServiceStore::add_request(const JoinRequestRecord& request, JoinLane lane) {
  connection_->run(
      "INSERT INTO requests (id, account, document, signature_key, status, created_at, pin_bound) "
      "VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
      {request.id.str(), request.account.str(), request.document, request.signature_key, request.created_at,
       lane_flag(lane)});
}

void ServiceStore::evict_oldest_requests(const Identity& account, std::size_t count) {
  if (count == 0)
    return;
  connection_->run(
      "UPDATE requests SET status = 'rejected' WHERE id IN (SELECT id FROM requests WHERE account = ?1 AND "
      "status = 'pending' AND pin_bound = 0 ORDER BY created_at, rowid LIMIT ?2)",
      {account.str(), static_cast<std::int64_t>(count)});
}

void ServiceStore::expire_requests(TimePoint cutoff, TimePoint forget_before) {
  connection_->run("UPDATE requests SET status = 'rejected' WHERE status = 'pending' AND created_at <= ?1", {cutoff});
  connection_->run("DELETE FROM requests WHERE status = 'rejected' AND created_at <= ?1", {forget_before});
}

std::vector<RequestId> ServiceStore::reject_pending(const Identity& account) {
  std::vector<RequestId> out;
  auto rows = connection_->query(
      "UPDATE requests SET status = 'rejected' WHERE account = ?1 AND status = 'pending' RETURNING id",
      {account.str()});
  while (rows->next())
    out.emplace_back(rows->text(0));
  return out;
}

namespace {

JoinRequestRecord request_from(const sql::Rows& rows) {
  JoinRequestRecord out{RequestId(rows.text(0)), Identity(rows.text(1)), rows.text(2), rows.blob(3), rows.text(4),
                        std::nullopt,            rows.time(6)};
  if (!rows.is_null(5))
    out.bundle = rows.blob(5);
  return out;
}

constexpr std::string_view kRequestColumns = "id, account, document, signature_key, status, bundle, created_at";

}  // namespace

std::optional<JoinRequestRecord> ServiceStore::request(const RequestId& id) {
  auto rows = connection_->query(fmt::format("SELECT {} FROM requests WHERE id = ?1", kRequestColumns), {id.str()});
  if (!rows->next())
    return std::nullopt;
  return request_from(*rows);
}

std::vector<JoinRequestRecord> ServiceStore::pending_requests(const Identity& account) {
  auto rows = connection_->query(
      fmt::format("SELECT {} FROM requests WHERE account = ?1 AND status = 'pending' ORDER BY created_at, rowid",
                  kRequestColumns),
      {account.str()});
  std::vector<JoinRequestRecord> out;
  while (rows->next())
    out.push_back(request_from(*rows));
  return out;
}

int ServiceStore::pending_count(const Identity& account, JoinLane lane) {
  auto rows = connection_->query(
      "SELECT COUNT(*) FROM requests WHERE account = ?1 AND status = 'pending' AND pin_bound = ?2",
      {account.str(), lane_flag(lane)});
  rows->next();
  return static_cast<int>(rows->integer(0));
}

bool ServiceStore::decide(const RequestId& id, const std::string& status, const std::string& document,
                          const std::optional<Bytes>& bundle) {
  return connection_->run(
             "UPDATE requests SET status = ?2, bundle = ?3, document = ?4 WHERE id = ?1 AND status = 'pending'",
             {id.str(), status, bundle, document}) > 0;
}

void ServiceStore::add_invite(const std::string& pin_id, const Identity& account, TimePoint expires_at) {
  connection_->run("INSERT INTO invites (pin_id, account, expires_at) VALUES (?1, ?2, ?3)",
                   {pin_id, account.str(), expires_at});
}

int ServiceStore::open_invites(const Identity& account, TimePoint now) {
  auto rows = connection_->query(
      "SELECT COUNT(*) FROM invites WHERE account = ?1 AND used_at IS NULL AND expires_at > ?2", {account.str(), now});
  rows->next();
  return static_cast<int>(rows->integer(0));
}

InviteUse ServiceStore::use_invite(const std::string& pin_id, const Identity& account, TimePoint now) {
  if (connection_->run("UPDATE invites SET used_at = ?3 WHERE pin_id = ?1 AND account = ?2 AND used_at IS NULL AND "
                       "expires_at > ?3",
                       {pin_id, account.str(), now}) > 0)
    return InviteUse::Accepted;
  // Not taken: why not (nothing changes from here on).
  auto rows = connection_->query("SELECT account, expires_at, used_at FROM invites WHERE pin_id = ?1", {pin_id});
  if (!rows->next() || Identity(rows->text(0)) != account)
    return InviteUse::Unknown;
  if (!rows->is_null(2))
    return InviteUse::Used;
  return InviteUse::Expired;
}

void ServiceStore::put_bundle(const Identity& account, const DeviceId& device_id, ByteView bundle, TimePoint now) {
  connection_->run(
      "INSERT INTO bundles (account, device_id, bundle, updated_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (account, device_id) DO UPDATE SET bundle = excluded.bundle, updated_at = excluded.updated_at",
      {account.str(), device_id.str(), bundle, now});
}

std::int64_t ServiceStore::last_record(const Identity& account, const DeviceId& device_id) {
  auto rows = connection_->query("SELECT COALESCE(MAX(seq), 0) FROM trust_records WHERE account = ?1 AND device_id = ?2",
                                 {account.str(), device_id.str()});
  rows->next();
  return rows->integer(0);
}

std::int64_t ServiceStore::record_count(const Identity& account) {
  auto rows = connection_->query("SELECT COUNT(*) FROM trust_records WHERE account = ?1", {account.str()});
  rows->next();
  return rows->integer(0);
}

bool ServiceStore::add_record(const Identity& account, const keyservice::StoredRecord& record, TimePoint now) {
  return connection_->run(
             "INSERT INTO trust_records (account, device_id, seq, sealed, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
             "ON CONFLICT (account, device_id, seq) DO NOTHING",
             {account.str(), record.device_id.str(), record.seq, record.sealed, now}) > 0;
}

keyservice::RecordBatch ServiceStore::records_after(const Identity& account,
                                                    const std::vector<std::pair<DeviceId, std::int64_t>>& after,
                                                    std::size_t limit) {
  keyservice::RecordBatch batch;
  auto heads = connection_->query(
      "SELECT device_id, MAX(seq) FROM trust_records WHERE account = ?1 GROUP BY device_id ORDER BY device_id",
      {account.str()});
  while (heads->next())
    batch.heads.emplace_back(DeviceId(heads->text(0)), heads->integer(1));
  for (const auto& [device, head] : batch.heads) {
    std::int64_t from = 0;
    for (const auto& [named, seq] : after) {
      if (named == device)
        from = seq;
    }
    if (from >= head || batch.records.size() >= limit)
      continue;
    auto rows = connection_->query(
        "SELECT seq, sealed FROM trust_records WHERE account = ?1 AND device_id = ?2 AND seq > ?3 ORDER BY seq "
        "LIMIT ?4",
        {account.str(), device.str(), from, static_cast<std::int64_t>(limit - batch.records.size())});
    while (rows->next())
      batch.records.push_back({device, rows->integer(0), rows->blob(1)});
  }
  return batch;
}

std::optional<Bytes> ServiceStore::bundle(const Identity& account, const DeviceId& device_id) {
  auto rows = connection_->query("SELECT bundle FROM bundles WHERE account = ?1 AND device_id = ?2",
                                 {account.str(), device_id.str()});
  if (!rows->next())
    return std::nullopt;
  return rows->blob(0);
}

namespace {

constexpr std::string_view kClaimColumns = "address, account, state, claimed_at, expires_at, token_expires_at";

Claim claim_from(const sql::Rows& rows) {
  auto state = claim_state_from(rows.text(2));
  if (!state)
    throw Error(ErrorCode::Internal, "a claim in the service database has an unknown state");
  return Claim{rows.text(0), Identity(rows.text(1)), *state, rows.time(3), rows.time(4), rows.time(5)};
}

std::vector<Claim> claims_from(sql::Rows& rows) {
  std::vector<Claim> out;
  while (rows.next())
    out.push_back(claim_from(rows));
  return out;
}

}  // namespace

std::vector<Claim> ServiceStore::claims(const std::string& address) {
  auto rows = connection_->query(
      fmt::format("SELECT {} FROM claims WHERE address = ?1 ORDER BY claimed_at, account", kClaimColumns), {address});
  return claims_from(*rows);
}

AddressClaims ServiceStore::claims_with_versions(const std::string& address) {
  auto rows = connection_->query(
      "SELECT claims.address, claims.account, claims.state, claims.claimed_at, claims.expires_at, "
      "claims.token_expires_at, accounts.generation, accounts.updated_at "
      "FROM claims JOIN accounts ON accounts.fingerprint = claims.account "
      "WHERE claims.address = ?1 ORDER BY claims.claimed_at, claims.account",
      {address});
  AddressClaims out;
  while (rows->next()) {
    out.claims.push_back(claim_from(*rows));
    out.versions.push_back(ProfileVersion{rows->integer(6), rows->time(7)});
  }
  return out;
}

void ServiceStore::bump_generation(const Identity& account) {
  connection_->run("UPDATE accounts SET generation = generation + 1 WHERE fingerprint = ?1", {account.str()});
  notify_lookups(LookupMemo::account_payload(account.str()));
}

// PostgreSQL delivers the notification to every listening process when
// (and only if) the transaction commits (lookup_listener.h); SQLite has no
// listeners and no memo.
void ServiceStore::notify_lookups(const std::string& payload) {
  if (connection_->dialect() != sql::Dialect::Postgres)
    return;
  connection_->notify_at_commit(kLookupChannel, payload);
  notified_ = true;
}

// After the request's transactions, before its answer (api.cc): a fence
// notification, committed after every notification the request's
// transactions sent (a rolled-back one sent none), to every listener that
// had a connection when it was sent (pg_stat_activity, by the name
// LookupListener gives its connection); each listener answers it once it
// has forgotten what the notifications before it changed. The answers come
// to this process's listener (which answers its own fences without a
// statement), or, while it does not listen or if it lost its connection
// meanwhile, to this connection: a second fence then. Waits kFenceRounds
// quiet rounds of kFenceRoundMilliseconds at most (a listener that went
// away, or one that began to listen only after the fence, never answers).
bool ServiceStore::fence_lookups(LookupListener* listener) {
  if (!notified_ || connection_->dialect() != sql::Dialect::Postgres)
    return true;
  notified_ = false;
  if (auto fence = listener ? listener->begin_fence() : std::nullopt) {
    std::set<std::string> waiting;
    try {
      waiting = send_fence(fence->channel, fence->token);
    } catch (...) {
      listener->finish_fence(*fence, {});  // forgets it
      throw;
    }
    const LookupListener::Answered answered = listener->finish_fence(*fence, std::move(waiting));
    if (answered != LookupListener::Answered::Lost)
      return answered == LookupListener::Answered::All;
  }
  return fence_on_own_channel();
}

// The fence's transaction changes nothing that must last: its commit does
// not wait for the disk, and so holds PostgreSQL's lock on notifying
// commits (taken for the database, until the commit is done) only briefly.
std::set<std::string> ServiceStore::send_fence(const std::string& channel, const std::string& token) {
  auto rows = connection_->query(
      "SELECT array_to_string(ARRAY(SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
      "AND application_name LIKE ?3 AND (backend_start IS NULL OR backend_start < statement_timestamp())), ' ') "
      "FROM pg_notify(?1, ?2), set_config('synchronous_commit', 'off', true)",
      {std::string(kLookupChannel), fmt::format("{}{} {}", kFencePrefix, channel, token),
       std::string(kListenerName) + " %"});
  std::set<std::string> listeners;
  if (rows->next()) {
    std::istringstream pids(rows->text(0));
    for (std::string pid; pids >> pid;)
      listeners.insert(pid);
  }
  return listeners;
}

// The connection LISTENs only while it waits: a backend that LISTENs to
// any channel is woken by every notifying commit of the database (to read
// PostgreSQL's one queue of notifications), and this one goes back to the
// pool to serve requests. The answers that came too late are dropped.
bool ServiceStore::fence_on_own_channel() {
  const std::string channel = fmt::format("{}{}", kAckChannelPrefix, connection_->backend_pid());
  connection_->execute("LISTEN " + channel);
  struct Listening {
    sql::Connection& connection;
    const std::string& channel;
    ~Listening() {
      try {
        connection.execute("UNLISTEN " + channel);
        connection.notifications(0);
      } catch (...) {
        // A connection that cannot UNLISTEN is lost: the pool drops it.
      }
    }
  } listening{*connection_, channel};
  const std::string seq = std::to_string(++fence_seq_);
  std::set<std::string> waiting = send_fence(channel, seq);
  for (int quiet = 0; !waiting.empty() && quiet < kFenceRounds;) {
    auto answers = connection_->notifications(kFenceRoundMilliseconds);
    if (answers.empty())
      ++quiet;
    for (const auto& answer : answers) {
      const auto space = answer.payload.find(' ');
      if (answer.channel == channel && space != std::string::npos && answer.payload.substr(space + 1) == seq)
        waiting.erase(answer.payload.substr(0, space));
    }
  }
  return waiting.empty();
}

std::vector<Claim> ServiceStore::verified_claims() {
  auto rows = connection_->query(
      fmt::format("SELECT {} FROM claims WHERE state = 'verified' ORDER BY address, account", kClaimColumns));
  return claims_from(*rows);
}

std::vector<Claim> ServiceStore::claims_of(const Identity& account) {
  auto rows = connection_->query(fmt::format("SELECT {} FROM claims WHERE account = ?1 ORDER BY address", kClaimColumns),
                                 {account.str()});
  return claims_from(*rows);
}

std::optional<Claim> ServiceStore::claim_for_token(const std::string& token_hash) {
  auto rows = connection_->query(fmt::format("SELECT {} FROM claims WHERE token_hash = ?1", kClaimColumns),
                                 {token_hash});
  if (!rows->next())
    return std::nullopt;
  return claim_from(*rows);
}

void ServiceStore::put_claim(const Claim& claim, const std::optional<std::string>& token_hash) {
  sql::Transaction transaction(*connection_);
  bump_generation(claim.account);  // the profile's row first, then its claims (the order of every lock)
  connection_->run(
      "INSERT INTO claims (address, account, state, token_hash, claimed_at, expires_at, token_expires_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (address, account) DO UPDATE SET state = excluded.state, token_hash = excluded.token_hash, "
      "claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, "
      "token_expires_at = excluded.token_expires_at",
      {claim.address, claim.account.str(), to_string(claim.state), token_hash, claim.claimed_at, claim.expires_at,
       claim.token_expires_at});
  notify_lookups(LookupMemo::address_payload(claim.address));
  transaction.commit();
}

// The claimants' profiles, then every claim to the address, are locked
// first, each in one order (a publication locks its profile, then its
// claims), so that two claimants confirming at once (two processes) wait
// for each other rather than deadlock; the second then finds its claim
// gone. Every claimant's generation changes: the claim confirmed becomes
// verified, the others are dropped.
bool ServiceStore::confirm_claim(const Claim& claim, TimePoint now) {
  sql::Transaction transaction(*connection_);
  auto claimants = connection_->query(
      fmt::format("SELECT fingerprint FROM accounts WHERE fingerprint IN (SELECT account FROM claims WHERE address = "
                  "?1) ORDER BY fingerprint{}",
                  connection_->lock_rows()),
      {claim.address});
  std::vector<Identity> accounts;
  while (claimants->next())
    accounts.emplace_back(claimants->text(0));
  for (const auto& account : accounts)
    bump_generation(account);
  auto locked = connection_->query(
      fmt::format("SELECT account FROM claims WHERE address = ?1 ORDER BY account{}", connection_->lock_rows()),
      {claim.address});
  while (locked->next()) {
  }
  if (connection_->run("UPDATE claims SET state = 'verified', claimed_at = ?3 WHERE address = ?1 AND account = ?2 "
                       "AND state = 'pending'",
                       {claim.address, claim.account.str(), now}) == 0)
    return false;
  connection_->run("DELETE FROM claims WHERE address = ?1 AND account <> ?2", {claim.address, claim.account.str()});
  notify_lookups(LookupMemo::address_payload(claim.address));
  transaction.commit();
  return true;
}

bool ServiceStore::remove_claim(const std::string& address, const Identity& account) {
  sql::Transaction transaction(*connection_);
  bump_generation(account);
  if (connection_->run("DELETE FROM claims WHERE address = ?1 AND account = ?2", {address, account.str()}) == 0)
    return false;
  notify_lookups(LookupMemo::address_payload(address));
  transaction.commit();
  return true;
}

// Only pending claims, which no lookup serves: no generation changes and
// no notification (a lookup's answer is the same before and after).
void ServiceStore::drop_stale_claims(TimePoint now) {
  connection_->run("DELETE FROM claims WHERE state = 'pending' AND expires_at <= ?1", {now});
}

namespace {

// A bucket of `count` tokens is kept in thousandths (integers: the same
// arithmetic in both databases), refilled by the whole seconds since it was
// last updated, never above full; a bucket untouched for a whole period is
// full. ?2: full (count * 1000), ?3: now, ?4: the period in seconds.
constexpr std::string_view kRefilled =
    "(CASE WHEN ?3 <= rate_buckets.updated THEN rate_buckets.millitokens "
    "WHEN ?3 - rate_buckets.updated >= ?4 THEN ?2 "
    "WHEN rate_buckets.millitokens + (?3 - rate_buckets.updated) * ?2 / ?4 >= ?2 THEN ?2 "
    "ELSE rate_buckets.millitokens + (?3 - rate_buckets.updated) * ?2 / ?4 END)";

constexpr std::int64_t kMilli = 1000;

// The seconds until `needed` thousandths are in a bucket holding `held`.
std::optional<std::chrono::seconds> wait_for(std::int64_t held, std::int64_t needed, const Rate& rate) {
  if (held >= needed)
    return std::nullopt;
  const std::int64_t per_period = static_cast<std::int64_t>(rate.count) * kMilli;
  const std::int64_t seconds = ((needed - held) * rate.period.count() + per_period - 1) / per_period;
  return std::chrono::seconds(std::max<std::int64_t>(1, seconds));
}

}  // namespace

std::optional<std::chrono::seconds> ServiceStore::take_tokens(const std::string& key, const Rate& rate, TimePoint now,
                                                              std::uint32_t cost, bool force) {
  if (rate.count == 0 || (cost == 0 && !force))
    return std::nullopt;
  const std::int64_t full = static_cast<std::int64_t>(rate.count) * kMilli;
  const std::int64_t needed = force ? 0 : std::min<std::int64_t>(cost, rate.count) * kMilli;
  const auto period = static_cast<std::int64_t>(rate.period.count());
  // One statement, one round trip: a new bucket is full, so it admits;
  // an existing one is refilled and taken from with its row locked from
  // reading to writing, so requests to every process on the database take
  // from the same bucket.
  auto rows = connection_->query(
      fmt::format("INSERT INTO rate_buckets (key, millitokens, updated, admitted) VALUES (?1, ?2 - ?6, ?3, 1) "
                  "ON CONFLICT (key) DO UPDATE SET millitokens = {0} - CASE WHEN {0} >= ?5 THEN ?6 ELSE 0 END, "
                  "admitted = CASE WHEN {0} >= ?5 THEN 1 ELSE 0 END, "
                  "updated = CASE WHEN ?3 > rate_buckets.updated THEN ?3 ELSE rate_buckets.updated END "
                  "RETURNING millitokens, admitted",
                  kRefilled),
      {key, full, now, period, needed, static_cast<std::int64_t>(cost) * kMilli});
  if (!rows->next())
    throw Error(ErrorCode::Internal, "a rate limit's bucket was not written");
  if (rows->integer(1) == 1)
    return std::nullopt;
  return wait_for(rows->integer(0), needed, rate);
}

std::optional<std::chrono::seconds> ServiceStore::tokens_wait(const std::string& key, const Rate& rate, TimePoint now,
                                                              std::uint32_t cost) {
  if (rate.count == 0 || cost == 0)
    return std::nullopt;
  const std::int64_t full = static_cast<std::int64_t>(rate.count) * kMilli;
  auto rows = connection_->query(fmt::format("SELECT {} FROM rate_buckets WHERE key = ?1", kRefilled),
                                 {key, full, now, static_cast<std::int64_t>(rate.period.count())});
  if (!rows->next())
    return std::nullopt;  // no bucket: a full one
  return wait_for(rows->integer(0), std::min<std::int64_t>(cost, rate.count) * kMilli, rate);
}

void ServiceStore::forget_buckets(TimePoint before) {
  connection_->run("DELETE FROM rate_buckets WHERE updated < ?1", {before});
}

}  // namespace mailseal::service

namespace mailseal::service {

std::int64_t ServiceStore::queue_mail(const Claim& claim, const std::string& token_hash, const OutgoingMail& mail,
                                      TimePoint now) {
  auto rows = connection_->query(
      "INSERT INTO outbox (account, address, reverse_path, message, token_hash, state, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6) RETURNING id",
      {claim.account.str(), claim.address, mail.reverse_path, mail.message, token_hash, now});
  if (!rows->next())
    throw Error(ErrorCode::Internal, "a challenge mail was not queued");
  return rows->integer(0);
}

void ServiceStore::mail_sent(std::int64_t id) {
  connection_->run("DELETE FROM outbox WHERE id = ?1 AND state = 'queued'", {id});
}

void ServiceStore::mail_failed(std::int64_t id, const std::string& error, TimePoint now) {
  sql::Transaction transaction(*connection_);
  // The link was never delivered: it expires now, so that the profile's
  // next publication mails a new one (claims.h, on_publish). Only this
  // mail's token: a newer challenge for the claim stays.
  connection_->run(
      "UPDATE claims SET token_expires_at = ?2 WHERE state = 'pending' AND token_hash = "
      "(SELECT token_hash FROM outbox WHERE id = ?1 AND state = 'queued')",
      {id, now});
  connection_->run("UPDATE outbox SET state = 'failed', message = '', error = ?2 WHERE id = ?1 AND state = 'queued'",
                   {id, error});
  transaction.commit();
}

void ServiceStore::fail_abandoned_mails(TimePoint cutoff, TimePoint now) {
  auto rows = connection_->query("SELECT id FROM outbox WHERE state = 'queued' AND created_at <= ?1", {cutoff});
  std::vector<std::int64_t> abandoned;
  while (rows->next())
    abandoned.push_back(rows->integer(0));
  for (std::int64_t id : abandoned)
    mail_failed(id, "the service stopped before it sent the mail", now);
}

void ServiceStore::forget_mail_failures(const Identity& account) {
  connection_->run("DELETE FROM outbox WHERE account = ?1 AND state = 'failed'", {account.str()});
}

}  // namespace mailseal::service
