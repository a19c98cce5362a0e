#include <array>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/store/local_store.h"
#include "store/internal/schema.h"

namespace mailseal::store::internal {

namespace {

// Schema version 1. Certificates are DER blobs; fingerprints are UDF
// presentations at full precision; times are Unix seconds.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE profile (
  id               INTEGER PRIMARY KEY CHECK (id = 1),
  fingerprint      TEXT NOT NULL,
  name             TEXT NOT NULL,
  suite            TEXT NOT NULL CHECK (suite IN ('compat', 'modern')),
  root_certificate BLOB NOT NULL,
  root_key_file    TEXT NOT NULL,
  keys_encrypted   INTEGER NOT NULL CHECK (keys_encrypted IN (0, 1)),
  created_at       INTEGER NOT NULL
);
CREATE TABLE addresses (
  address  TEXT PRIMARY KEY,
  position INTEGER NOT NULL
);
CREATE TABLE devices (
  device_id             TEXT PRIMARY KEY,
  name                  TEXT NOT NULL,
  role                  TEXT NOT NULL CHECK (role IN ('admin', 'full', 'read')),
  status                TEXT NOT NULL CHECK (status IN ('active', 'removed')),
  is_self               INTEGER NOT NULL CHECK (is_self IN (0, 1)),
  signature_certificate BLOB NOT NULL,
  agreement_certificate BLOB NOT NULL,
  signature_key_file    TEXT NOT NULL DEFAULT '',
  agreement_key_file    TEXT NOT NULL DEFAULT '',
  created_at            INTEGER NOT NULL
);
CREATE TABLE mail_keys (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  address         TEXT NOT NULL,
  purpose         TEXT NOT NULL CHECK (purpose IN ('signing', 'encryption', 'both')),
  status          TEXT NOT NULL CHECK (status IN ('current', 'archived')),
  origin          TEXT NOT NULL CHECK (origin IN ('profile', 'imported')),
  certificate     BLOB NOT NULL UNIQUE,
  key_file        TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX mail_keys_by_address ON mail_keys (address);
CREATE TABLE mail_key_chain (
  mail_key_id INTEGER NOT NULL REFERENCES mail_keys (id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  certificate BLOB NOT NULL,
  PRIMARY KEY (mail_key_id, position)
);
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql";

// Schema version 2: contacts (correspondents' certificates).
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE contact_certificates (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  address         TEXT NOT NULL,
  certificate     BLOB NOT NULL,
  fingerprint     TEXT NOT NULL,
  key_fingerprint TEXT NOT NULL,
  capabilities    TEXT NOT NULL DEFAULT '',
  source          TEXT NOT NULL,
  first_seen      INTEGER NOT NULL,
  last_seen       INTEGER NOT NULL,
  UNIQUE (address, fingerprint)
);
CREATE INDEX contact_certificates_by_address ON contact_certificates (address);
CREATE TABLE contact_chain_certificates (
  certificate BLOB PRIMARY KEY,
  added_at    INTEGER NOT NULL
);
)sql";

// Schema version 3: trust evidence. Identities are UDF fingerprints (full
// precision) of the key at the top of a certificate chain.
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE identities (
  fingerprint TEXT PRIMARY KEY,
  certificate BLOB NOT NULL,
  first_seen  INTEGER NOT NULL
);
CREATE TABLE pins (
  address     TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('pin', 'accept')),
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (address, fingerprint, kind)
);
CREATE TABLE observations (
  address     TEXT NOT NULL,
  identity    TEXT NOT NULL,
  certificate TEXT NOT NULL,
  source      TEXT NOT NULL,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  last_day    INTEGER NOT NULL,
  days        INTEGER NOT NULL,
  messages    INTEGER NOT NULL,
  PRIMARY KEY (address, identity)
);
-- Messages already learned from (a digest of the message), so a replayed
-- message adds nothing to an observation's history.
CREATE TABLE learned_messages (
  digest     TEXT PRIMARY KEY,
  learned_at INTEGER NOT NULL
);
CREATE TABLE endorsements (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  issuer      TEXT NOT NULL,
  subject     TEXT NOT NULL,
  amount      INTEGER NOT NULL,
  depth       INTEGER NOT NULL,
  scope       TEXT NOT NULL DEFAULT '',
  addresses   TEXT NOT NULL DEFAULT '',
  kind        TEXT NOT NULL CHECK (kind IN ('endorsement', 'rotation')),
  exportable  INTEGER NOT NULL CHECK (exportable IN (0, 1)),
  certificate BLOB NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL
);
CREATE INDEX endorsements_by_issuer ON endorsements (issuer);
CREATE INDEX endorsements_by_subject ON endorsements (subject);
CREATE TABLE trust_anchors (
  fingerprint TEXT PRIMARY KEY,
  certificate BLOB NOT NULL,
  amount      INTEGER NOT NULL,
  added_at    INTEGER NOT NULL
);
CREATE TABLE revocations (
  issuer     TEXT NOT NULL,
  serial     TEXT NOT NULL,
  source     TEXT NOT NULL,
  revoked_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, serial)
);
CREATE TABLE discoveries (
  address  TEXT NOT NULL,
  identity TEXT NOT NULL,
  source   TEXT NOT NULL,
  seen_at  INTEGER NOT NULL,
  PRIMARY KEY (address, identity)
);
)sql";

// Schema version 4: devices joining by invitation, and the seed the profile
// root is derived from (admin devices; recovery splits it into shares).
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE invites (
  pin_id     TEXT PRIMARY KEY,
  mac_key    BLOB NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('full', 'read')),
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  created_at INTEGER NOT NULL
);
ALTER TABLE profile ADD COLUMN root_seed_file TEXT NOT NULL DEFAULT '';
)sql";

// Schema version 5: the gateway's credentials (SMTP AUTH). Only a SHA-256
// hash of each random secret is kept; `addresses` lists the From addresses
// the credential may sign for, comma-separated, empty for all of the
// profile's.
constexpr std::string_view kSchemaV5 = R"sql(
CREATE TABLE gateway_credentials (
  name        TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL,
  addresses   TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL
);
)sql";

// Schema version 6: the mail clients set up on this device (`setup
// thunderbird`, `setup mutt`), which `sync` keeps current. `state` is a
// digest of the keys and trust last put there.
constexpr std::string_view kSchemaV6 = R"sql(
CREATE TABLE client_setups (
  kind      TEXT NOT NULL,
  location  TEXT NOT NULL,
  state     TEXT NOT NULL,
  set_up_at INTEGER NOT NULL,
  PRIMARY KEY (kind, location)
);
)sql";

// Schema version 7: trust records that follow the person (docs/service.md,
// "Trust records"). `records_keys`: the profile's symmetric records keys (the
// secret in a 0600 key file). `trust_outbox`: what this device decided or
// learned and has not yet written into its log, by kind and a reference to
// the row (written in the same transaction as the row). `own_records`: this
// device's log as sealed, until the service has it and after. `record_positions`:
// the highest record merged from each device (this one included), its hash
// and lamport time. `record_decisions`: every decision about an address's
// binding merged or written (device, seq, lamport, what was decided, the
// frontier of the record), from which conflicts are judged;
// `record_conflicts`: the addresses decided differently on two devices.
// Their `address` column holds a decision's subject (store::pin_subject,
// anchor_subject, endorsement_subject): an address, "anchor:FINGERPRINT"
// or "endorsement:ISSUER:SUBJECT"; an address is its own subject, so the
// rows written before anchors and endorsements were ordered still read.
constexpr std::string_view kSchemaV7 = R"sql(
CREATE TABLE records_keys (
  key_id     TEXT PRIMARY KEY,
  key_file   TEXT NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('current', 'archived')),
  created_at INTEGER NOT NULL
);
CREATE TABLE trust_outbox (
  id   INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  ref  TEXT NOT NULL,
  UNIQUE (kind, ref)
);
CREATE TABLE own_records (
  seq      INTEGER PRIMARY KEY,
  sealed   BLOB NOT NULL,
  uploaded INTEGER NOT NULL CHECK (uploaded IN (0, 1))
);
CREATE TABLE record_positions (
  device_id TEXT PRIMARY KEY,
  seq       INTEGER NOT NULL,
  hash      BLOB NOT NULL,
  lamport   INTEGER NOT NULL
);
CREATE TABLE record_decisions (
  address   TEXT NOT NULL,
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  lamport   INTEGER NOT NULL,
  value     TEXT NOT NULL,
  frontier  TEXT NOT NULL,
  PRIMARY KEY (address, device_id, seq)
);
CREATE TABLE record_conflicts (
  address  TEXT PRIMARY KEY,
  device_a TEXT NOT NULL,
  value_a  TEXT NOT NULL,
  device_b TEXT NOT NULL,
  value_b  TEXT NOT NULL
);
)sql";

// Schema version 8: whether the key service a discovery came from said it
// verified the address (docs/trust.md, "Discovery"). Discoveries recorded
// before are taken as unverified: nothing said otherwise.
constexpr std::string_view kSchemaV8 = R"sql(
ALTER TABLE discoveries ADD COLUMN verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1));
)sql";

// Schema version 9: the lamport time of every trust record merged or
// written, by device and number (docs/service.md, "The clock"), so that a
// record naming an older record is held to its exact time on every device
// that merged it, never to bounds (review of issue 14, finding 4). A store
// from before knows the times of the records that carried a decision and of
// the last record of each device; `sync` asks the service once for the
// other records before the positions and takes their times.
constexpr std::string_view kSchemaV9 = R"sql(
CREATE TABLE record_times (
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  lamport   INTEGER NOT NULL,
  PRIMARY KEY (device_id, seq)
);
INSERT OR IGNORE INTO record_times (device_id, seq, lamport)
  SELECT device_id, seq, lamport FROM record_decisions;
INSERT OR IGNORE INTO record_times (device_id, seq, lamport)
  SELECT device_id, seq, lamport FROM record_positions WHERE seq > 0 AND lamport > 0;
)sql";

// Schema version 10: frontier proofs (docs/service.md, "Frontier proofs"):
// the head statement signature and digest of every record of version 2
// merged here, by device and number: this device's next record carries the
// one its frontier entry names, and a proof naming a record merged here is
// held to its digest. A record of version 1 has none: an entry naming it
// goes without a proof, as before.
constexpr std::string_view kSchemaV10 = R"sql(
CREATE TABLE record_head_proofs (
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  digest    BLOB NOT NULL,
  signature BLOB NOT NULL,
  PRIMARY KEY (device_id, seq)
);
)sql";

// Schema version 11: since when the first record of another device's log
// that waits here has waited (docs/service.md, "A wait without end"), so
// that a wait no key bundle ends is told from one not over yet across
// syncs. A store from before knows of no wait: each starts at its next sync.
constexpr std::string_view kSchemaV11 = R"sql(
CREATE TABLE record_waits (
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  since     INTEGER NOT NULL,
  PRIMARY KEY (device_id, seq)
);
)sql";

// Schema version 12: the cut a removal names (docs/security.md, "The cut"):
// the number and sealed-record hash of the last record of the removed
// device that the removing admin device accepted. NULL for active devices
// and for removals made before: their records not merged are refused, as
// before.
constexpr std::string_view kSchemaV12 = R"sql(
ALTER TABLE devices ADD COLUMN removal_cut_seq INTEGER;
ALTER TABLE devices ADD COLUMN removal_cut_hash BLOB;
)sql";

// Schema version 13: taking back what a removed device's records past its
// removal's cut decided (docs/security.md, "The cut"). `changes`: the
// changes that made each decision, so that an earlier decision about the
// same target can be applied again whole (a pin's kind, an anchor's
// certificate, an endorsement); NULL for decisions noted before.
// `record_hashes`: the hash of every record merged or written, so that a
// device tells whether the record it merged under a cut's number is the
// cut's. A store from before knows neither for what it merged before.
constexpr std::string_view kSchemaV13 = R"sql(
ALTER TABLE record_decisions ADD COLUMN changes TEXT;
CREATE TABLE record_hashes (
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  hash      BLOB NOT NULL,
  PRIMARY KEY (device_id, seq)
);
)sql";

// Step i brings a store from schema version i to i + 1 (step 0 makes it).
constexpr std::array<std::string_view, 13> kSchemaSteps = {kSchemaV1,  kSchemaV2,  kSchemaV3, kSchemaV4, kSchemaV5,
                                                           kSchemaV6,  kSchemaV7,  kSchemaV8, kSchemaV9, kSchemaV10,
                                                           kSchemaV11, kSchemaV12, kSchemaV13};
static_assert(kSchemaSteps.size() == kSchemaVersion, "a step for every schema version");

}  // namespace

void create_schema(Database& database) {
  for (std::string_view step : kSchemaSteps)
    database.execute(step);
  database.set_user_version(kSchemaVersion);
}

void check_schema(Database& database) {
  std::int64_t version = database.user_version();
  if (version > kSchemaVersion) {
    throw Error(ErrorCode::Unsupported,
                fmt::format("the store was written by a newer mailseal (schema {}, this one reads {})", version,
                            kSchemaVersion),
                "upgrade mailseal");
  }
  if (version < 1)
    throw Error(ErrorCode::Malformed, fmt::format("the store has an unknown schema version {}", version));
  // An older store gains what later versions added, one version per
  // transaction, so an interrupted upgrade leaves a consistent store.
  for (; version < kSchemaVersion; ++version) {
    Transaction transaction(database);
    database.execute(kSchemaSteps[static_cast<std::size_t>(version)]);
    database.set_user_version(version + 1);
    transaction.commit();
  }
}

}  // namespace mailseal::store::internal
