#pragma once
// Trust records (docs/service.md, "Trust records"): what one device of a
// profile tells the others about what it decided or learned. Each device
// writes its own log, records numbered 1, 2, 3...; each record names the
// previous one's hash, carries a lamport time and the frontier (the highest
// record the device had merged from every other device), is signed by the
// device's signature key and sealed (AES-256-GCM) under the profile's
// records key, the associated data binding it to its profile, device,
// number and key.
//
// From version 2 on (docs/service.md, "Frontier proofs") the writer also
// signs a head statement (profile, device, number, SHA-256 of the record's
// JSON), and each frontier entry carries the named device's head statement
// signature for the record it names: a frontier entry is a proof that the
// named device wrote that record, not the writer's word.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::devices::internal {

inline constexpr std::string_view kRecordType = "mailseal-trust-record";
// Records with head statements and frontier proofs; what this version writes.
inline constexpr int kRecordVersion = 2;
// Records before: frontiers without proofs (read, never written).
inline constexpr int kUnprovenRecordVersion = 1;
inline constexpr std::string_view kHeadStatementType = "mailseal-trust-head";
// At most this many devices in a frontier, so that a sealed record stays
// small (a proof is about 170 bytes; a profile has a handful of devices).
inline constexpr std::size_t kMaxFrontierDevices = 64;
// Bytes of a records key's id, at the start of every sealed record.
inline constexpr std::size_t kRecordsKeyIdBytes = 16;
// At most this many changes in one record (more make several records).
inline constexpr std::size_t kMaxChangesPerRecord = 200;

// One change. Which fields count depends on `kind` (store::kChange*):
// pin: address, fingerprint, pin_kind, at
// anchor: fingerprint, certificate, amount, at
// endorsement: certificate, issuer, subject, amount, depth, scope, addresses, endorsement_kind, exportable, at
// unpin: address, fingerprint (the pin's, or "*": every pin and acceptance of the address), at
// unanchor: fingerprint (the anchor's), at
// withdrawal: issuer, subject (identities: every endorsement the issuer made of the subject), at
// identity: fingerprint (the identity), certificate (the top of its chain)
// observation: address, fingerprint (the identity), certificate_fingerprint, source, first_seen, last_seen, days,
//   messages
// contact: address, certificate, capabilities, source, first_seen, last_seen
struct Change {
  std::string kind;
  std::optional<EmailAddress> address;
  std::string fingerprint;
  std::string pin_kind;
  Bytes certificate;
  std::string certificate_fingerprint;
  int amount = 0;
  int depth = 0;
  std::vector<std::string> scope;
  std::vector<std::string> addresses;
  std::string issuer;
  std::string subject;
  std::string endorsement_kind;
  bool exportable = true;
  std::string capabilities;
  std::string source;
  TimePoint at{};
  TimePoint first_seen{};
  TimePoint last_seen{};
  int days = 0;
  int messages = 0;
  bool operator==(const Change&) const = default;
};

// Whether a change is a decision (only devices that may decide are heard)
// or something learned (shared by every device).
bool is_decision(const Change& change);

// The highest lamport time a record may carry: far above what any profile
// reaches (a decision a second for 30,000 years), far below where adding one
// would overflow. A record above it is malformed, so that a device (a
// read-only one above all) cannot push every other device's clock to the
// end of its range and stop them writing (found in review).
inline constexpr std::int64_t kMaxLamport = std::int64_t{1} << 40;

// The named device's signature over the head statement of the record a
// frontier entry names, as the writer merged it.
struct HeadProof {
  Bytes digest;     // SHA-256 of the named record's JSON (what its signature covers)
  Bytes signature;  // by the named device's signature key over head_statement(...)
  bool operator==(const HeadProof&) const = default;
};

struct TrustRecord {
  int version = kRecordVersion;
  Identity profile;
  DeviceId device;
  std::int64_t seq = 0;
  Bytes previous;  // SHA-256 of the device's previous sealed record; empty for seq 1
  std::int64_t lamport = 0;
  std::map<DeviceId, std::int64_t> frontier;
  std::map<DeviceId, HeadProof> proofs;  // version 2: by frontier entry, where the writer has one
  std::vector<Change> changes;
  TimePoint made_at{};
  bool operator==(const TrustRecord&) const = default;
};

// The record as JSON, and back. decode_record: Error(Malformed) naming the
// problem for anything that is not a record of version 1 or 2.
std::string encode_record(const TrustRecord& record);
// Changes as a record carries them (a JSON array), and back, checked as a
// record's are: what the store keeps of a decision (store::DecisionRecord).
std::string encode_changes(const std::vector<Change>& changes);
std::vector<Change> decode_changes(std::string_view json);
TrustRecord decode_record(ByteView json);

// What is sealed: the record, its signature by the device's signature key,
// and that key's certificate (issued by the profile root).
struct SignedRecord {
  TrustRecord record;
  Bytes record_json;  // what the signature covers
  Bytes signature;
  crypto::Certificate signer;
  Bytes head_signature;  // version 2: over the record's head statement, by the same key
};

// What a device signs about each record it writes (version 2):
// "mailseal-trust-head\nPROFILE\nDEVICE\nSEQ\nHEX(SHA-256 of the record's JSON)".
Bytes head_statement(const Identity& profile, const DeviceId& device, std::int64_t seq, ByteView digest);

// The proof a record of version 2 gives of itself, for the frontiers of the
// records that merge it; nullopt for version 1.
std::optional<HeadProof> head_proof_of(const SignedRecord& record);

// Whether `proof` shows that `named` wrote its record `seq`: the digest is
// a SHA-256 and the signature verifies with `named_certificate`, which must
// be a certificate of the named device's own key (the device id is the
// key's: a certificate renewed for the same key verifies, any other
// device's, a removed one's included, does not).
bool head_proof_holds(const HeadProof& proof, const Identity& profile, const DeviceId& named, std::int64_t seq,
                      const crypto::Certificate& named_certificate);

// What one frontier entry of a record proves (docs/service.md, "Frontier
// proofs").
enum class EntryProof {
  Unproven,  // a record of version 1, or one naming a device not known to sign proofs there
  Proven,    // the named device signed that record's head statement
  Forged,    // the proof does not hold, or is missing where the named device signs them: the writer forged it
};
// `named_certificate`: the named device's signature certificate (nullptr
// when not known here); `named_signs_proofs`: this device knows a record
// of version 2 of the named device at or before `seq` (its later records
// are all of version 2, so each has a proof).
EntryProof judge_frontier_entry(const TrustRecord& record, const DeviceId& named, std::int64_t seq,
                                const crypto::Certificate* named_certificate, bool named_signs_proofs);

// Whether `next`, following a record of version `previous_version` in its
// device's log, goes back to an older version: once a device signs head
// statements, a record without them is its writer escaping the proofs.
bool downgrades(int previous_version, const TrustRecord& next);

// The associated data of a sealed record.
Bytes record_associated_data(const Identity& profile, const DeviceId& device, std::int64_t seq, ByteView key_id);

// key id || AES-256-GCM(records key, {record, signature, certificate}).
Bytes seal_record(const TrustRecord& record, const crypto::PrivateKey& signature_key,
                  const crypto::Certificate& signature_certificate, ByteView key_id, ByteView records_key);

// Who made a record served at a device's position unreadable. Only the
// device itself uploads into its log (the service takes its records in
// order, signed by its key), and only a holder of the records key seals:
// what does not open is the device's doing or the service's, what its own
// key signed is the device's alone (docs/service.md, "Records that do not
// open").
enum class RecordFault {
  Unopened,   // does not open, is not signed by the device, or says another place: the device or the service
  Malformed,  // the device signed a trust record that does not decode
  Newer,      // the device signed a trust record of a version this mailseal does not read
};

// What open_record throws: an Error (BadSignature, Malformed or
// Unsupported) that also says who made the record so.
class RecordRefused : public Error {
 public:
  // `detail`: what is wrong, without naming the record ("was altered ...").
  RecordRefused(RecordFault fault, ErrorCode code, const std::string& message, std::string detail);
  RecordFault fault() const noexcept { return fault_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  RecordFault fault_;
  std::string detail_;
};

// The key id a sealed record names; RecordRefused(Unopened) when too short.
Bytes sealed_key_id(ByteView sealed);

// Opens a sealed record served as (profile, device, seq) with `records_key`,
// and checks: the record says the same profile, device and seq; the
// signature verifies with the certificate it carries; that certificate is
// a device certificate issued by `root` whose key is the device's id.
// RecordRefused: BadSignature for anything altered or forged, Malformed
// for anything that does not read, Unsupported for another version.
SignedRecord open_record(ByteView sealed, const Identity& profile, const DeviceId& device, std::int64_t seq,
                         ByteView records_key, const crypto::Certificate& root);

}  // namespace mailseal::devices::internal
