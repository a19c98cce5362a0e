#include "devices/internal/records.h"

#include <algorithm>
#include <ranges>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/store/trust_sync.h"

namespace mailseal::devices::internal {

namespace {

using nlohmann::json;

// A frontier names at most every device the profile lists (removed ones
// included), so an honest record always fits the bound.
static_assert(kMaxFrontierDevices >= keyservice::kMaxDevices, "a frontier may name every device of a profile");

// The largest count a change may carry (days, messages, amounts, depths).
constexpr std::int64_t kMaxCount = 1'000'000'000;

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::Malformed, "a trust record is malformed: " + what);
}

const json& field(const json& object, const char* name) {
  if (!object.is_object() || !object.contains(name))
    malformed(fmt::format("the field '{}' is missing", name));
  return object.at(name);
}

std::string text(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!value.is_string())
    malformed(fmt::format("the field '{}' is not a string", name));
  return value.get<std::string>();
}

std::int64_t integer(const json& object, const char* name, std::int64_t min, std::int64_t max) {
  const json& value = field(object, name);
  if (!value.is_number_integer())
    malformed(fmt::format("the field '{}' is not an integer", name));
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
    malformed(fmt::format("the field '{}' is out of range", name));
  const std::int64_t number = value.get<std::int64_t>();
  if (number < min || number > max)
    malformed(fmt::format("the field '{}' is out of range", name));
  return number;
}

int count(const json& object, const char* name) {
  return static_cast<int>(integer(object, name, 0, kMaxCount));
}

TimePoint time(const json& object, const char* name) {
  return from_unix_seconds(integer(object, name, 0, std::numeric_limits<std::int64_t>::max() / 2));
}

Bytes bytes(const json& object, const char* name) {
  try {
    return decode_base64(text(object, name));
  } catch (const Error&) {
    malformed(fmt::format("the field '{}' is not base64", name));
  }
}

bool boolean(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!value.is_boolean())
    malformed(fmt::format("the field '{}' is not true or false", name));
  return value.get<bool>();
}

std::vector<std::string> texts(const json& object, const char* name) {
  const json& value = field(object, name);
  if (!value.is_array())
    malformed(fmt::format("the field '{}' is not a list", name));
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string())
      malformed(fmt::format("the field '{}' holds something that is not a string", name));
    out.push_back(item.get<std::string>());
  }
  return out;
}

// A fingerprint or an identity as decisions name them (UDF presentations:
// letters, digits, dashes), or "*" where `all` allows it: decisions are
// kept as "VERB TARGET" items (merge.h), so nothing else may get in.
// A fingerprint or device id as mailseal writes them: letters, digits and
// '-' (stored texts use ',' '=' ';' as separators: merge.h frontier_text).
bool plain_id(const std::string& value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string target(const json& object, const char* name, bool all = false) {
  std::string value = text(object, name);
  if (all && value == store::kAllTargets)
    return value;
  if (!plain_id(value))
    malformed(fmt::format("the field '{}' is not a fingerprint", name));
  return value;
}

// A certificate a change carries: what merging it parses, parsed here, so
// that a record that cannot be merged is refused as its writer's before
// anything is applied (review of b30d091, G1: a contact change that was not
// DER failed every sync of every other device).
Bytes certificate(const json& object, const char* name) {
  Bytes der = bytes(object, name);
  try {
    crypto::Certificate::from_der(der);
  } catch (const Error&) {
    malformed(fmt::format("the field '{}' is not a DER certificate", name));
  }
  return der;
}

std::string full_fingerprint(const udf::Fingerprint& fingerprint) {
  return fingerprint.to_string(udf::kFullBits);
}

// An anchor is named by its certificate's fingerprint: a record naming one
// anchor with another's certificate would keep that certificate under the
// name wherever it merged (review of 854b35c, F1).
void check_anchor(const Change& change) {
  if (full_fingerprint(crypto::Certificate::from_der(change.certificate).fingerprint()) != change.fingerprint)
    malformed("an anchor's fingerprint is not its certificate's");
}

// An endorsement change claims no more than its certificate says (review
// of 854b35c, F1: the profile's own endorsement published again with a
// higher amount and depth kept them wherever it merged). What an honest
// writer keeps may say less (second review, F1): an imported one counts a
// lower depth and is kept local; an endorsement of a certificate that is no
// CA carries no name constraints, while the row keeps the scope asked for
// (narrower than none); the certificate names the addresses of the endorsed
// subject's name too, the row only the one endorsed; and the store keeps a
// scope split at commas.
void check_endorsement(const Change& change) {
  const crypto::Certificate certificate = crypto::Certificate::from_der(change.certificate);
  std::optional<crypto::EndorsementTerms> terms;
  try {
    terms = crypto::read_endorsement(certificate);
  } catch (const Error&) {
    malformed("an endorsement's extension is damaged");
  }
  if (!terms)
    malformed("an endorsement's certificate carries no endorsement");
  std::set<std::string> certified;
  for (const auto& address : terms->addresses)
    certified.insert(address.str());
  std::vector<std::string> scope;
  for (const auto& name : terms->scope) {
    for (auto part : name | std::views::split(',')) {
      std::string piece(part.begin(), part.end());
      if (!piece.empty())
        scope.push_back(std::move(piece));
    }
  }
  const std::string kind = terms->kind == crypto::EndorsementTerms::Kind::Rotation ? "rotation" : "endorsement";
  const bool wider_scope = !scope.empty() && change.scope != scope;
  const bool other_addresses = std::any_of(change.addresses.begin(), change.addresses.end(),
                                           [&](const std::string& address) { return !certified.count(address); });
  if (change.amount != terms->amount || change.depth > terms->depth || change.endorsement_kind != kind ||
      (change.exportable && !terms->exportable) || wider_scope || other_addresses ||
      change.subject != full_fingerprint(certificate.key_fingerprint())) {
    malformed("an endorsement says more than its certificate");
  }
}

EmailAddress address(const json& object) {
  try {
    return EmailAddress::parse(text(object, "address"));
  } catch (const Error&) {
    malformed("a change names an address that is not one");
  }
}

json encode_change(const Change& change) {
  json out = {{"kind", change.kind}};
  if (change.address)
    out["address"] = change.address->str();
  if (change.kind == store::kChangePin) {
    out.update({{"fingerprint", change.fingerprint}, {"pin_kind", change.pin_kind}, {"at", to_unix_seconds(change.at)}});
  } else if (change.kind == store::kChangeAnchor) {
    out.update({{"fingerprint", change.fingerprint},
                {"certificate", encode_base64(change.certificate)},
                {"amount", change.amount},
                {"at", to_unix_seconds(change.at)}});
  } else if (change.kind == store::kChangeEndorsement) {
    out.update({{"certificate", encode_base64(change.certificate)},
                {"issuer", change.issuer},
                {"subject", change.subject},
                {"amount", change.amount},
                {"depth", change.depth},
                {"scope", change.scope},
                {"addresses", change.addresses},
                {"endorsement_kind", change.endorsement_kind},
                {"exportable", change.exportable},
                {"at", to_unix_seconds(change.at)}});
  } else if (change.kind == store::kChangeUnpin || change.kind == store::kChangeUnanchor) {
    out.update({{"fingerprint", change.fingerprint}, {"at", to_unix_seconds(change.at)}});
  } else if (change.kind == store::kChangeWithdrawal) {
    out.update({{"issuer", change.issuer}, {"subject", change.subject}, {"at", to_unix_seconds(change.at)}});
  } else if (change.kind == store::kChangeIdentity) {
    out.update({{"fingerprint", change.fingerprint}, {"certificate", encode_base64(change.certificate)}});
  } else if (change.kind == store::kChangeObservation) {
    out.update({{"fingerprint", change.fingerprint},
                {"certificate_fingerprint", change.certificate_fingerprint},
                {"source", change.source},
                {"first_seen", to_unix_seconds(change.first_seen)},
                {"last_seen", to_unix_seconds(change.last_seen)},
                {"days", change.days},
                {"messages", change.messages}});
  } else if (change.kind == store::kChangeContact) {
    out.update({{"certificate", encode_base64(change.certificate)},
                {"capabilities", change.capabilities},
                {"source", change.source},
                {"first_seen", to_unix_seconds(change.first_seen)},
                {"last_seen", to_unix_seconds(change.last_seen)}});
  } else {
    throw Error(ErrorCode::Internal, "a trust record change of an unknown kind");
  }
  return out;
}

Change decode_change(const json& item) {
  Change change;
  change.kind = text(item, "kind");
  if (change.kind == store::kChangePin) {
    change.address = address(item);
    change.fingerprint = target(item, "fingerprint");
    change.pin_kind = text(item, "pin_kind");
    if (change.pin_kind != "pin" && change.pin_kind != "accept")
      malformed("a pin is neither 'pin' nor 'accept'");
    change.at = time(item, "at");
  } else if (change.kind == store::kChangeAnchor) {
    change.fingerprint = target(item, "fingerprint");
    change.certificate = certificate(item, "certificate");
    change.amount = static_cast<int>(integer(item, "amount", 1, 120));
    change.at = time(item, "at");
    check_anchor(change);
  } else if (change.kind == store::kChangeEndorsement) {
    change.certificate = certificate(item, "certificate");
    change.issuer = text(item, "issuer");
    change.subject = text(item, "subject");
    change.amount = static_cast<int>(integer(item, "amount", 0, 120));
    change.depth = static_cast<int>(integer(item, "depth", 0, 255));
    change.scope = texts(item, "scope");
    change.addresses = texts(item, "addresses");
    change.endorsement_kind = text(item, "endorsement_kind");
    if (change.endorsement_kind != "endorsement" && change.endorsement_kind != "rotation")
      malformed("an endorsement of an unknown kind");
    change.exportable = boolean(item, "exportable");
    change.at = time(item, "at");
    check_endorsement(change);
  } else if (change.kind == store::kChangeUnpin) {
    change.address = address(item);
    change.fingerprint = target(item, "fingerprint", true);
    change.at = time(item, "at");
  } else if (change.kind == store::kChangeUnanchor) {
    change.fingerprint = target(item, "fingerprint");
    change.at = time(item, "at");
  } else if (change.kind == store::kChangeWithdrawal) {
    change.issuer = target(item, "issuer");
    change.subject = target(item, "subject");
    change.at = time(item, "at");
  } else if (change.kind == store::kChangeIdentity) {
    change.fingerprint = text(item, "fingerprint");
    change.certificate = certificate(item, "certificate");
  } else if (change.kind == store::kChangeObservation) {
    change.address = address(item);
    change.fingerprint = text(item, "fingerprint");
    change.certificate_fingerprint = text(item, "certificate_fingerprint");
    change.source = text(item, "source");
    change.first_seen = time(item, "first_seen");
    change.last_seen = time(item, "last_seen");
    change.days = count(item, "days");
    change.messages = count(item, "messages");
  } else if (change.kind == store::kChangeContact) {
    change.address = address(item);
    change.certificate = certificate(item, "certificate");
    change.capabilities = text(item, "capabilities");
    change.source = text(item, "source");
    change.first_seen = time(item, "first_seen");
    change.last_seen = time(item, "last_seen");
  } else {
    // Not quoted: the writer's text would reach the warning that names
    // who to remove (review of b30d091, G4).
    malformed("a change of an unknown kind");
  }
  if (change.fingerprint.empty() && change.kind != store::kChangeEndorsement && change.kind != store::kChangeContact &&
      change.kind != store::kChangeWithdrawal)
    malformed("a change names an empty fingerprint");
  return change;
}

json parse_object(ByteView data) {
  json document = json::parse(data.begin(), data.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object())
    malformed("not a JSON object");
  return document;
}

}  // namespace

bool is_decision(const Change& change) {
  return change.kind == store::kChangePin || change.kind == store::kChangeAnchor ||
         change.kind == store::kChangeEndorsement || change.kind == store::kChangeUnpin ||
         change.kind == store::kChangeUnanchor || change.kind == store::kChangeWithdrawal;
}

namespace {

json encode_change_list(const std::vector<Change>& changes) {
  json out = json::array();
  for (const auto& change : changes)
    out.push_back(encode_change(change));
  return out;
}

}  // namespace

std::string encode_changes(const std::vector<Change>& changes) {
  return encode_change_list(changes).dump();
}

std::vector<Change> decode_changes(std::string_view text) {
  json list = json::parse(text.begin(), text.end(), nullptr, false);
  if (list.is_discarded() || !list.is_array())
    malformed("its changes are not a JSON array");
  std::vector<Change> out;
  for (const auto& item : list)
    out.push_back(decode_change(item));
  return out;
}

std::string encode_record(const TrustRecord& record) {
  json frontier = json::object();
  for (const auto& [device, seq] : record.frontier)
    frontier[device.str()] = seq;
  const json changes = encode_change_list(record.changes);
  json document = {{"type", kRecordType},
                   {"version", record.version},
                   {"profile", record.profile.str()},
                   {"device", record.device.str()},
                   {"seq", record.seq},
                   {"previous", to_hex(record.previous)},
                   {"lamport", record.lamport},
                   {"frontier", frontier},
                   {"changes", changes},
                   {"made_at", to_unix_seconds(record.made_at)}};
  if (record.version >= kRecordVersion) {
    json proofs = json::object();
    for (const auto& [device, proof] : record.proofs)
      proofs[device.str()] = {{"digest", to_hex(proof.digest)}, {"signature", encode_base64(proof.signature)}};
    document["proofs"] = proofs;
  }
  return document.dump();
}

namespace {

// The largest DER ECDSA signature (P-521: 139 bytes), with room to spare.
constexpr std::size_t kMaxSignatureBytes = 160;

// Each proof belongs to a frontier entry naming a record (a number above 0).
std::map<DeviceId, HeadProof> decode_proofs(const json& proofs, const std::map<DeviceId, std::int64_t>& frontier) {
  if (!proofs.is_object())
    malformed("the field 'proofs' is not an object");
  std::map<DeviceId, HeadProof> out;
  for (const auto& [device, item] : proofs.items()) {
    auto entry = std::find_if(frontier.begin(), frontier.end(),
                              [&named = device](const auto& pair) { return pair.first.str() == named; });
    if (entry == frontier.end() || entry->second <= 0)
      malformed("a proof names no record of the frontier");
    HeadProof proof;
    try {
      proof.digest = from_hex(text(item, "digest"));
    } catch (const Error&) {
      malformed("a proof's digest is not hexadecimal");
    }
    proof.signature = bytes(item, "signature");
    if (proof.digest.size() != 32 || proof.signature.empty() || proof.signature.size() > kMaxSignatureBytes)
      malformed("a proof's digest or signature is not of a possible size");
    out.emplace(entry->first, std::move(proof));
  }
  return out;
}

TrustRecord decode_document(const json& document) {
  if (text(document, "type") != kRecordType)
    malformed("not a mailseal trust record");
  const auto version = static_cast<int>(integer(document, "version", 0, kMaxCount));
  if (version != kRecordVersion && version != kUnprovenRecordVersion)
    throw Error(ErrorCode::Unsupported, "a trust record was made by another version of mailseal", "upgrade mailseal");
  TrustRecord record;
  record.version = version;
  try {
    record.profile = Identity(text(document, "profile"));
    record.device = DeviceId(text(document, "device"));
  } catch (const Error&) {
    malformed("the profile or device is not an id");
  }
  record.seq = integer(document, "seq", 1, std::numeric_limits<std::int64_t>::max());
  try {
    record.previous = from_hex(text(document, "previous"));
  } catch (const Error&) {
    malformed("the field 'previous' is not hexadecimal");
  }
  if ((record.seq == 1) != record.previous.empty() || (!record.previous.empty() && record.previous.size() != 32))
    malformed("the previous record's hash does not fit the record's number");
  record.lamport = integer(document, "lamport", 1, kMaxLamport);
  const json& frontier = field(document, "frontier");
  if (!frontier.is_object() || frontier.size() > kMaxFrontierDevices)
    malformed("the field 'frontier' is not an object of at most " + std::to_string(kMaxFrontierDevices) + " devices");
  for (const auto& [device, seq] : frontier.items()) {
    if (!seq.is_number_integer() || seq.get<std::int64_t>() < 0)
      malformed("the frontier holds something that is not a record number");
    // Checked here: a name with a separator broke the frontier's stored
    // text, and every later sync of every device (review h, H1).
    if (!plain_id(device))
      malformed("the frontier names something that is not a device id");
    record.frontier[DeviceId(device)] = seq.get<std::int64_t>();
  }
  if (record.version >= kRecordVersion) {
    record.proofs = decode_proofs(field(document, "proofs"), record.frontier);
  } else if (document.contains("proofs")) {
    malformed("a record of version 1 carries proofs");
  }
  const json& changes = field(document, "changes");
  if (!changes.is_array() || changes.size() > kMaxChangesPerRecord)
    malformed("the field 'changes' is not a list of at most " + std::to_string(kMaxChangesPerRecord));
  for (const auto& item : changes) {
    if (!item.is_object())
      malformed("a change is not an object");
    record.changes.push_back(decode_change(item));
  }
  record.made_at = time(document, "made_at");
  return record;
}

}  // namespace

TrustRecord decode_record(ByteView data) {
  json document = parse_object(data);
  try {
    return decode_document(document);
  } catch (const json::exception&) {
    malformed("a field of the wrong type");
  }
}

Bytes record_associated_data(const Identity& profile, const DeviceId& device, std::int64_t seq, ByteView key_id) {
  std::string text = fmt::format("{}\n{}\n{}\n{}\n{}", kRecordType, profile.str(), device.str(), seq, to_hex(key_id));
  return Bytes(text.begin(), text.end());
}

Bytes seal_record(const TrustRecord& record, const crypto::PrivateKey& signature_key,
                  const crypto::Certificate& signature_certificate, ByteView key_id, ByteView records_key) {
  if (key_id.size() != kRecordsKeyIdBytes)
    throw Error(ErrorCode::Internal, "a records key id of the wrong length");
  const std::string record_json = encode_record(record);
  const ByteView signed_bytes = as_bytes(record_json);
  json wrapper = {{"record", encode_base64(signed_bytes)},
                  {"signature", encode_base64(signature_key.sign(signed_bytes))},
                  {"certificate", encode_base64(signature_certificate.der())}};
  if (record.version >= kRecordVersion) {
    const Bytes statement = head_statement(record.profile, record.device, record.seq, crypto::sha256(signed_bytes));
    wrapper["head"] = encode_base64(signature_key.sign(statement));
  }
  const std::string plaintext = wrapper.dump();
  Bytes sealed(key_id.begin(), key_id.end());
  Bytes body = crypto::seal_symmetric(records_key, as_bytes(plaintext),
                                      record_associated_data(record.profile, record.device, record.seq, key_id));
  sealed.insert(sealed.end(), body.begin(), body.end());
  return sealed;
}

RecordRefused::RecordRefused(RecordFault fault, ErrorCode code, const std::string& message, std::string detail)
    : Error(code, message), fault_(fault), detail_(std::move(detail)) {}

Bytes sealed_key_id(ByteView sealed) {
  if (sealed.size() <= kRecordsKeyIdBytes)
    throw RecordRefused(RecordFault::Unopened, ErrorCode::Malformed, "a trust record too short to be a sealed record",
                        "is too short to be a sealed record");
  return Bytes(sealed.begin(), sealed.begin() + kRecordsKeyIdBytes);
}

namespace {

[[noreturn]] void unopened(ErrorCode code, const DeviceId& device, std::int64_t seq, const std::string& what) {
  throw RecordRefused(RecordFault::Unopened, code, fmt::format("record {} of device {} {}", seq, device.str(), what),
                      what);
}

// Bytes the device's key signed that mean to be a trust record: an object
// of the record type. Anything else it signed (a key service request, a
// head statement) replayed as a record is not its doing.
bool meant_as_record(ByteView signed_bytes) {
  const json document = json::parse(signed_bytes.begin(), signed_bytes.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object())
    return false;
  auto type = document.find("type");
  return type != document.end() && type->is_string() && type->get<std::string>() == kRecordType;
}

// The record its device's key signed; a record that does not decode is the
// device's doing unless the bytes never meant to be one.
TrustRecord decode_signed(ByteView signed_bytes, const DeviceId& device, std::int64_t seq) {
  try {
    return decode_record(signed_bytes);
  } catch (const Error& error) {
    if (!meant_as_record(signed_bytes))
      unopened(ErrorCode::BadSignature, device, seq, "is something its key signed that is not a trust record");
    const std::string what =
        fmt::format("record {} of device {}, signed by it, cannot be read: {}", seq, device.str(), error.what());
    if (error.code() == ErrorCode::Unsupported)
      throw RecordRefused(RecordFault::Newer, ErrorCode::Unsupported, what, error.what());
    throw RecordRefused(RecordFault::Malformed, ErrorCode::Malformed, what, error.what());
  }
}

// The wrapper's parts, opened under the records key and verified: signed
// by the device's own key, certified by the profile's root.
SignedRecord open_wrapper(ByteView sealed, const Identity& profile, const DeviceId& device, std::int64_t seq,
                          ByteView records_key, const crypto::Certificate& root, json& wrapper) {
  const Bytes key_id = sealed_key_id(sealed);
  SecretBytes plaintext;
  try {
    plaintext = crypto::open_symmetric(records_key, sealed.subspan(kRecordsKeyIdBytes),
                                       record_associated_data(profile, device, seq, key_id));
  } catch (const Error& error) {
    unopened(ErrorCode::BadSignature, device, seq,
             fmt::format("was altered or is not where it was written ({})", error.what()));
  }
  std::optional<SignedRecord> read;
  try {
    wrapper = parse_object(ByteView(plaintext.data(), plaintext.size()));
    read.emplace(SignedRecord{{},
                              bytes(wrapper, "record"),
                              bytes(wrapper, "signature"),
                              crypto::Certificate::from_der(bytes(wrapper, "certificate")),
                              {}});
  } catch (const Error& error) {
    unopened(error.code(), device, seq, fmt::format("does not read ({})", error.what()));
  }
  SignedRecord& out = *read;
  if (out.signer.is_ca() || !out.signer.is_issued_by(root) ||
      keyservice::device_id_of(out.signer.public_key()) != device) {
    unopened(ErrorCode::BadSignature, device, seq, "is not signed by that device of this profile");
  }
  if (!out.signer.public_key().verify(out.record_json, out.signature))
    unopened(ErrorCode::BadSignature, device, seq, "has a signature that does not verify");
  return std::move(out);
}

}  // namespace

SignedRecord open_record(ByteView sealed, const Identity& profile, const DeviceId& device, std::int64_t seq,
                         ByteView records_key, const crypto::Certificate& root) {
  json wrapper;
  SignedRecord out = open_wrapper(sealed, profile, device, seq, records_key, root, wrapper);
  out.record = decode_signed(out.record_json, device, seq);
  // Signed by the device, but placed elsewhere: only a holder of the
  // records key seals, so the device or the service with one.
  if (out.record.profile != profile || out.record.device != device || out.record.seq != seq)
    unopened(ErrorCode::BadSignature, device, seq, "says it is another record");
  if (out.record.version >= kRecordVersion) {
    // Checked here, so that every device that merges the record can prove
    // it in its own frontier later.
    try {
      out.head_signature = bytes(wrapper, "head");
    } catch (const Error& error) {
      unopened(error.code(), device, seq, fmt::format("lacks its head statement ({})", error.what()));
    }
    const Bytes statement = head_statement(profile, device, seq, crypto::sha256(out.record_json));
    if (!out.signer.public_key().verify(statement, out.head_signature))
      unopened(ErrorCode::BadSignature, device, seq, "has a head statement that does not verify");
  } else if (wrapper.contains("head")) {
    unopened(ErrorCode::Malformed, device, seq, "is of version 1 and carries a head statement");
  }
  return out;
}

Bytes head_statement(const Identity& profile, const DeviceId& device, std::int64_t seq, ByteView digest) {
  std::string text =
      fmt::format("{}\n{}\n{}\n{}\n{}", kHeadStatementType, profile.str(), device.str(), seq, to_hex(digest));
  return Bytes(text.begin(), text.end());
}

std::optional<HeadProof> head_proof_of(const SignedRecord& record) {
  if (record.record.version < kRecordVersion)
    return std::nullopt;
  return HeadProof{crypto::sha256(record.record_json), record.head_signature};
}

bool head_proof_holds(const HeadProof& proof, const Identity& profile, const DeviceId& named, std::int64_t seq,
                      const crypto::Certificate& named_certificate) {
  if (proof.digest.size() != 32 || keyservice::device_id_of(named_certificate.public_key()) != named)
    return false;
  return named_certificate.public_key().verify(head_statement(profile, named, seq, proof.digest), proof.signature);
}

EntryProof judge_frontier_entry(const TrustRecord& record, const DeviceId& named, std::int64_t seq,
                                const crypto::Certificate* named_certificate, bool named_signs_proofs) {
  if (seq <= 0)
    return EntryProof::Unproven;
  // A frontier names what its writer merged of the other devices: an entry
  // naming the writer itself, proof or not, is never honest (review of
  // issue 14, fifth round: a stolen device named itself far ahead and got
  // the key service blamed).
  if (named == record.device)
    return EntryProof::Forged;
  // A device writing version 1 cannot read version 2, so it never merged a
  // record of the named device past its first of version 2.
  if (record.version < kRecordVersion)
    return named_signs_proofs ? EntryProof::Forged : EntryProof::Unproven;
  auto proof = record.proofs.find(named);
  if (proof == record.proofs.end())
    return named_signs_proofs ? EntryProof::Forged : EntryProof::Unproven;
  if (named_certificate == nullptr)
    return EntryProof::Unproven;
  return head_proof_holds(proof->second, record.profile, named, seq, *named_certificate) ? EntryProof::Proven
                                                                                         : EntryProof::Forged;
}

bool downgrades(int previous_version, const TrustRecord& next) {
  return previous_version >= kRecordVersion && next.version < kRecordVersion;
}

}  // namespace mailseal::devices::internal
