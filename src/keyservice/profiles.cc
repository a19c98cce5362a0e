// The documents about published profiles: publishing, what the service hands
// out, the escrow, and the small answers and errors around them.

#include <fmt/format.h>

#include "keyservice/internal/fields.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"

namespace mailseal::keyservice {

using internal::base64_of;
using internal::dump;
using internal::Fields;
using internal::json;
using internal::Value;

namespace internal {

namespace {

constexpr std::size_t kMaxDeviceIdLength = 64;
constexpr std::size_t kMaxStateLength = 16;
constexpr std::size_t kMaxEscrowIdLength = 128;
constexpr std::size_t kMaxClaimStateLength = 16;
constexpr std::size_t kMaxTokenLength = 256;

}  // namespace

DeviceEntry read_device(const Value& value) {
  Fields fields = value.object();
  return DeviceEntry{DeviceId(fields["device_id"].text(kMaxDeviceIdLength)),
                     fields["name"].text(kMaxDeviceNameLength),
                     fields["role"].text(kMaxStateLength),
                     fields["status"].text(kMaxStateLength),
                     fields["signature_certificate"].certificate(),
                     fields["agreement_certificate"].certificate()};
}

json device_json(const DeviceEntry& device) {
  return {{"device_id", device.device_id.str()},
          {"name", device.name},
          {"role", device.role},
          {"status", device.status},
          {"signature_certificate", base64_of(device.signature_certificate)},
          {"agreement_certificate", base64_of(device.agreement_certificate)}};
}

namespace {

std::vector<crypto::Certificate> read_certificates(const Value& value) {
  return value.list(kMaxCertificates, [](const Value& item) { return item.certificate(); });
}

std::vector<Bytes> read_revocations(const Value& value) {
  return value.list(kMaxRevocations, [](const Value& item) { return item.bytes(kMaxBodyBytes); });
}

std::vector<DeviceEntry> read_devices(const Value& value) {
  return value.list(kMaxDevices, read_device);
}

json certificates_json(const std::vector<crypto::Certificate>& certificates) {
  json out = json::array();
  for (const auto& certificate : certificates)
    out.push_back(base64_of(certificate));
  return out;
}

json revocations_json(const std::vector<Bytes>& revocations) {
  json out = json::array();
  for (const auto& revocation : revocations)
    out.push_back(base64_of(revocation));
  return out;
}

json devices_json(const std::vector<DeviceEntry>& devices) {
  json out = json::array();
  for (const auto& device : devices)
    out.push_back(device_json(device));
  return out;
}

EmailAddress read_address(const Value& value) {
  std::string text = value.text();
  if (!EmailAddress::is_valid(text))
    value.fail(FaultKind::BadField, "must be an email address");
  return EmailAddress::parse(text);
}

EscrowReference read_escrow(const Value& value) {
  Fields fields = value.object();
  return EscrowReference{fields["id"].text(kMaxEscrowIdLength), fields["data"].bytes(kMaxBodyBytes)};
}

std::string optional_endorsements(const Fields& fields) {
  auto value = fields.optional("endorsements");
  return value ? value->text(kMaxEndorsementText) : std::string();
}

}  // namespace

}  // namespace internal

using namespace internal;

Parsed<Health> Health::parse(std::string_view text) {
  return parse_document<Health>(text, [](const Fields& fields) { return Health{fields["status"].text()}; });
}

std::string Health::to_json() const {
  return dump({{"status", status}});
}

Parsed<ErrorDocument> ErrorDocument::parse(std::string_view text) {
  return parse_document<ErrorDocument>(text, [](const Fields& fields) {
    Fields error = fields["error"].object();
    return ErrorDocument{error["code"].text(), error["message"].text(kMaxBodyBytes)};
  });
}

std::string ErrorDocument::to_json() const {
  return dump({{"error", {{"code", code}, {"message", message}}}});
}

Parsed<Publication> Publication::parse(std::string_view text) {
  return parse_document<Publication>(text, [](const Fields& fields) {
    std::optional<Value> escrow_value = fields.optional("escrow");
    return Publication{
        fields["root"].certificate(),    read_certificates(fields["certificates"]),
        optional_endorsements(fields),   read_revocations(fields["revocations"]),
        read_devices(fields["devices"]), escrow_value ? std::optional(read_escrow(*escrow_value)) : std::nullopt};
  });
}

std::string Publication::to_json() const {
  json document = {{"root", base64_of(root)},
                   {"certificates", certificates_json(certificates)},
                   {"endorsements", endorsements},
                   {"revocations", revocations_json(revocations)},
                   {"devices", devices_json(devices)}};
  if (escrow)
    document["escrow"] = {{"id", escrow->id}, {"data", base64_of(escrow->data)}};
  return dump(document);
}

namespace {

AddressClaim read_claim(const Fields& fields) {
  return AddressClaim{fields["address"].text(), fields["state"].text(kMaxClaimStateLength)};
}

json claim_json(const AddressClaim& claim) {
  return {{"address", claim.address}, {"state", claim.state}};
}

}  // namespace

Parsed<AddressClaim> AddressClaim::parse(std::string_view text) {
  return parse_document<AddressClaim>(text, read_claim);
}

std::string AddressClaim::to_json() const {
  return dump(claim_json(*this));
}

Parsed<PublishReceipt> PublishReceipt::parse(std::string_view text) {
  return parse_document<PublishReceipt>(text, [](const Fields& fields) {
    std::optional<Value> listed_claims = fields.optional("claims");
    return PublishReceipt{Identity(fields["fingerprint"].text()),
                          fields["addresses"].list(kMaxAddresses, [](const Value& item) { return item.text(); }),
                          fields["updated_at"].time(),
                          listed_claims
                              ? listed_claims->list(kMaxAddresses, [](const Value& item) { return read_claim(item.object()); })
                              : std::vector<AddressClaim>{}};
  });
}

std::string PublishReceipt::to_json() const {
  json listed = json::array();
  for (const auto& claim : claims)
    listed.push_back(claim_json(claim));
  return dump({{"fingerprint", fingerprint.str()},
               {"addresses", addresses},
               {"updated_at", to_unix_seconds(updated_at)},
               {"claims", listed}});
}

Parsed<Confirmation> Confirmation::parse(std::string_view text) {
  return parse_document<Confirmation>(
      text, [](const Fields& fields) { return Confirmation{fields["token"].text(kMaxTokenLength)}; });
}

std::string Confirmation::to_json() const {
  return dump({{"token", token}});
}

Parsed<PublishedProfile> PublishedProfile::parse(std::string_view text) {
  return parse_document<PublishedProfile>(text, [](const Fields& fields) {
    std::optional<Value> updated = fields.optional("updated_at");
    std::optional<Value> verified_field = fields.optional("verified");
    return PublishedProfile{Identity(fields["fingerprint"].text()),
                            fields["root"].certificate(),
                            fields["addresses"].list(kMaxAddresses, read_address),
                            read_certificates(fields["certificates"]),
                            optional_endorsements(fields),
                            read_revocations(fields["revocations"]),
                            read_devices(fields["devices"]),
                            updated ? std::optional(updated->time()) : std::nullopt,
                            verified_field ? std::optional(verified_field->boolean()) : std::nullopt};
  });
}

std::string PublishedProfile::to_json() const {
  json listed = json::array();
  for (const auto& address : addresses)
    listed.push_back(address.str());
  json document = {{"fingerprint", fingerprint.str()},
                   {"root", base64_of(root)},
                   {"addresses", listed},
                   {"certificates", certificates_json(certificates)},
                   {"endorsements", endorsements},
                   {"revocations", revocations_json(revocations)},
                   {"devices", devices_json(devices)}};
  if (updated_at)
    document["updated_at"] = to_unix_seconds(*updated_at);
  if (verified)
    document["verified"] = *verified;
  return dump(document);
}

Parsed<EscrowAnswer> EscrowAnswer::parse(std::string_view text) {
  return parse_document<EscrowAnswer>(text, [](const Fields& fields) {
    return EscrowAnswer{Identity(fields["fingerprint"].text()), fields["escrow"].bytes(kMaxBodyBytes)};
  });
}

std::string EscrowAnswer::to_json() const {
  return dump({{"fingerprint", fingerprint.str()}, {"escrow", base64_of(escrow)}});
}

}  // namespace mailseal::keyservice
