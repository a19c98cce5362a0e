#include "mailseal/store/trust_records.h"

#include "mailseal/store/trust_sync.h"

namespace mailseal::store {

namespace {

constexpr std::int64_t kSecondsPerDay = 86400;

// The day of `time` (days since the epoch, UTC), as the observations'
// last_day column keeps it.
std::int64_t day_of(TimePoint time) {
  return to_unix_seconds(time) / kSecondsPerDay;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty())
      out.push_back(',');
    out += item;
  }
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    if (end > start)
      out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

EndorsementRecord read_endorsement(Statement& statement) {
  EndorsementRecord record;
  record.id = statement.column_int(0);
  record.issuer = Identity(statement.column_text(1));
  record.subject = Identity(statement.column_text(2));
  record.amount = static_cast<int>(statement.column_int(3));
  record.depth = static_cast<int>(statement.column_int(4));
  record.scope = split(statement.column_text(5));
  record.addresses = split(statement.column_text(6));
  record.kind = statement.column_text(7);
  record.exportable = statement.column_int(8) != 0;
  record.certificate = statement.column_blob(9);
  record.created_at = statement.column_time(10);
  return record;
}

constexpr std::string_view kEndorsementColumns =
    "id, issuer, subject, amount, depth, scope, addresses, kind, exportable, certificate, created_at";

}  // namespace

void TrustRecords::add_identity(const Identity& identity, ByteView certificate, TimePoint at) {
  Transaction transaction(database_);
  database_.prepare("INSERT OR IGNORE INTO identities (fingerprint, certificate, first_seen) VALUES (?1, ?2, ?3)")
      .bind(1, identity.str())
      .bind(2, certificate)
      .bind(3, at)
      .run();
  if (database_.changes() > 0)
    enqueue_trust_change(database_, kChangeIdentity, identity.str());
  transaction.commit();
}

std::optional<Bytes> TrustRecords::identity_certificate(const Identity& identity) {
  auto statement = database_.prepare("SELECT certificate FROM identities WHERE fingerprint = ?1");
  statement.bind(1, identity.str());
  if (statement.step())
    return statement.column_blob(0);
  return std::nullopt;
}

void TrustRecords::add_pin(const PinRecord& pin) {
  // A decision made here knows every record merged so far: it settles a
  // conflict between other devices' decisions about the address.
  Transaction transaction(database_);
  merge_pin(pin);
  enqueue_decision(database_, kChangePin, pin.address.str() + "\n" + pin.fingerprint + "\n" + pin.kind);
  TrustSync(store_).clear_conflict(pin_subject(pin.address));
  transaction.commit();
}

int TrustRecords::remove_pins(const EmailAddress& address, const std::optional<std::string>& fingerprint) {
  Transaction transaction(database_);
  auto statement = database_.prepare("DELETE FROM pins WHERE address = ?1 AND (?2 IS NULL OR fingerprint = ?2)");
  statement.bind(1, address.str());
  if (fingerprint)
    statement.bind(2, *fingerprint);
  statement.run();
  const int removed = database_.changes();
  enqueue_decision(database_, kChangeUnpin, address.str() + "\n" + fingerprint.value_or(std::string(kAllTargets)));
  TrustSync(store_).clear_conflict(pin_subject(address));
  transaction.commit();
  return removed;
}

void TrustRecords::merge_unpin(const EmailAddress& address, const std::string& fingerprint,
                               const std::set<std::string>& keep) {
  for (const auto& pin : pins(address)) {
    if ((fingerprint == kAllTargets || pin.fingerprint == fingerprint) && !keep.contains(pin.fingerprint)) {
      database_.prepare("DELETE FROM pins WHERE address = ?1 AND fingerprint = ?2 AND kind = ?3")
          .bind(1, address.str())
          .bind(2, pin.fingerprint)
          .bind(3, pin.kind)
          .run();
    }
  }
}

void TrustRecords::merge_pin(const PinRecord& pin) {
  database_.prepare("INSERT OR REPLACE INTO pins (address, fingerprint, kind, created_at) VALUES (?1, ?2, ?3, ?4)")
      .bind(1, pin.address.str())
      .bind(2, pin.fingerprint)
      .bind(3, pin.kind)
      .bind(4, pin.created_at)
      .run();
}

std::optional<PinRecord> TrustRecords::pin(const EmailAddress& address, const std::string& fingerprint,
                                           const std::string& kind) {
  auto statement =
      database_.prepare("SELECT created_at FROM pins WHERE address = ?1 AND fingerprint = ?2 AND kind = ?3");
  statement.bind(1, address.str()).bind(2, fingerprint).bind(3, kind);
  if (!statement.step())
    return std::nullopt;
  return PinRecord{address, fingerprint, kind, statement.column_time(0)};
}

std::vector<PinRecord> TrustRecords::pins(const EmailAddress& address) {
  auto statement =
      database_.prepare("SELECT fingerprint, kind, created_at FROM pins WHERE address = ?1 ORDER BY created_at, rowid");
  statement.bind(1, address.str());
  std::vector<PinRecord> out;
  while (statement.step()) {
    out.push_back({address, statement.column_text(0), statement.column_text(1), statement.column_time(2)});
  }
  return out;
}

bool TrustRecords::observe(const EmailAddress& address, const Sighting& sighting) {
  Transaction transaction(database_);
  if (sighting.message_digest) {
    auto seen = database_.prepare("SELECT 1 FROM learned_messages WHERE digest = ?1");
    seen.bind(1, *sighting.message_digest);
    if (seen.step())
      return false;
    database_.prepare("INSERT INTO learned_messages (digest, learned_at) VALUES (?1, ?2)")
        .bind(1, *sighting.message_digest)
        .bind(2, sighting.at)
        .run();
  }
  const bool is_message = sighting.message_date.has_value();
  const std::int64_t day = day_of(sighting.message_date.value_or(sighting.at));
  auto existing = database_.prepare("SELECT last_day FROM observations WHERE address = ?1 AND identity = ?2");
  existing.bind(1, address.str()).bind(2, sighting.identity.str());
  if (!existing.step()) {
    database_
        .prepare(
            "INSERT INTO observations (address, identity, certificate, source, first_seen, last_seen, last_day, days, "
            "messages) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, 1, ?7)")
        .bind(1, address.str())
        .bind(2, sighting.identity.str())
        .bind(3, sighting.certificate)
        .bind(4, sighting.source)
        .bind(5, sighting.at)
        .bind(6, day)
        .bind(7, is_message ? 1 : 0)
        .run();
  } else {
    bool new_day = is_message && existing.column_int(0) != day;
    database_
        .prepare(
            "UPDATE observations SET certificate = ?3, last_seen = MAX(last_seen, ?4), "
            "last_day = CASE WHEN ?5 THEN ?6 ELSE last_day END, days = days + ?5, messages = messages + ?7 "
            "WHERE address = ?1 AND identity = ?2")
        .bind(1, address.str())
        .bind(2, sighting.identity.str())
        .bind(3, sighting.certificate)
        .bind(4, sighting.at)
        .bind(5, new_day ? 1 : 0)
        .bind(6, day)
        .bind(7, is_message ? 1 : 0)
        .run();
  }
  enqueue_trust_change(database_, kChangeObservation, address.str() + "\n" + sighting.identity.str());
  transaction.commit();
  return true;
}

void TrustRecords::merge_observation(const ObservationRecord& observation) {
  // A union: nothing either side saw is lost, and merging twice changes
  // nothing. last_day is this device's own count of days; it follows the
  // newest sighting.
  database_
      .prepare(
          "INSERT INTO observations (address, identity, certificate, source, first_seen, last_seen, last_day, days, "
          "messages) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
          "ON CONFLICT (address, identity) DO UPDATE SET "
          "certificate = CASE WHEN ?6 > last_seen THEN ?3 ELSE certificate END, "
          "last_day = CASE WHEN ?6 > last_seen THEN ?7 ELSE last_day END, "
          "first_seen = MIN(first_seen, ?5), last_seen = MAX(last_seen, ?6), days = MAX(days, ?8), "
          "messages = MAX(messages, ?9)")
      .bind(1, observation.address.str())
      .bind(2, observation.identity.str())
      .bind(3, observation.certificate)
      .bind(4, observation.source)
      .bind(5, observation.first_seen)
      .bind(6, observation.last_seen)
      .bind(7, day_of(observation.last_seen))
      .bind(8, static_cast<std::int64_t>(observation.days))
      .bind(9, static_cast<std::int64_t>(observation.messages))
      .run();
}

std::optional<ObservationRecord> TrustRecords::observation(const EmailAddress& address, const Identity& identity) {
  for (auto& record : observations(address)) {
    if (record.identity == identity)
      return std::move(record);
  }
  return std::nullopt;
}

std::vector<ObservationRecord> TrustRecords::observations(const EmailAddress& address) {
  auto statement = database_.prepare(
      "SELECT identity, certificate, source, first_seen, last_seen, days, messages FROM observations "
      "WHERE address = ?1 ORDER BY rowid");
  statement.bind(1, address.str());
  std::vector<ObservationRecord> out;
  while (statement.step()) {
    out.push_back({address, Identity(statement.column_text(0)), statement.column_text(1), statement.column_text(2),
                   statement.column_time(3), statement.column_time(4), static_cast<int>(statement.column_int(5)),
                   static_cast<int>(statement.column_int(6))});
  }
  return out;
}

bool TrustRecords::add_endorsement(const EndorsementRecord& endorsement) {
  auto existing = database_.prepare("SELECT id FROM endorsements WHERE certificate = ?1");
  existing.bind(1, endorsement.certificate);
  if (existing.step())
    return false;
  database_
      .prepare(
          "INSERT INTO endorsements (issuer, subject, amount, depth, scope, addresses, kind, exportable, certificate, "
          "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
      .bind(1, endorsement.issuer.str())
      .bind(2, endorsement.subject.str())
      .bind(3, static_cast<std::int64_t>(endorsement.amount))
      .bind(4, static_cast<std::int64_t>(endorsement.depth))
      .bind(5, join(endorsement.scope))
      .bind(6, join(endorsement.addresses))
      .bind(7, endorsement.kind)
      .bind(8, endorsement.exportable ? 1 : 0)
      .bind(9, endorsement.certificate)
      .bind(10, endorsement.created_at)
      .run();
  enqueue_trust_change(database_, kChangeEndorsement, std::to_string(database_.last_insert_id()));
  return true;
}

int TrustRecords::withdraw_endorsements(const Identity& issuer, const Identity& subject) {
  Transaction transaction(database_);
  database_.prepare("DELETE FROM endorsements WHERE issuer = ?1 AND subject = ?2 AND kind = 'endorsement'")
      .bind(1, issuer.str())
      .bind(2, subject.str())
      .run();
  const int removed = database_.changes();
  enqueue_decision(database_, kChangeWithdrawal, issuer.str() + "\n" + subject.str());
  TrustSync(store_).clear_conflict(endorsement_subject(issuer, subject));
  transaction.commit();
  return removed;
}

void TrustRecords::remove_endorsement(std::int64_t id) {
  database_.prepare("DELETE FROM endorsements WHERE id = ?1").bind(1, id).run();
}

std::optional<EndorsementRecord> TrustRecords::endorsement(std::int64_t id) {
  auto statement = database_.prepare(std::string("SELECT ") + std::string(kEndorsementColumns) +
                                     " FROM endorsements WHERE id = ?1");
  statement.bind(1, id);
  if (!statement.step())
    return std::nullopt;
  return read_endorsement(statement);
}

std::vector<EndorsementRecord> TrustRecords::endorsements_by(const Identity& issuer) {
  auto statement = database_.prepare(std::string("SELECT ") + std::string(kEndorsementColumns) +
                                     " FROM endorsements WHERE issuer = ?1 ORDER BY id");
  statement.bind(1, issuer.str());
  std::vector<EndorsementRecord> out;
  while (statement.step())
    out.push_back(read_endorsement(statement));
  return out;
}

std::vector<EndorsementRecord> TrustRecords::endorsements_of(const Identity& subject) {
  auto statement = database_.prepare(std::string("SELECT ") + std::string(kEndorsementColumns) +
                                     " FROM endorsements WHERE subject = ?1 ORDER BY id");
  statement.bind(1, subject.str());
  std::vector<EndorsementRecord> out;
  while (statement.step())
    out.push_back(read_endorsement(statement));
  return out;
}

void TrustRecords::add_anchor(const AnchorRecord& anchor) {
  Transaction transaction(database_);
  merge_anchor(anchor);
  enqueue_decision(database_, kChangeAnchor, anchor.fingerprint);
  TrustSync(store_).clear_conflict(anchor_subject(anchor.fingerprint));
  transaction.commit();
}

void TrustRecords::merge_anchor(const AnchorRecord& anchor) {
  database_
      .prepare(
          "INSERT INTO trust_anchors (fingerprint, certificate, amount, added_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (fingerprint) DO UPDATE SET amount = ?3")
      .bind(1, anchor.fingerprint)
      .bind(2, anchor.certificate)
      .bind(3, static_cast<std::int64_t>(anchor.amount))
      .bind(4, anchor.added_at)
      .run();
}

bool TrustRecords::remove_anchor(const std::string& fingerprint) {
  Transaction transaction(database_);
  merge_anchor_removal(fingerprint);
  const bool removed = database_.changes() > 0;
  if (removed) {
    enqueue_decision(database_, kChangeUnanchor, fingerprint);
    TrustSync(store_).clear_conflict(anchor_subject(fingerprint));
  }
  transaction.commit();
  return removed;
}

void TrustRecords::merge_anchor_removal(const std::string& fingerprint) {
  database_.prepare("DELETE FROM trust_anchors WHERE fingerprint = ?1").bind(1, fingerprint).run();
}

std::vector<AnchorRecord> TrustRecords::anchors() {
  auto statement =
      database_.prepare("SELECT fingerprint, certificate, amount, added_at FROM trust_anchors ORDER BY added_at");
  std::vector<AnchorRecord> out;
  while (statement.step()) {
    out.push_back({statement.column_text(0), statement.column_blob(1), static_cast<int>(statement.column_int(2)),
                   statement.column_time(3)});
  }
  return out;
}

bool TrustRecords::add_revocation(const Identity& issuer, const std::string& serial, const std::string& source,
                                  TimePoint at) {
  database_.prepare("INSERT OR IGNORE INTO revocations (issuer, serial, source, revoked_at) VALUES (?1, ?2, ?3, ?4)")
      .bind(1, issuer.str())
      .bind(2, serial)
      .bind(3, source)
      .bind(4, at)
      .run();
  return database_.changes() > 0;
}

std::vector<Bytes> TrustRecords::exportable_endorsements(const Identity& issuer) {
  std::vector<Bytes> out;
  for (auto& record : endorsements_by(issuer)) {
    if (record.exportable)
      out.push_back(std::move(record.certificate));
  }
  return out;
}

std::vector<std::string> TrustRecords::revoked_serials(const Identity& issuer) {
  auto statement = database_.prepare("SELECT serial FROM revocations WHERE issuer = ?1 ORDER BY revoked_at, serial");
  statement.bind(1, issuer.str());
  std::vector<std::string> out;
  while (statement.step())
    out.push_back(statement.column_text(0));
  return out;
}

std::set<Identity> TrustRecords::revoking_issuers() {
  auto statement = database_.prepare("SELECT DISTINCT issuer FROM revocations");
  std::set<Identity> out;
  while (statement.step())
    out.insert(Identity(statement.column_text(0)));
  return out;
}

bool TrustRecords::is_revoked(const Identity& issuer, const std::string& serial) {
  auto statement = database_.prepare("SELECT 1 FROM revocations WHERE issuer = ?1 AND serial = ?2");
  statement.bind(1, issuer.str()).bind(2, serial);
  return statement.step();
}

void TrustRecords::add_discovery(const EmailAddress& address, const Identity& identity, const std::string& source,
                                 DiscoveryVerification verification, TimePoint at) {
  database_
      .prepare(
          "INSERT INTO discoveries (address, identity, source, seen_at, verified) VALUES (?1, ?2, ?3, ?4, ?5) "
          "ON CONFLICT (address, identity) DO UPDATE SET source = ?3, seen_at = ?4, verified = ?5")
      .bind(1, address.str())
      .bind(2, identity.str())
      .bind(3, source)
      .bind(4, at)
      .bind(5, static_cast<std::int64_t>(verification == DiscoveryVerification::Verified ? 1 : 0))
      .run();
}

std::optional<DiscoveryVerification> TrustRecords::discovery(const EmailAddress& address, const Identity& identity) {
  auto statement = database_.prepare("SELECT verified FROM discoveries WHERE address = ?1 AND identity = ?2");
  statement.bind(1, address.str()).bind(2, identity.str());
  if (!statement.step())
    return std::nullopt;
  return statement.column_int(0) == 1 ? DiscoveryVerification::Verified : DiscoveryVerification::Unverified;
}

}  // namespace mailseal::store
