#include "devices/internal/bundle.h"

#include <nlohmann/json.hpp>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/profile/issuing.h"

namespace mailseal::devices::internal {

namespace {

using nlohmann::json;

constexpr std::string_view kType = "mailseal-key-bundle";
constexpr int kVersion = 1;
constexpr std::size_t kSha256Bytes = 32;

std::string text_of(const SecretBytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

template <typename T>
T get(const json& document, const char* name) {
  try {
    return document.at(name).get<T>();
  } catch (const json::exception&) {
    throw Error(ErrorCode::Malformed, std::string("the key bundle's field '") + name + "' is missing or wrong");
  }
}

Bytes get_base64(const json& document, const char* name) {
  try {
    return decode_base64(get<std::string>(document, name));
  } catch (const Error&) {
    throw Error(ErrorCode::Malformed, std::string("the key bundle's field '") + name + "' is not base64");
  }
}

}  // namespace

store::ProfileRecord profile_record_of(const KeyBundle& bundle, bool keys_encrypted, TimePoint created_at) {
  store::ProfileRecord profile;
  profile.fingerprint = bundle.fingerprint;
  profile.name = bundle.name;
  profile.suite = bundle.suite;
  profile.addresses = bundle.addresses;
  profile.root_certificate = bundle.root;
  profile.keys_encrypted = keys_encrypted;
  profile.created_at = created_at;
  return profile;
}

std::pair<store::MailKeyRecord, store::KeyFile> stored_key(const BundleKey& key, const KeyAccess& key_access) {
  crypto::PrivateKey private_key = crypto::PrivateKey::from_pkcs8_pem(
      std::string_view(reinterpret_cast<const char*>(key.pem.data()), key.pem.size()), nullptr);
  store::MailKeyRecord record = key.record;
  store::KeyFile file =
      profile::key_file(record.origin == store::KeyOrigin::Profile ? "mail" : "imported", private_key, key_access);
  record.key_file = file.name;
  record.key_fingerprint =
      crypto::Certificate::from_der(record.certificate).key_fingerprint().to_string(udf::kFullBits);
  return {std::move(record), std::move(file)};
}

std::vector<store::MailKeyRecord> stored_keys(const KeyBundle& bundle, const KeyAccess& key_access,
                                              std::vector<store::KeyFile>& files) {
  std::vector<store::MailKeyRecord> records;
  for (const auto& key : bundle.keys) {
    auto [record, file] = stored_key(key, key_access);
    files.push_back(std::move(file));
    records.push_back(std::move(record));
  }
  return records;
}

namespace {

json devices_json(const std::vector<store::DeviceRecord>& list) {
  json devices = json::array();
  for (const auto& device : list) {
    devices.push_back({{"device_id", device.device_id.str()},
                       {"name", device.name},
                       {"role", store::to_string(device.role)},
                       {"status", store::to_string(device.status)},
                       {"signature_certificate", encode_base64(device.signature_certificate)},
                       {"agreement_certificate", encode_base64(device.agreement_certificate)}});
    if (device.removal_cut) {
      devices.back()["removal_cut"] = {{"seq", device.removal_cut->seq},
                                       {"hash", encode_base64(device.removal_cut->hash)}};
    }
  }
  return devices;
}

json records_keys_json(const std::vector<BundleRecordsKey>& keys) {
  json out = json::array();
  for (const auto& key : keys) {
    out.push_back({{"key_id", key.key_id},
                   {"key", text_of(key.key)},
                   {"status", store::to_string(key.status)}});
  }
  return out;
}

}  // namespace

SecretBytes encode_bundle(const KeyBundle& bundle) {
  json addresses = json::array();
  for (const auto& address : bundle.addresses)
    addresses.push_back(address.str());
  json devices = devices_json(bundle.devices);
  json keys = json::array();
  for (const auto& key : bundle.keys) {
    json chain = json::array();
    for (const auto& link : key.record.chain)
      chain.push_back(encode_base64(link));
    keys.push_back({{"address", key.record.address.str()},
                    {"purpose", store::to_string(key.record.purpose)},
                    {"status", store::to_string(key.record.status)},
                    {"origin", store::to_string(key.record.origin)},
                    {"certificate", encode_base64(key.record.certificate)},
                    {"chain", chain},
                    {"key", text_of(key.pem)}});
  }
  json document = {{"type", kType},
                   {"version", kVersion},
                   {"fingerprint", bundle.fingerprint.str()},
                   {"name", bundle.name},
                   {"suite", store::to_string(bundle.suite)},
                   {"addresses", addresses},
                   {"root", encode_base64(bundle.root)},
                   {"devices", devices},
                   {"keys", keys},
                   {"pin_proof", bundle.pin_proof ? json(*bundle.pin_proof) : json(nullptr)},
                   {"root_key", bundle.root_key ? json(text_of(*bundle.root_key)) : json(nullptr)},
                   {"records_keys", records_keys_json(bundle.records_keys)},
                   {"roster", devices_json(bundle.roster)},
                   {"revoked", bundle.revoked},
                   {"roster_clock", bundle.roster_clock},
                   {"issued_at", to_unix_seconds(bundle.issued_at)}};
  std::string text = document.dump();
  SecretBytes out(text.begin(), text.end());
  secure_wipe(text.data(), text.size());
  return out;
}

namespace {

// A removal's cut (absent from older bundles and for active devices): a
// number and the SHA-256 of that sealed record, or number 0 and no hash.
std::optional<store::RemovalCut> decode_removal_cut(const json& item, store::DeviceStatus status) {
  if (!item.contains("removal_cut"))
    return std::nullopt;
  const Error wrong(ErrorCode::Malformed, "the key bundle's field 'removal_cut' is wrong");
  store::RemovalCut out;
  try {
    const json& cut = item.at("removal_cut");
    out = {get<std::int64_t>(cut, "seq"), get_base64(cut, "hash")};
  } catch (const Error&) {
    throw wrong;
  }
  const bool none = out.seq == 0 && out.hash.empty();
  const bool some = out.seq > 0 && out.hash.size() == kSha256Bytes;
  if (status != store::DeviceStatus::Removed || !(none || some))
    throw wrong;
  return out;
}

std::vector<store::DeviceRecord> decode_devices(const json& document, const char* name) {
  std::vector<store::DeviceRecord> out;
  for (const auto& item : get<std::vector<json>>(document, name)) {
    store::DeviceRecord device;
    device.device_id = DeviceId(get<std::string>(item, "device_id"));
    device.name = get<std::string>(item, "name");
    device.role = store::parse_device_role(get<std::string>(item, "role"));
    device.status = store::parse_device_status(get<std::string>(item, "status"));
    device.signature_certificate = get_base64(item, "signature_certificate");
    device.agreement_certificate = get_base64(item, "agreement_certificate");
    device.removal_cut = decode_removal_cut(item, device.status);
    out.push_back(std::move(device));
  }
  return out;
}

std::vector<BundleRecordsKey> decode_records_keys(const json& document) {
  std::vector<BundleRecordsKey> out;
  if (!document.contains("records_keys"))
    return out;  // an older bundle
  for (const auto& item : get<std::vector<json>>(document, "records_keys")) {
    BundleRecordsKey key;
    key.key_id = get<std::string>(item, "key_id");
    std::string pem = get<std::string>(item, "key");
    key.key.assign(pem.begin(), pem.end());
    secure_wipe(pem.data(), pem.size());
    key.status = store::parse_key_status(get<std::string>(item, "status"));
    out.push_back(std::move(key));
  }
  return out;
}

KeyBundle decode_document(const json& document) {
  if (!document.is_object() || !document.contains("type") || document["type"] != kType) {
    throw Error(ErrorCode::Malformed, "not a mailseal key bundle");
  }
  if (!document.contains("version") || document["version"] != kVersion) {
    throw Error(ErrorCode::Unsupported, "the key bundle was made by another version of mailseal");
  }
  KeyBundle bundle;
  bundle.fingerprint = Identity(get<std::string>(document, "fingerprint"));
  bundle.name = get<std::string>(document, "name");
  bundle.suite = store::parse_suite(get<std::string>(document, "suite"));
  for (const auto& address : get<std::vector<std::string>>(document, "addresses"))
    bundle.addresses.push_back(EmailAddress::parse(address));
  bundle.root = get_base64(document, "root");
  bundle.devices = decode_devices(document, "devices");
  bundle.records_keys = decode_records_keys(document);
  if (document.contains("roster"))
    bundle.roster = decode_devices(document, "roster");
  if (document.contains("revoked"))
    bundle.revoked = get<std::vector<std::string>>(document, "revoked");
  if (document.contains("roster_clock"))
    bundle.roster_clock = get<std::map<std::string, std::int64_t>>(document, "roster_clock");
  for (const auto& item : get<std::vector<json>>(document, "keys")) {
    BundleKey key{store::MailKeyRecord{.address = EmailAddress::parse(get<std::string>(item, "address"))}, {}};
    key.record.purpose = store::parse_key_purpose(get<std::string>(item, "purpose"));
    key.record.status = store::parse_key_status(get<std::string>(item, "status"));
    key.record.origin = store::parse_key_origin(get<std::string>(item, "origin"));
    key.record.certificate = get_base64(item, "certificate");
    for (const auto& link : get<std::vector<std::string>>(item, "chain"))
      key.record.chain.push_back(decode_base64(link));
    std::string pem = get<std::string>(item, "key");
    key.pem.assign(pem.begin(), pem.end());
    secure_wipe(pem.data(), pem.size());
    bundle.keys.push_back(std::move(key));
  }
  if (document.contains("pin_proof") && document["pin_proof"].is_string())
    bundle.pin_proof = document["pin_proof"].get<std::string>();
  if (document.contains("root_key") && document["root_key"].is_string()) {
    std::string pem = document["root_key"].get<std::string>();
    bundle.root_key = SecretBytes(pem.begin(), pem.end());
    secure_wipe(pem.data(), pem.size());
  }
  bundle.issued_at = from_unix_seconds(get<std::int64_t>(document, "issued_at"));
  return bundle;
}

}  // namespace

KeyBundle decode_bundle(ByteView data) {
  json document = json::parse(data.begin(), data.end(), nullptr, false);
  if (document.is_discarded())
    throw Error(ErrorCode::Malformed, "not a mailseal key bundle (not JSON)");
  try {
    return decode_document(document);
  } catch (const json::exception&) {
    // A field of the wrong type that the checks above let through.
    throw Error(ErrorCode::Malformed, "the key bundle has a field of the wrong type");
  }
}

}  // namespace mailseal::devices::internal
