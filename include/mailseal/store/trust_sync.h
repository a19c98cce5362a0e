#pragma once
// What a device keeps to send and receive trust records (schemas 7 to 11,
// docs/service.md "Trust records"): the profile's records keys, the outbox of
// changes not yet written into this device's log, that log as sealed, the
// position reached in every device's log, the decisions merged and the
// conflicts found between them, and since when records wait. Records only;
// src/devices decides.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/ids.h"
#include "mailseal/store/local_store.h"

namespace mailseal::store {

// The kinds of change an outbox entry names, and what its `ref` is.
inline constexpr std::string_view kChangePin = "pin";                  // address \n fingerprint \n kind
inline constexpr std::string_view kChangeAnchor = "anchor";            // the anchor's fingerprint
inline constexpr std::string_view kChangeEndorsement = "endorsement";  // the endorsement's row id
inline constexpr std::string_view kChangeIdentity = "identity";        // the identity
inline constexpr std::string_view kChangeObservation = "observation";  // address \n identity
inline constexpr std::string_view kChangeContact = "contact";          // address \n certificate fingerprint
// Removals are decisions too (docs/service.md, "Trust records").
inline constexpr std::string_view kChangeUnpin = "unpin";            // address \n fingerprint, or kAllTargets
inline constexpr std::string_view kChangeUnanchor = "unanchor";      // the anchor's fingerprint
inline constexpr std::string_view kChangeWithdrawal = "withdrawal";  // issuer \n subject (identities)

// A removal of every pin and acceptance of an address, or of every
// endorsement of an identity.
inline constexpr std::string_view kAllTargets = "*";

// What a decision is about, as record_decisions and record_conflicts keep
// it: an address (its pins and acceptances), a trust anchor, or the
// endorsements one issuer made of one identity.
std::string pin_subject(const EmailAddress& address);
std::string anchor_subject(std::string_view fingerprint);
std::string endorsement_subject(const Identity& issuer, const Identity& subject);
// The address of a pin subject; nullopt for the others.
std::optional<EmailAddress> subject_address(const std::string& subject);
// The fingerprint of an anchor subject; nullopt for the others.
std::optional<std::string> subject_anchor(const std::string& subject);
// The issuer and identity of an endorsement subject; nullopt for the others.
struct EndorsementSubject {
  Identity issuer;
  Identity subject;
};
std::optional<EndorsementSubject> subject_endorsement(const std::string& subject);

// Notes a change in the outbox (once per kind and ref until it is written),
// in the caller's transaction.
void enqueue_trust_change(Database& database, std::string_view kind, std::string_view ref);
// A decision made here (a pin, a removal, an anchor's amount): noted after
// every entry already there, even when the same one was noted before, so
// that the record carries this device's decisions in the order it made
// them (pin, unpin, pin again ends pinned everywhere).
void enqueue_decision(Database& database, std::string_view kind, std::string_view ref);

struct OutboxEntry {
  std::int64_t id = 0;
  std::string kind;
  std::string ref;
};

// A symmetric key sealing the profile's trust records; the secret is in a
// 0600 key file.
struct RecordsKeyRecord {
  std::string key_id;
  std::string key_file;
  KeyStatus status = KeyStatus::Current;
  TimePoint created_at{};
};

// The last record merged (or, for this device, written) of a device's log.
struct RecordPosition {
  DeviceId device_id;
  std::int64_t seq = 0;
  Bytes hash;  // SHA-256 of the sealed record
  std::int64_t lamport = 0;
};

// The lamport time of one record merged or written (schema 9).
struct RecordTime {
  DeviceId device_id;
  std::int64_t seq = 0;
  std::int64_t lamport = 0;
};

// A device's signature over the head statement of a record of it merged
// here (schema 10; docs/service.md, "Frontier proofs"): what this device's
// next record carries as the proof of its frontier entry, and what a proof
// naming that record is held to.
struct HeadProofRecord {
  DeviceId device_id;
  std::int64_t seq = 0;
  Bytes digest;     // SHA-256 of the record's JSON
  Bytes signature;  // by the device's signature key
};

// The first record of another device's log that waits here (schema 11;
// docs/service.md, "A wait without end"), and since when this device has
// found it waiting.
struct RecordWait {
  DeviceId device_id;
  std::int64_t seq = 0;
  TimePoint since{};
};

struct OwnRecord {
  std::int64_t seq = 0;
  Bytes sealed;
  bool uploaded = false;
};

// What one record decided about a subject (pin_subject, anchor_subject,
// endorsement_subject), as the record carried it.
struct DecisionRecord {
  std::string subject;
  DeviceId device_id;
  std::int64_t seq = 0;
  std::int64_t lamport = 0;
  std::string value;     // items "VERB TARGET[ DETAIL]" joined by "; " (devices/internal/merge.h)
  std::string frontier;  // "DEVICE=SEQ,DEVICE=SEQ": what the device had merged
  // The changes that decided it, in the record's order, as the record
  // carries them (a JSON array): what restores the decision when a later
  // one about the same subject is taken back (schema 13). None for a
  // decision noted before.
  std::optional<std::string> changes;
};

// A subject decided differently on two devices, neither knowing the other's.
struct ConflictRecord {
  std::string subject;
  DeviceId device_a;
  std::string value_a;
  DeviceId device_b;
  std::string value_b;
};

class TrustSync {
 public:
  explicit TrustSync(LocalStore& store) : store_(store), database_(store.database()) {}

  std::vector<OutboxEntry> outbox();
  // The highest outbox id so far (0 when empty).
  std::int64_t outbox_mark();
  // Forgets the entries with ids in (after, up_to].
  void discard_outbox(std::int64_t after, std::int64_t up_to);

  // Writes the key file, then the row; the other keys become archived when
  // this one is current.
  void add_records_key(const RecordsKeyRecord& key, const KeyFile& file);
  // Newest first.
  std::vector<RecordsKeyRecord> records_keys();
  // The status of a records key held (merging two admin devices' keys).
  void set_records_key_status(const std::string& key_id, KeyStatus status);

  void add_own_record(std::int64_t seq, ByteView sealed);
  void mark_uploaded(std::int64_t seq);
  std::vector<OwnRecord> own_records();
  // The number of this device's last record kept (0: none), without reading
  // the records.
  std::int64_t last_own_record();

  std::vector<RecordPosition> positions();
  // Moves a device's position to a record merged or written, and keeps that
  // record's time (record_times) for the records that name it later and its
  // hash (record_hashes).
  void set_position(const RecordPosition& position);
  // Back to an earlier record of a device's log merged here (seq 0: none),
  // forgetting the hashes and head proofs of its records after it: a
  // removed device's records past its removal's cut, or another fork of its
  // log, replaced by the log its removal names (docs/security.md, "The
  // cut"). Its records' times stay: what named them keeps being judged.
  void rewind_position(const RecordPosition& back_to);
  // The SHA-256 of a device's sealed record merged or written here (schema
  // 13): what tells whether this device merged the record a removal's cut
  // names. nullopt for one merged before, or not merged.
  std::optional<Bytes> record_hash(const DeviceId& device, std::int64_t seq);
  // The head proof of a record of version 2 merged here (nullopt: not
  // merged, or of version 1), and a device's first record that has one; set
  // with the position in the same transaction. Read one by one: a sync asks
  // only about the records it judges, never about the whole history.
  std::optional<HeadProofRecord> head_proof(const DeviceId& device, std::int64_t seq);
  std::optional<std::int64_t> first_head_proof(const DeviceId& device);
  void set_head_proof(const HeadProofRecord& proof);
  // The time of every record merged or written, by device and number.
  std::vector<RecordTime> record_times();
  // One record's time; nullopt when not known.
  std::optional<std::int64_t> record_time(const DeviceId& device, std::int64_t seq);
  // A record's time learned otherwise (a store from before schema 9 takes
  // them from the service).
  void add_record_time(const RecordTime& time);

  // The records waiting now, each `since` the time of this sync: a record
  // that waited before keeps its first time; every other kept wait (the
  // record merged, or was judged) is forgotten.
  void set_record_waits(const std::vector<RecordWait>& waiting);
  // By device, then number.
  std::vector<RecordWait> record_waits();

  // One row per (subject, device, seq): a record's last word replaces.
  void add_decision(const DecisionRecord& decision);
  std::vector<DecisionRecord> decisions(const std::string& subject);
  // A device's decisions from its records after number `seq`, and their
  // removal (a removed device's records past its removal's cut).
  std::vector<DecisionRecord> decisions_after(const DeviceId& device, std::int64_t seq);
  void remove_decisions_after(const DeviceId& device, std::int64_t seq);
  void set_conflict(const ConflictRecord& conflict);
  void clear_conflict(const std::string& subject);
  std::vector<ConflictRecord> conflicts(const std::optional<std::string>& subject = std::nullopt);

 private:
  LocalStore& store_;
  Database& database_;
};

}  // namespace mailseal::store
