#include "mailseal/store/trust_sync.h"

#include <algorithm>

#include <fmt/format.h>

namespace mailseal::store {

namespace {

constexpr std::string_view kAnchorPrefix = "anchor:";
constexpr std::string_view kEndorsementPrefix = "endorsement:";

}  // namespace

std::string pin_subject(const EmailAddress& address) {
  return address.str();
}

std::string anchor_subject(std::string_view fingerprint) {
  return std::string(kAnchorPrefix) + std::string(fingerprint);
}

std::string endorsement_subject(const Identity& issuer, const Identity& subject) {
  return std::string(kEndorsementPrefix) + issuer.str() + ":" + subject.str();
}

std::optional<EmailAddress> subject_address(const std::string& subject) {
  if (subject.starts_with(kAnchorPrefix) || subject.starts_with(kEndorsementPrefix))
    return std::nullopt;
  return EmailAddress::parse(subject);
}

std::optional<std::string> subject_anchor(const std::string& subject) {
  if (!subject.starts_with(kAnchorPrefix))
    return std::nullopt;
  return subject.substr(kAnchorPrefix.size());
}

// Identities are UDF presentations: letters, digits and '-', never ':'.
std::optional<EndorsementSubject> subject_endorsement(const std::string& subject) {
  if (!subject.starts_with(kEndorsementPrefix))
    return std::nullopt;
  const std::string rest = subject.substr(kEndorsementPrefix.size());
  const std::size_t colon = rest.find(':');
  if (colon == std::string::npos)
    return std::nullopt;
  return EndorsementSubject{Identity(rest.substr(0, colon)), Identity(rest.substr(colon + 1))};
}

void enqueue_trust_change(Database& database, std::string_view kind, std::string_view ref) {
  database.prepare("INSERT OR IGNORE INTO trust_outbox (kind, ref) VALUES (?1, ?2)").bind(1, kind).bind(2, ref).run();
}

void enqueue_decision(Database& database, std::string_view kind, std::string_view ref) {
  database.prepare("DELETE FROM trust_outbox WHERE kind = ?1 AND ref = ?2").bind(1, kind).bind(2, ref).run();
  enqueue_trust_change(database, kind, ref);
}

std::vector<OutboxEntry> TrustSync::outbox() {
  auto statement = database_.prepare("SELECT id, kind, ref FROM trust_outbox ORDER BY id");
  std::vector<OutboxEntry> out;
  while (statement.step())
    out.push_back({statement.column_int(0), statement.column_text(1), statement.column_text(2)});
  return out;
}

std::int64_t TrustSync::outbox_mark() {
  auto statement = database_.prepare("SELECT COALESCE(MAX(id), 0) FROM trust_outbox");
  statement.step();
  return statement.column_int(0);
}

void TrustSync::discard_outbox(std::int64_t after, std::int64_t up_to) {
  database_.prepare("DELETE FROM trust_outbox WHERE id > ?1 AND id <= ?2").bind(1, after).bind(2, up_to).run();
}

void TrustSync::add_records_key(const RecordsKeyRecord& key, const KeyFile& file) {
  store_.write_key_file(file);
  Transaction transaction(database_);
  if (key.status == KeyStatus::Current)
    database_.prepare("UPDATE records_keys SET status = 'archived'").run();
  database_
      .prepare(
          "INSERT INTO records_keys (key_id, key_file, status, created_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (key_id) DO UPDATE SET status = ?3")
      .bind(1, key.key_id)
      .bind(2, file.name)
      .bind(3, to_string(key.status))
      .bind(4, key.created_at)
      .run();
  transaction.commit();
}

void TrustSync::set_records_key_status(const std::string& key_id, KeyStatus status) {
  database_.prepare("UPDATE records_keys SET status = ?2 WHERE key_id = ?1")
      .bind(1, key_id)
      .bind(2, to_string(status))
      .run();
}

std::vector<RecordsKeyRecord> TrustSync::records_keys() {
  auto statement = database_.prepare(
      "SELECT key_id, key_file, status, created_at FROM records_keys "
      "ORDER BY status = 'current' DESC, created_at DESC, key_id");
  std::vector<RecordsKeyRecord> out;
  while (statement.step()) {
    out.push_back({statement.column_text(0), statement.column_text(1), parse_key_status(statement.column_text(2)),
                   statement.column_time(3)});
  }
  return out;
}

void TrustSync::add_own_record(std::int64_t seq, ByteView sealed) {
  database_.prepare("INSERT INTO own_records (seq, sealed, uploaded) VALUES (?1, ?2, 0)")
      .bind(1, seq)
      .bind(2, sealed)
      .run();
}

void TrustSync::mark_uploaded(std::int64_t seq) {
  database_.prepare("UPDATE own_records SET uploaded = 1 WHERE seq = ?1").bind(1, seq).run();
}

std::vector<OwnRecord> TrustSync::own_records() {
  auto statement = database_.prepare("SELECT seq, sealed, uploaded FROM own_records ORDER BY seq");
  std::vector<OwnRecord> out;
  while (statement.step())
    out.push_back({statement.column_int(0), statement.column_blob(1), statement.column_int(2) != 0});
  return out;
}

std::int64_t TrustSync::last_own_record() {
  auto statement = database_.prepare("SELECT COALESCE(MAX(seq), 0) FROM own_records");
  statement.step();
  return statement.column_int(0);
}

std::vector<RecordPosition> TrustSync::positions() {
  auto statement =
      database_.prepare("SELECT device_id, seq, hash, lamport FROM record_positions ORDER BY device_id");
  std::vector<RecordPosition> out;
  while (statement.step()) {
    out.push_back({DeviceId(statement.column_text(0)), statement.column_int(1), statement.column_blob(2),
                   statement.column_int(3)});
  }
  return out;
}

void TrustSync::set_position(const RecordPosition& position) {
  database_
      .prepare(
          "INSERT INTO record_positions (device_id, seq, hash, lamport) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (device_id) DO UPDATE SET seq = ?2, hash = ?3, lamport = ?4")
      .bind(1, position.device_id.str())
      .bind(2, position.seq)
      .bind(3, position.hash)
      .bind(4, position.lamport)
      .run();
  if (!position.hash.empty() && position.seq > 0) {
    database_.prepare("INSERT OR REPLACE INTO record_hashes (device_id, seq, hash) VALUES (?1, ?2, ?3)")
        .bind(1, position.device_id.str())
        .bind(2, position.seq)
        .bind(3, position.hash)
        .run();
  }
  // Positions of read-only devices that older writers kept as 0 are no time.
  if (position.lamport <= 0)
    return;
  add_record_time({position.device_id, position.seq, position.lamport});
}

void TrustSync::rewind_position(const RecordPosition& back_to) {
  Transaction transaction(database_);
  const std::string device = back_to.device_id.str();
  if (back_to.seq <= 0)
    database_.prepare("DELETE FROM record_positions WHERE device_id = ?1").bind(1, device).run();
  else
    set_position(back_to);
  for (const char* table : {"record_hashes", "record_head_proofs"}) {
    database_.prepare(fmt::format("DELETE FROM {} WHERE device_id = ?1 AND seq > ?2", table))
        .bind(1, device)
        .bind(2, std::max<std::int64_t>(back_to.seq, 0))
        .run();
  }
  transaction.commit();
}

std::optional<Bytes> TrustSync::record_hash(const DeviceId& device, std::int64_t seq) {
  auto statement = database_.prepare("SELECT hash FROM record_hashes WHERE device_id = ?1 AND seq = ?2");
  statement.bind(1, device.str()).bind(2, seq);
  if (!statement.step())
    return std::nullopt;
  return statement.column_blob(0);
}

std::optional<HeadProofRecord> TrustSync::head_proof(const DeviceId& device, std::int64_t seq) {
  auto statement =
      database_.prepare("SELECT digest, signature FROM record_head_proofs WHERE device_id = ?1 AND seq = ?2");
  statement.bind(1, device.str()).bind(2, seq);
  if (!statement.step())
    return std::nullopt;
  return HeadProofRecord{device, seq, statement.column_blob(0), statement.column_blob(1)};
}

std::optional<std::int64_t> TrustSync::first_head_proof(const DeviceId& device) {
  auto statement = database_.prepare("SELECT MIN(seq) FROM record_head_proofs WHERE device_id = ?1");
  statement.bind(1, device.str());
  if (!statement.step() || statement.column_is_null(0))
    return std::nullopt;
  return statement.column_int(0);
}

void TrustSync::set_head_proof(const HeadProofRecord& proof) {
  database_
      .prepare(
          "INSERT INTO record_head_proofs (device_id, seq, digest, signature) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (device_id, seq) DO UPDATE SET digest = ?3, signature = ?4")
      .bind(1, proof.device_id.str())
      .bind(2, proof.seq)
      .bind(3, proof.digest)
      .bind(4, proof.signature)
      .run();
}

std::vector<RecordTime> TrustSync::record_times() {
  auto statement = database_.prepare("SELECT device_id, seq, lamport FROM record_times ORDER BY device_id, seq");
  std::vector<RecordTime> out;
  while (statement.step())
    out.push_back({DeviceId(statement.column_text(0)), statement.column_int(1), statement.column_int(2)});
  return out;
}

std::optional<std::int64_t> TrustSync::record_time(const DeviceId& device, std::int64_t seq) {
  auto statement = database_.prepare("SELECT lamport FROM record_times WHERE device_id = ?1 AND seq = ?2");
  statement.bind(1, device.str()).bind(2, seq);
  if (!statement.step())
    return std::nullopt;
  return statement.column_int(0);
}

void TrustSync::add_record_time(const RecordTime& time) {
  database_.prepare("INSERT OR REPLACE INTO record_times (device_id, seq, lamport) VALUES (?1, ?2, ?3)")
      .bind(1, time.device_id.str())
      .bind(2, time.seq)
      .bind(3, time.lamport)
      .run();
}

void TrustSync::set_record_waits(const std::vector<RecordWait>& waiting) {
  Transaction transaction(database_);
  for (const auto& kept : record_waits()) {
    const auto same = [&kept](const RecordWait& wait) {
      return wait.device_id == kept.device_id && wait.seq == kept.seq;
    };
    if (std::none_of(waiting.begin(), waiting.end(), same)) {
      database_.prepare("DELETE FROM record_waits WHERE device_id = ?1 AND seq = ?2")
          .bind(1, kept.device_id.str())
          .bind(2, kept.seq)
          .run();
    }
  }
  for (const auto& wait : waiting) {
    database_.prepare("INSERT OR IGNORE INTO record_waits (device_id, seq, since) VALUES (?1, ?2, ?3)")
        .bind(1, wait.device_id.str())
        .bind(2, wait.seq)
        .bind(3, wait.since)
        .run();
  }
  transaction.commit();
}

std::vector<RecordWait> TrustSync::record_waits() {
  auto statement = database_.prepare("SELECT device_id, seq, since FROM record_waits ORDER BY device_id, seq");
  std::vector<RecordWait> out;
  while (statement.step())
    out.push_back({DeviceId(statement.column_text(0)), statement.column_int(1), statement.column_time(2)});
  return out;
}

void TrustSync::add_decision(const DecisionRecord& decision) {
  auto statement = database_.prepare(
      "INSERT OR REPLACE INTO record_decisions (address, device_id, seq, lamport, value, frontier, changes) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  statement.bind(1, decision.subject)
      .bind(2, decision.device_id.str())
      .bind(3, decision.seq)
      .bind(4, decision.lamport)
      .bind(5, decision.value)
      .bind(6, decision.frontier);
  if (decision.changes)
    statement.bind(7, *decision.changes);
  statement.run();
}

namespace {

constexpr std::string_view kDecisionColumns = "address, device_id, seq, lamport, value, frontier, changes";

DecisionRecord read_decision(Statement& statement) {
  DecisionRecord out{statement.column_text(0),
                     DeviceId(statement.column_text(1)),
                     statement.column_int(2),
                     statement.column_int(3),
                     statement.column_text(4),
                     statement.column_text(5),
                     std::nullopt};
  if (!statement.column_is_null(6))
    out.changes = statement.column_text(6);
  return out;
}

}  // namespace

std::vector<DecisionRecord> TrustSync::decisions(const std::string& subject) {
  auto statement = database_.prepare(fmt::format(
      "SELECT {} FROM record_decisions WHERE address = ?1 ORDER BY lamport, device_id, seq", kDecisionColumns));
  statement.bind(1, subject);
  std::vector<DecisionRecord> out;
  while (statement.step())
    out.push_back(read_decision(statement));
  return out;
}

std::vector<DecisionRecord> TrustSync::decisions_after(const DeviceId& device, std::int64_t seq) {
  auto statement = database_.prepare(fmt::format(
      "SELECT {} FROM record_decisions WHERE device_id = ?1 AND seq > ?2 ORDER BY seq, address", kDecisionColumns));
  statement.bind(1, device.str()).bind(2, seq);
  std::vector<DecisionRecord> out;
  while (statement.step())
    out.push_back(read_decision(statement));
  return out;
}

void TrustSync::remove_decisions_after(const DeviceId& device, std::int64_t seq) {
  database_.prepare("DELETE FROM record_decisions WHERE device_id = ?1 AND seq > ?2")
      .bind(1, device.str())
      .bind(2, seq)
      .run();
}

void TrustSync::set_conflict(const ConflictRecord& conflict) {
  database_
      .prepare(
          "INSERT INTO record_conflicts (address, device_a, value_a, device_b, value_b) VALUES (?1, ?2, ?3, ?4, ?5) "
          "ON CONFLICT (address) DO UPDATE SET device_a = ?2, value_a = ?3, device_b = ?4, value_b = ?5")
      .bind(1, conflict.subject)
      .bind(2, conflict.device_a.str())
      .bind(3, conflict.value_a)
      .bind(4, conflict.device_b.str())
      .bind(5, conflict.value_b)
      .run();
}

void TrustSync::clear_conflict(const std::string& subject) {
  database_.prepare("DELETE FROM record_conflicts WHERE address = ?1").bind(1, subject).run();
}

std::vector<ConflictRecord> TrustSync::conflicts(const std::optional<std::string>& subject) {
  auto statement = database_.prepare(
      "SELECT address, device_a, value_a, device_b, value_b FROM record_conflicts "
      "WHERE ?1 IS NULL OR address = ?1 ORDER BY address");
  if (subject)
    statement.bind(1, *subject);
  std::vector<ConflictRecord> out;
  while (statement.step()) {
    out.push_back({statement.column_text(0), DeviceId(statement.column_text(1)), statement.column_text(2),
                   DeviceId(statement.column_text(3)), statement.column_text(4)});
  }
  return out;
}

}  // namespace mailseal::store
