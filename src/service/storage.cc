#include "service/storage.h"

#include <sys/stat.h>

#include <array>

#include <fmt/format.h>

#include "mailseal/common/error.h"

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

// Step i brings a database from schema version i to i + 1 (step 0 makes it).
constexpr std::array<std::string_view, 3> kSchemaSteps = {kSchemaV1, kSchemaV2, kSchemaV3};
constexpr auto kSchemaVersion = static_cast<std::int64_t>(kSchemaSteps.size());

store::Database open_database(const std::filesystem::path& path) {
  // Nothing secret is stored, but nothing is anybody else's business either.
  const mode_t previous = ::umask(077);
  try {
    store::Database database = store::Database::open(path, store::OpenMode::ReadWriteCreate);
    ::umask(previous);
    return database;
  } catch (...) {
    ::umask(previous);
    throw;
  }
}

}  // namespace

ServiceStore::ServiceStore(const std::filesystem::path& path) : database_(open_database(path)) {
  database_.execute("PRAGMA journal_mode = WAL;");
  std::int64_t version = database_.user_version();
  if (version < 0 || version > kSchemaVersion) {
    throw Error(ErrorCode::Unsupported,
                fmt::format("the service database was made by a newer mailseal (schema {}, this one reads {})", version,
                            kSchemaVersion),
                "upgrade mailseal");
  }
  // One version per transaction, so an interrupted upgrade leaves a
  // consistent database. The version is read again inside each: several
  // processes (serve --reuse-port) may open a new database at once, and
  // only the first to take the write lock upgrades it.
  for (; version < kSchemaVersion; ++version) {
    store::Transaction transaction(database_);
    version = database_.user_version();
    if (version >= kSchemaVersion)
      break;
    database_.execute(kSchemaSteps[static_cast<std::size_t>(version)]);
    database_.set_user_version(version + 1);
    transaction.commit();
  }
}

namespace {

AccountRecord account_from(store::Statement& statement) {
  AccountRecord out{Identity(statement.column_text(0)),
                    statement.column_blob(1),
                    statement.column_text(2),
                    std::nullopt,
                    std::nullopt,
                    statement.column_time(5)};
  if (!statement.column_is_null(3))
    out.escrow = statement.column_blob(3);
  if (!statement.column_is_null(4))
    out.escrow_id = statement.column_text(4);
  return out;
}

constexpr std::string_view kAccountColumns = "fingerprint, root, document, escrow, escrow_id, updated_at";

}  // namespace

std::optional<AccountRecord> ServiceStore::account(const Identity& fingerprint) {
  // Every lookup's queries are kept compiled (cached).
  auto cached = database_.cached(fmt::format("SELECT {} FROM accounts WHERE fingerprint = ?1", kAccountColumns));
  store::Statement& statement = cached.statement();
  statement.bind(1, fingerprint.str());
  if (!statement.step())
    return std::nullopt;
  return account_from(statement);
}

std::optional<AccountRecord> ServiceStore::account_for_escrow(const std::string& escrow_id) {
  auto statement = database_.prepare(fmt::format("SELECT {} FROM accounts WHERE escrow_id = ?1", kAccountColumns));
  statement.bind(1, escrow_id);
  if (!statement.step())
    return std::nullopt;
  return account_from(statement);
}

void ServiceStore::save_account(const AccountRecord& account, const std::vector<StoredDevice>& devices) {
  store::Transaction transaction(database_);
  auto upsert = database_.prepare(
      "INSERT INTO accounts (fingerprint, root, document, escrow, escrow_id, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?6, ?5) "
      "ON CONFLICT (fingerprint) DO UPDATE SET document = excluded.document, "
      "escrow = COALESCE(excluded.escrow, accounts.escrow), "
      "escrow_id = COALESCE(excluded.escrow_id, accounts.escrow_id), updated_at = excluded.updated_at");
  upsert.bind(1, account.fingerprint.str()).bind(2, account.root).bind(3, account.document).bind(5, account.updated_at);
  if (account.escrow && account.escrow_id) {
    upsert.bind(4, *account.escrow).bind(6, *account.escrow_id);
  } else {
    upsert.bind_null(4).bind_null(6);
  }
  upsert.run();
  database_.prepare("DELETE FROM devices WHERE account = ?1").bind(1, account.fingerprint.str()).run();
  for (const auto& device : devices) {
    database_.prepare("INSERT INTO devices (account, device_id, signature_certificate, status) VALUES (?1, ?2, ?3, ?4)")
        .bind(1, account.fingerprint.str())
        .bind(2, device.device_id.str())
        .bind(3, device.signature_certificate)
        .bind(4, device.status)
        .run();
  }
  transaction.commit();
}

std::optional<StoredDevice> ServiceStore::device(const Identity& account, const DeviceId& device_id) {
  auto statement =
      database_.prepare("SELECT signature_certificate, status FROM devices WHERE account = ?1 AND device_id = ?2");
  statement.bind(1, account.str()).bind(2, device_id.str());
  if (!statement.step())
    return std::nullopt;
  return StoredDevice{device_id, statement.column_blob(0), statement.column_text(1)};
}

bool ServiceStore::remember_nonce(const std::string& key, const std::string& nonce, TimePoint now, TimePoint horizon) {
  store::Transaction transaction(database_);
  database_.prepare("DELETE FROM nonces WHERE seen_at < ?1").bind(1, horizon).run();
  database_.prepare("INSERT OR IGNORE INTO nonces (key, nonce, seen_at) VALUES (?1, ?2, ?3)")
      .bind(1, key)
      .bind(2, nonce)
      .bind(3, now)
      .run();
  bool fresh = database_.changes() > 0;
  transaction.commit();
  return fresh;
}

void ServiceStore::add_request(const JoinRequestRecord& request, JoinLane lane) {
  database_
      .prepare(
          "INSERT INTO requests (id, account, document, signature_key, status, created_at, pin_bound) "
          "VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)")
      .bind(1, request.id.str())
      .bind(2, request.account.str())
      .bind(3, request.document)
      .bind(4, request.signature_key)
      .bind(5, request.created_at)
      .bind(6, static_cast<std::int64_t>(lane == JoinLane::Pin ? 1 : 0))
      .run();
}

void ServiceStore::evict_oldest_requests(const Identity& account, std::size_t count) {
  if (count == 0)
    return;
  database_
      .prepare(
          "UPDATE requests SET status = 'rejected' WHERE id IN (SELECT id FROM requests WHERE account = ?1 AND "
          "status = 'pending' AND pin_bound = 0 ORDER BY created_at, rowid LIMIT ?2)")
      .bind(1, account.str())
      .bind(2, static_cast<std::int64_t>(count))
      .run();
}

void ServiceStore::expire_requests(TimePoint cutoff) {
  database_.prepare("UPDATE requests SET status = 'rejected' WHERE status = 'pending' AND created_at <= ?1")
      .bind(1, cutoff)
      .run();
}

std::vector<RequestId> ServiceStore::reject_pending(const Identity& account) {
  store::Transaction transaction(database_);
  std::vector<RequestId> out;
  auto statement = database_.prepare("SELECT id FROM requests WHERE account = ?1 AND status = 'pending'");
  statement.bind(1, account.str());
  while (statement.step())
    out.emplace_back(statement.column_text(0));
  database_.prepare("UPDATE requests SET status = 'rejected' WHERE account = ?1 AND status = 'pending'")
      .bind(1, account.str())
      .run();
  transaction.commit();
  return out;
}

namespace {

JoinRequestRecord request_from(store::Statement& statement) {
  JoinRequestRecord out{RequestId(statement.column_text(0)),
                        Identity(statement.column_text(1)),
                        statement.column_text(2),
                        statement.column_blob(3),
                        statement.column_text(4),
                        std::nullopt,
                        statement.column_time(6)};
  if (!statement.column_is_null(5))
    out.bundle = statement.column_blob(5);
  return out;
}

constexpr std::string_view kRequestColumns = "id, account, document, signature_key, status, bundle, created_at";

}  // namespace

std::optional<JoinRequestRecord> ServiceStore::request(const RequestId& id) {
  auto statement =
      database_.prepare(std::string("SELECT ") + std::string(kRequestColumns) + " FROM requests WHERE id = ?1");
  statement.bind(1, id.str());
  if (!statement.step())
    return std::nullopt;
  return request_from(statement);
}

std::vector<JoinRequestRecord> ServiceStore::pending_requests(const Identity& account) {
  auto statement = database_.prepare(std::string("SELECT ") + std::string(kRequestColumns) +
                                     " FROM requests WHERE account = ?1 AND status = 'pending' ORDER BY created_at");
  statement.bind(1, account.str());
  std::vector<JoinRequestRecord> out;
  while (statement.step())
    out.push_back(request_from(statement));
  return out;
}

int ServiceStore::pending_count(const Identity& account, JoinLane lane) {
  auto statement = database_.prepare(
      "SELECT COUNT(*) FROM requests WHERE account = ?1 AND status = 'pending' AND pin_bound = ?2");
  statement.bind(1, account.str()).bind(2, static_cast<std::int64_t>(lane == JoinLane::Pin ? 1 : 0));
  statement.step();
  return static_cast<int>(statement.column_int(0));
}

bool ServiceStore::decide(const RequestId& id, const std::string& status, const std::string& document,
                          const std::optional<Bytes>& bundle) {
  auto statement = database_.prepare(
      "UPDATE requests SET status = ?2, bundle = ?3, document = ?4 WHERE id = ?1 AND status = 'pending'");
  statement.bind(1, id.str()).bind(2, status).bind(4, document);
  if (bundle)
    statement.bind(3, *bundle);
  else
    statement.bind_null(3);
  statement.run();
  return database_.changes() > 0;
}

void ServiceStore::add_invite(const std::string& pin_id, const Identity& account, TimePoint expires_at) {
  database_.prepare("INSERT INTO invites (pin_id, account, expires_at) VALUES (?1, ?2, ?3)")
      .bind(1, pin_id)
      .bind(2, account.str())
      .bind(3, expires_at)
      .run();
}

int ServiceStore::open_invites(const Identity& account, TimePoint now) {
  auto statement =
      database_.prepare("SELECT COUNT(*) FROM invites WHERE account = ?1 AND used_at IS NULL AND expires_at > ?2");
  statement.bind(1, account.str()).bind(2, now);
  statement.step();
  return static_cast<int>(statement.column_int(0));
}

InviteUse ServiceStore::use_invite(const std::string& pin_id, const Identity& account, TimePoint now) {
  store::Transaction transaction(database_);
  auto statement = database_.prepare("SELECT account, expires_at, used_at FROM invites WHERE pin_id = ?1");
  statement.bind(1, pin_id);
  if (!statement.step() || Identity(statement.column_text(0)) != account)
    return InviteUse::Unknown;
  if (!statement.column_is_null(2))
    return InviteUse::Used;
  if (statement.column_time(1) <= now)
    return InviteUse::Expired;
  database_.prepare("UPDATE invites SET used_at = ?2 WHERE pin_id = ?1").bind(1, pin_id).bind(2, now).run();
  transaction.commit();
  return InviteUse::Accepted;
}

void ServiceStore::put_bundle(const Identity& account, const DeviceId& device_id, ByteView bundle, TimePoint now) {
  database_
      .prepare(
          "INSERT INTO bundles (account, device_id, bundle, updated_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (account, device_id) DO UPDATE SET bundle = excluded.bundle, updated_at = excluded.updated_at")
      .bind(1, account.str())
      .bind(2, device_id.str())
      .bind(3, bundle)
      .bind(4, now)
      .run();
}

std::optional<Bytes> ServiceStore::bundle(const Identity& account, const DeviceId& device_id) {
  auto statement = database_.prepare("SELECT bundle FROM bundles WHERE account = ?1 AND device_id = ?2");
  statement.bind(1, account.str()).bind(2, device_id.str());
  if (!statement.step())
    return std::nullopt;
  return statement.column_blob(0);
}

namespace {

constexpr std::string_view kClaimColumns = "address, account, state, claimed_at, expires_at, token_expires_at";

Claim claim_from(store::Statement& statement) {
  auto state = claim_state_from(statement.column_text(2));
  if (!state)
    throw Error(ErrorCode::Internal, "a claim in the service database has an unknown state");
  return Claim{statement.column_text(0), Identity(statement.column_text(1)), *state,
               statement.column_time(3), statement.column_time(4),           statement.column_time(5)};
}

}  // namespace

std::vector<Claim> ServiceStore::claims(const std::string& address) {
  auto cached =
      database_.cached(fmt::format("SELECT {} FROM claims WHERE address = ?1 ORDER BY claimed_at, account", kClaimColumns));
  store::Statement& statement = cached.statement();
  statement.bind(1, address);
  std::vector<Claim> out;
  while (statement.step())
    out.push_back(claim_from(statement));
  return out;
}

std::vector<Claim> ServiceStore::claims_of(const Identity& account) {
  auto cached = database_.cached(fmt::format("SELECT {} FROM claims WHERE account = ?1 ORDER BY address", kClaimColumns));
  store::Statement& statement = cached.statement();
  statement.bind(1, account.str());
  std::vector<Claim> out;
  while (statement.step())
    out.push_back(claim_from(statement));
  return out;
}

std::optional<Claim> ServiceStore::claim_for_token(const std::string& token_hash) {
  auto statement = database_.prepare(fmt::format("SELECT {} FROM claims WHERE token_hash = ?1", kClaimColumns));
  statement.bind(1, token_hash);
  if (!statement.step())
    return std::nullopt;
  return claim_from(statement);
}

void ServiceStore::put_claim(const Claim& claim, const std::optional<std::string>& token_hash) {
  auto statement = database_.prepare(
      "INSERT INTO claims (address, account, state, token_hash, claimed_at, expires_at, token_expires_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
      "ON CONFLICT (address, account) DO UPDATE SET state = excluded.state, token_hash = excluded.token_hash, "
      "claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, "
      "token_expires_at = excluded.token_expires_at");
  statement.bind(1, claim.address)
      .bind(2, claim.account.str())
      .bind(3, std::string(to_string(claim.state)))
      .bind(5, claim.claimed_at)
      .bind(6, claim.expires_at)
      .bind(7, claim.token_expires_at);
  if (token_hash)
    statement.bind(4, *token_hash);
  else
    statement.bind_null(4);
  statement.run();
}

void ServiceStore::confirm_claim(const Claim& claim, TimePoint now) {
  store::Transaction transaction(database_);
  database_.prepare("UPDATE claims SET state = 'verified', claimed_at = ?3 WHERE address = ?1 AND account = ?2")
      .bind(1, claim.address)
      .bind(2, claim.account.str())
      .bind(3, now)
      .run();
  database_.prepare("DELETE FROM claims WHERE address = ?1 AND account <> ?2")
      .bind(1, claim.address)
      .bind(2, claim.account.str())
      .run();
  transaction.commit();
}

bool ServiceStore::remove_claim(const std::string& address, const Identity& account) {
  database_.prepare("DELETE FROM claims WHERE address = ?1 AND account = ?2")
      .bind(1, address)
      .bind(2, account.str())
      .run();
  return database_.changes() > 0;
}

void ServiceStore::drop_stale_claims(TimePoint now) {
  database_.prepare("DELETE FROM claims WHERE state = 'pending' AND expires_at <= ?1").bind(1, now).run();
}

}  // namespace mailseal::service
