// The documents of connecting a device: invitations, join requests and the
// decisions on them, and the key bundles that follow.

#include <limits>

#include <fmt/format.h>

#include "keyservice/internal/fields.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"

namespace mailseal::keyservice {

using namespace internal;

namespace {

constexpr std::size_t kMaxPinIdLength = 128;
constexpr std::size_t kMaxPinMacLength = 256;
constexpr std::size_t kMaxNonceLength = 64;
constexpr std::size_t kMaxStateLength = 16;
constexpr std::string_view kAccept = "accept";
constexpr std::string_view kReject = "reject";

bool is_lower_hex(std::string_view text, std::size_t length) {
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<std::string> optional_field_text(const Fields& fields, std::string_view name, std::size_t max_bytes) {
  std::optional<Value> value = fields.optional(name);
  return value ? std::optional(value->text(max_bytes)) : std::nullopt;
}

std::string device_name(const Value& value) {
  std::string name = value.text(kMaxDeviceNameLength);
  if (!device_name_allowed(name))
    value.fail(FaultKind::BadField, fmt::format("must be 1 to {} bytes", kMaxDeviceNameLength));
  return name;
}

std::string nonce(const Value& value) {
  std::string text = value.text(kMaxNonceLength);
  if (!is_lower_hex(text, kNonceHexDigits))
    value.fail(FaultKind::BadField, fmt::format("must be {} lower-case hex digits", kNonceHexDigits));
  return text;
}

// The fields a joining device sends; the service keeps them flat in its own
// record of the request.
JoinRequest read_join_fields(const Fields& fields) {
  JoinRequest request{device_name(fields["device_name"]),
                      fields["signature_key"].bytes(kMaxKeyBytes),
                      fields["agreement_key"].bytes(kMaxKeyBytes),
                      nonce(fields["device_nonce"]),
                      optional_field_text(fields, "pin_id", kMaxPinIdLength),
                      optional_field_text(fields, "pin_mac", kMaxPinMacLength)};
  if (request.pin_id.has_value() != request.pin_mac.has_value())
    throw FaultFound{Fault{FaultKind::BadField, "pin_id", "and 'pin_mac' go together"}};
  return request;
}

json join_json(const JoinRequest& request) {
  return {{"device_name", request.device_name},
          {"signature_key", base64_of(request.signature_key)},
          {"agreement_key", base64_of(request.agreement_key)},
          {"device_nonce", request.device_nonce}};
}

RequestState read_state(const Value& value) {
  std::string text = value.text(kMaxStateLength);
  for (RequestState state : {RequestState::Pending, RequestState::Accepted, RequestState::Rejected}) {
    if (text == to_string(state))
      return state;
  }
  value.fail(FaultKind::BadField, "must be pending, accepted or rejected");
}

}  // namespace

namespace internal {

Acceptance read_acceptance(const Fields& fields) {
  return Acceptance{fields["bundle"].bytes(kMaxBodyBytes), fields["signature_certificate"].certificate(),
                    fields["agreement_certificate"].certificate()};
}

void write_acceptance(json& document, const Acceptance& acceptance) {
  document["bundle"] = base64_of(acceptance.bundle);
  document["signature_certificate"] = base64_of(acceptance.signature_certificate);
  document["agreement_certificate"] = base64_of(acceptance.agreement_certificate);
}

}  // namespace internal

std::string_view to_string(RequestState state) noexcept {
  switch (state) {
    case RequestState::Pending:
      return "pending";
    case RequestState::Accepted:
      return "accepted";
    case RequestState::Rejected:
      return "rejected";
  }
  return "pending";
}

Parsed<Invitation> Invitation::parse(std::string_view text) {
  return parse_document<Invitation>(text, [](const Fields& fields) {
    return Invitation{fields["pin_id"].text(kMaxPinIdLength), fields["expires_at"].time()};
  });
}

std::string Invitation::to_json() const {
  return dump({{"pin_id", pin_id}, {"expires_at", to_unix_seconds(expires_at)}});
}

Parsed<JoinRequest> JoinRequest::parse(std::string_view text) {
  return parse_document<JoinRequest>(text, read_join_fields);
}

std::string JoinRequest::to_json() const {
  json document = join_json(*this);
  if (pin_id)
    document["pin_id"] = *pin_id;
  if (pin_mac)
    document["pin_mac"] = *pin_mac;
  return dump(document);
}

Parsed<JoinReceipt> JoinReceipt::parse(std::string_view text) {
  return parse_document<JoinReceipt>(text, [](const Fields& fields) {
    return JoinReceipt{RequestId(fields["request_id"].text()), nonce(fields["service_nonce"])};
  });
}

std::string JoinReceipt::to_json() const {
  return dump({{"request_id", request_id.str()}, {"service_nonce", service_nonce}});
}

namespace {

PendingRequest read_pending(const Fields& fields) {
  std::optional<Value> signature = fields.optional("signature_certificate");
  std::optional<Value> agreement = fields.optional("agreement_certificate");
  return PendingRequest{RequestId(fields["request_id"].text()),
                        read_join_fields(fields),
                        nonce(fields["service_nonce"]),
                        fields["created_at"].time(),
                        signature ? std::optional(signature->certificate()) : std::nullopt,
                        agreement ? std::optional(agreement->certificate()) : std::nullopt};
}

json pending_json(const PendingRequest& pending) {
  json document = join_json(pending.request);
  document["request_id"] = pending.request_id.str();
  document["service_nonce"] = pending.service_nonce;
  document["pin_id"] = text_or_null(pending.request.pin_id);
  document["pin_mac"] = text_or_null(pending.request.pin_mac);
  document["created_at"] = to_unix_seconds(pending.created_at);
  if (pending.signature_certificate)
    document["signature_certificate"] = base64_of(*pending.signature_certificate);
  if (pending.agreement_certificate)
    document["agreement_certificate"] = base64_of(*pending.agreement_certificate);
  return document;
}

}  // namespace

Parsed<PendingRequest> PendingRequest::parse(std::string_view text) {
  return parse_document<PendingRequest>(text, read_pending);
}

std::string PendingRequest::to_json() const {
  return dump(pending_json(*this));
}

Parsed<PendingRequests> PendingRequests::parse(std::string_view text) {
  return parse_document<PendingRequests>(text, [](const Fields& fields) {
    return PendingRequests{
        fields["requests"].list(kMaxPendingRequests + kMaxOpenInvitations,
                                [](const Value& item) { return read_pending(item.object()); })};
  });
}

std::string PendingRequests::to_json() const {
  json list = json::array();
  for (const auto& pending : requests)
    list.push_back(pending_json(pending));
  return dump({{"requests", list}});
}

Parsed<Decision> Decision::parse(std::string_view text) {
  return parse_document<Decision>(text, [](const Fields& fields) {
    Value decision = fields["decision"];
    std::string verdict = decision.text(kMaxStateLength);
    if (verdict == kAccept)
      return Decision{read_acceptance(fields)};
    if (verdict != kReject)
      decision.fail(FaultKind::BadField, "is accept or reject");
    return Decision{std::nullopt};
  });
}

std::string Decision::to_json() const {
  json document = {{"decision", std::string(accepted ? kAccept : kReject)}};
  if (accepted)
    write_acceptance(document, *accepted);
  return dump(document);
}

Parsed<DecisionReceipt> DecisionReceipt::parse(std::string_view text) {
  return parse_document<DecisionReceipt>(text, [](const Fields& fields) {
    return DecisionReceipt{RequestId(fields["request_id"].text()), read_state(fields["status"])};
  });
}

std::string DecisionReceipt::to_json() const {
  return dump({{"request_id", request_id.str()}, {"status", std::string(to_string(state))}});
}

Parsed<Rejections> Rejections::parse(std::string_view text) {
  return parse_document<Rejections>(text, [](const Fields& fields) {
    return Rejections{fields["rejected"].list(kMaxPendingRequests + kMaxOpenInvitations,
                                              [](const Value& item) { return RequestId(item.text()); })};
  });
}

std::string Rejections::to_json() const {
  json list = json::array();
  for (const auto& id : rejected)
    list.push_back(id.str());
  return dump({{"rejected", list}});
}

Parsed<RequestStatus> RequestStatus::parse(std::string_view text) {
  return parse_document<RequestStatus>(text, [](const Fields& fields) {
    RequestStatus status{RequestId(fields["request_id"].text()), read_state(fields["status"]), std::nullopt};
    if (status.state == RequestState::Accepted)
      status.accepted = read_acceptance(fields);
    return status;
  });
}

std::string RequestStatus::to_json() const {
  json document = {{"request_id", request_id.str()},
                   {"status", std::string(to_string(state))},
                   {"bundle", nullptr},
                   {"signature_certificate", nullptr},
                   {"agreement_certificate", nullptr}};
  if (accepted)
    write_acceptance(document, *accepted);
  return dump(document);
}

Parsed<BundleEnvelope> BundleEnvelope::parse(std::string_view text) {
  return parse_document<BundleEnvelope>(
      text, [](const Fields& fields) { return BundleEnvelope{fields["bundle"].bytes(kMaxBodyBytes)}; });
}

std::string BundleEnvelope::to_json() const {
  return dump({{"bundle", base64_of(bundle)}});
}

Parsed<BundleReceipt> BundleReceipt::parse(std::string_view text) {
  return parse_document<BundleReceipt>(text, [](const Fields& fields) {
    return BundleReceipt{DeviceId(fields["device_id"].text()), fields["updated_at"].time()};
  });
}

std::string BundleReceipt::to_json() const {
  return dump({{"device_id", device_id.str()}, {"updated_at", to_unix_seconds(updated_at)}});
}

Parsed<DeviceBundle> DeviceBundle::parse(std::string_view text) {
  return parse_document<DeviceBundle>(text, [](const Fields& fields) {
    return DeviceBundle{DeviceId(fields["device_id"].text()), fields["bundle"].bytes(kMaxBodyBytes)};
  });
}

std::string DeviceBundle::to_json() const {
  return dump({{"device_id", device_id.str()}, {"bundle", base64_of(bundle)}});
}

namespace {

constexpr std::int64_t kMaxSeq = std::numeric_limits<std::int64_t>::max() / 2;

StoredRecord read_stored_record(const Fields& fields) {
  return StoredRecord{DeviceId(fields["device_id"].text()), fields["seq"].integer(1, kMaxSeq),
                      fields["sealed"].bytes(kMaxRecordBytes)};
}

}  // namespace

Parsed<RecordUpload> RecordUpload::parse(std::string_view text) {
  return parse_document<RecordUpload>(text, [](const Fields& fields) {
    StoredRecord record = read_stored_record(fields);
    return RecordUpload{record.device_id, record.seq, std::move(record.sealed)};
  });
}

std::string RecordUpload::to_json() const {
  return dump({{"device_id", device_id.str()}, {"seq", seq}, {"sealed", base64_of(sealed)}});
}

Parsed<RecordReceipt> RecordReceipt::parse(std::string_view text) {
  return parse_document<RecordReceipt>(text, [](const Fields& fields) {
    return RecordReceipt{DeviceId(fields["device_id"].text()), fields["seq"].integer(1, kMaxSeq)};
  });
}

std::string RecordReceipt::to_json() const {
  return dump({{"device_id", device_id.str()}, {"seq", seq}});
}

Parsed<RecordBatch> RecordBatch::parse(std::string_view text) {
  return parse_document<RecordBatch>(text, [](const Fields& fields) {
    RecordBatch batch;
    batch.records = fields["records"].list(kMaxRecordsPerAnswer,
                                           [](const Value& item) { return read_stored_record(item.object()); });
    batch.heads = fields["heads"].list(kMaxRecordsPerAnswer, [](const Value& item) {
      Fields head = item.object();
      return std::make_pair(DeviceId(head["device_id"].text()), head["seq"].integer(1, kMaxSeq));
    });
    return batch;
  });
}

std::string RecordBatch::to_json() const {
  json records_json = json::array();
  for (const auto& record : records) {
    records_json.push_back(
        {{"device_id", record.device_id.str()}, {"seq", record.seq}, {"sealed", base64_of(record.sealed)}});
  }
  json heads_json = json::array();
  for (const auto& [device, seq] : heads)
    heads_json.push_back({{"device_id", device.str()}, {"seq", seq}});
  return dump({{"records", records_json}, {"heads", heads_json}});
}

std::string records_query(const std::vector<std::pair<DeviceId, std::int64_t>>& after) {
  std::string out;
  for (const auto& [device, seq] : after) {
    if (!out.empty())
      out.push_back(',');
    out += device.str() + ":" + std::to_string(seq);
  }
  return out;
}

std::optional<std::vector<std::pair<DeviceId, std::int64_t>>> parse_records_query(std::string_view text) {
  std::vector<std::pair<DeviceId, std::int64_t>> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view item = text.substr(start, end - start);
    std::size_t colon = item.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == item.size() || colon + 19 < item.size() ||
        out.size() >= kMaxRecordsPerAnswer)
      return std::nullopt;
    std::int64_t seq = 0;
    for (char c : item.substr(colon + 1)) {
      if (c < '0' || c > '9')
        return std::nullopt;
      seq = seq * 10 + (c - '0');
    }
    out.emplace_back(DeviceId(std::string(item.substr(0, colon))), seq);
    start = end + 1;
  }
  return out;
}

}  // namespace mailseal::keyservice
