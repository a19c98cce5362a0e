#pragma once
// Every JSON document that crosses the key service's wire (docs/service.md),
// as a type with one strict reader and one writer, used by the service and by
// its clients alike. Points in time are Unix seconds on the wire; identities
// (a profile's fingerprint), device ids and request ids are strings there and
// their own types here (common/ids.h).
//
// Reading is strict: a field that is missing, of the wrong type, beyond its
// limit, not base64 where bytes are expected or not a certificate where one
// is expected is a Fault naming the field ("devices[1].role"). `parse` gives
// the fault to a caller that answers it itself (the service turns it into a
// 400 refusal); `read` turns it into Error(Malformed, "SOURCE: 'FIELD' ...").
// Unknown fields are ignored, so that either side can add one.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <utility>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/crypto/certificate.h"

namespace mailseal::keyservice {

// What strict reading found wrong. The service answers each kind with its own
// refusal code: bad_json, missing_field, bad_field, bad_certificate.
enum class FaultKind { NotJson, MissingField, BadField, BadCertificate };

struct Fault {
  FaultKind kind = FaultKind::NotJson;
  std::string field;    // "root", "devices[1].role"; empty for NotJson
  std::string problem;  // "is missing", "must be a string"
  // "'root' is missing"; the problem alone when no field is named.
  std::string describe() const;
};

template <typename Document>
using Parsed = std::variant<Document, Fault>;

// The document, or Error(Malformed) naming the field: "SOURCE: 'FIELD' PROBLEM".
[[noreturn]] void throw_fault(const Fault& fault, std::string_view source);
template <typename Document>
Document read(std::string_view json, std::string_view source) {
  Parsed<Document> parsed = Document::parse(json);
  if (const Fault* fault = std::get_if<Fault>(&parsed))
    throw_fault(*fault, source);
  return std::get<Document>(std::move(parsed));
}

// Limits on what one document may hold (docs/service.md, "Limits").
inline constexpr std::size_t kMaxCertificates = 256;
inline constexpr std::size_t kMaxDevices = 64;
inline constexpr std::size_t kMaxRevocations = 16;
inline constexpr std::size_t kMaxAddresses = 32;
// Join requests without a PIN waiting at once, per profile (the service may
// keep fewer: `serve --max-waiting-joins`); those with a PIN are bounded by
// the open invitations, so a list of pending requests holds at most both.
inline constexpr std::size_t kMaxPendingRequests = 100;
inline constexpr std::size_t kMaxOpenInvitations = 100;  // open at once, per profile
inline constexpr std::size_t kMaxEndorsementText = 1024 * 1024;
inline constexpr std::size_t kMaxKeyBytes = 4096;
inline constexpr std::size_t kNonceHexDigits = 32;  // 16 random bytes

// {"status": "ok"}: GET /v1/health.
struct Health {
  std::string status;
  static Parsed<Health> parse(std::string_view json);
  std::string to_json() const;
};

// {"error": {"code", "message"}}: every refusal. The code is stable, for
// programs; the message is for people (raw text: escape before printing).
struct ErrorDocument {
  std::string code;
  std::string message;
  static Parsed<ErrorDocument> parse(std::string_view json);
  std::string to_json() const;
};
// The refusal code of a bundle request from a device that was removed.
inline constexpr std::string_view kDeviceRemovedCode = "device_removed";
// The refusal code of a request the service does not hold: never made, or
// deleted (rejected or expired, after the service's join retention).
inline constexpr std::string_view kUnknownRequestCode = "unknown_request";

// A device of a published profile.
struct DeviceEntry {
  DeviceId device_id;     // device_id_of(the signature certificate's key)
  std::string name;       // at most kMaxDeviceNameLength bytes
  std::string role;       // "admin", "full" or "read"
  std::string status;     // "active" or "removed"
  crypto::Certificate signature_certificate;
  crypto::Certificate agreement_certificate;
};

// The escrow an admin device publishes: the profile's keys sealed to its
// root secret, under an id derived from that secret (docs/service.md, "Recovery").
struct EscrowReference {
  std::string id;
  Bytes data;
};

// PUT /v1/accounts/{fingerprint}: what an admin device publishes, signed by the root.
struct Publication {
  crypto::Certificate root;
  std::vector<crypto::Certificate> certificates;  // current mail certificates
  std::string endorsements;                       // PEM, possibly empty
  std::vector<Bytes> revocations;                 // DER revocation lists
  std::vector<DeviceEntry> devices;
  std::optional<EscrowReference> escrow;
  static Parsed<Publication> parse(std::string_view json);
  std::string to_json() const;
};

// Where one of a profile's addresses stands on the service (docs/service.md,
// "Verified addresses"): "pending" (a challenge was mailed; not served),
// "verified" (served, proved), "listed" (served, not proved: an unverified
// service), "withdrawn" (the answer to a withdrawal), "mail_failed" (in a
// publication's receipt: pending, but the challenge mail could not be sent;
// the next publication sends a new one).
struct AddressClaim {
  std::string address;
  std::string state;
  static Parsed<AddressClaim> parse(std::string_view json);
  std::string to_json() const;
};
inline constexpr std::string_view kClaimPending = "pending";
inline constexpr std::string_view kClaimVerified = "verified";
inline constexpr std::string_view kClaimListed = "listed";
inline constexpr std::string_view kClaimWithdrawn = "withdrawn";
inline constexpr std::string_view kClaimMailFailed = "mail_failed";

// Its answer. `claims` is empty from a service that predates verification.
struct PublishReceipt {
  Identity fingerprint;
  std::vector<std::string> addresses;
  TimePoint updated_at{};
  std::vector<AddressClaim> claims;
  static Parsed<PublishReceipt> parse(std::string_view json);
  std::string to_json() const;
};

// GET /v1/addresses/{address} and /v1/accounts/{fingerprint}: a published
// profile, as the service keeps it and hands it out. Reading checks types
// only: whether it holds together is for the reader to judge.
struct PublishedProfile {
  Identity fingerprint;
  crypto::Certificate root;
  std::vector<EmailAddress> addresses;
  std::vector<crypto::Certificate> certificates;
  std::string endorsements;
  std::vector<Bytes> revocations;
  std::vector<DeviceEntry> devices;
  std::optional<TimePoint> updated_at;  // in answers; not in what the service stores
  // In the answer to a lookup by address: whether the service proved that
  // the profile receives mail there (false: listed by an unverified
  // service). Absent from older services and from other answers.
  std::optional<bool> verified;
  static Parsed<PublishedProfile> parse(std::string_view json);
  std::string to_json() const;
};

// POST /v1/accounts/{fingerprint}/confirmations, signed by the root: the
// token of a challenge mail, answered by the profile instead of the link.
// The answer is an AddressClaim.
struct Confirmation {
  std::string token;
  static Parsed<Confirmation> parse(std::string_view json);
  std::string to_json() const;
};

// GET /v1/escrow/{escrow_id}.
struct EscrowAnswer {
  Identity fingerprint;
  Bytes escrow;
  static Parsed<EscrowAnswer> parse(std::string_view json);
  std::string to_json() const;
};

// POST /v1/accounts/{fingerprint}/invites (and its answer): a PIN invitation
// the service knows only by an id it cannot reverse.
struct Invitation {
  std::string pin_id;
  TimePoint expires_at{};
  static Parsed<Invitation> parse(std::string_view json);
  std::string to_json() const;
};

// POST /v1/accounts/{fingerprint}/requests: a new device asks to join,
// signed with its own signature key.
struct JoinRequest {
  std::string device_name;   // device_name_allowed()
  Bytes signature_key;       // SubjectPublicKeyInfo DER
  Bytes agreement_key;       // SubjectPublicKeyInfo DER
  std::string device_nonce;  // kNonceHexDigits lower-case hex digits
  std::optional<std::string> pin_id;   // PIN joins only, with pin_mac
  std::optional<std::string> pin_mac;
  static Parsed<JoinRequest> parse(std::string_view json);
  std::string to_json() const;
};

// Its answer.
struct JoinReceipt {
  RequestId request_id;
  std::string service_nonce;
  static Parsed<JoinReceipt> parse(std::string_view json);
  std::string to_json() const;
};

// What an admin device sends a device it accepts: its key bundle (sealed to
// it) and its two certificates.
struct Acceptance {
  Bytes bundle;
  crypto::Certificate signature_certificate;
  crypto::Certificate agreement_certificate;
};

// A join request as the service keeps it and shows it to admin devices
// (GET /v1/accounts/{fingerprint}/requests); once accepted, the service also
// keeps the device's certificates with it.
struct PendingRequest {
  RequestId request_id;
  JoinRequest request;
  std::string service_nonce;
  TimePoint created_at{};
  std::optional<crypto::Certificate> signature_certificate;
  std::optional<crypto::Certificate> agreement_certificate;
  static Parsed<PendingRequest> parse(std::string_view json);
  std::string to_json() const;
};

struct PendingRequests {
  std::vector<PendingRequest> requests;
  static Parsed<PendingRequests> parse(std::string_view json);
  std::string to_json() const;
};

// POST /v1/accounts/{fingerprint}/requests/{id}: accept (with what the
// device gets) or reject.
struct Decision {
  std::optional<Acceptance> accepted;  // nullopt: rejected
  static Parsed<Decision> parse(std::string_view json);
  std::string to_json() const;
};

enum class RequestState { Pending, Accepted, Rejected };
std::string_view to_string(RequestState state) noexcept;

// The answer to a decision.
struct DecisionReceipt {
  RequestId request_id;
  RequestState state = RequestState::Pending;
  static Parsed<DecisionReceipt> parse(std::string_view json);
  std::string to_json() const;
};

// DELETE /v1/accounts/{fingerprint}/requests, signed by the root: every
// pending request rejected at once (a spammed queue).
struct Rejections {
  std::vector<RequestId> rejected;
  static Parsed<Rejections> parse(std::string_view json);
  std::string to_json() const;
};

// GET /v1/requests/{id}, signed by the requesting device: where its request
// stands, with the bundle and certificates once it is accepted.
struct RequestStatus {
  RequestId request_id;
  RequestState state = RequestState::Pending;
  std::optional<Acceptance> accepted;  // exactly when state is Accepted
  static Parsed<RequestStatus> parse(std::string_view json);
  std::string to_json() const;
};

// PUT /v1/accounts/{fingerprint}/devices/{id}/bundle: {"bundle": base64}, a
// newer key bundle for a device.
struct BundleEnvelope {
  Bytes bundle;
  static Parsed<BundleEnvelope> parse(std::string_view json);
  std::string to_json() const;
};

// Its answer.
struct BundleReceipt {
  DeviceId device_id;
  TimePoint updated_at{};
  static Parsed<BundleReceipt> parse(std::string_view json);
  std::string to_json() const;
};

// GET /v1/accounts/{fingerprint}/devices/{id}/bundle, signed by that device.
struct DeviceBundle {
  DeviceId device_id;
  Bytes bundle;
  static Parsed<DeviceBundle> parse(std::string_view json);
  std::string to_json() const;
};

// Trust records (docs/service.md, "Trust records"): each device's log of
// sealed records, numbered from 1. The service sees device ids, numbers and
// sizes, never what a record says.
inline constexpr std::size_t kMaxRecordBytes = 256 * 1024;
// The most records one answer carries (a client asks again for the rest).
inline constexpr std::size_t kMaxRecordsPerAnswer = 500;
// The refusal code of a record whose number is not the device's next one.
inline constexpr std::string_view kRecordOutOfOrderCode = "record_out_of_order";

// POST /v1/accounts/{fingerprint}/records, signed by an active device of
// the profile: the next record of its own log.
struct RecordUpload {
  DeviceId device_id;
  std::int64_t seq = 0;
  Bytes sealed;
  static Parsed<RecordUpload> parse(std::string_view json);
  std::string to_json() const;
};

// One record as the service keeps it, and the answer to an upload.
struct StoredRecord {
  DeviceId device_id;
  std::int64_t seq = 0;
  Bytes sealed;
};
struct RecordReceipt {
  DeviceId device_id;
  std::int64_t seq = 0;
  static Parsed<RecordReceipt> parse(std::string_view json);
  std::string to_json() const;
};

// GET /v1/accounts/{fingerprint}/records?after=DEVICE:SEQ,DEVICE:SEQ,
// signed by an active device: the records after those positions (all of a
// device's not named), oldest first per device, at most
// kMaxRecordsPerAnswer; `heads` is the last number the service holds for
// every device with records.
struct RecordBatch {
  std::vector<StoredRecord> records;
  std::vector<std::pair<DeviceId, std::int64_t>> heads;
  static Parsed<RecordBatch> parse(std::string_view json);
  std::string to_json() const;
};

// The query `after` of a GET of records, and back (nullopt when it does not read).
std::string records_query(const std::vector<std::pair<DeviceId, std::int64_t>>& after);
std::optional<std::vector<std::pair<DeviceId, std::int64_t>>> parse_records_query(std::string_view text);

}  // namespace mailseal::keyservice
