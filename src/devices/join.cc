// Joining a profile: the new device's side, from its request to the store
// made from the key bundle an admin device sent.

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "devices/internal/steps.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/devices/pairing.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"

namespace mailseal::devices {

using namespace internal;

namespace {

using nlohmann::json;

constexpr std::string_view kJoinFile = "join.json";
constexpr std::size_t kMaxJoinFile = 64 * 1024;
constexpr std::size_t kNonceBytes = 16;

std::filesystem::path join_file(const std::filesystem::path& home) {
  return home / kJoinFile;
}

void prepare_home(const std::filesystem::path& home) {
  std::error_code error;
  std::filesystem::create_directories(home, error);
  if (error || !std::filesystem::is_directory(home)) {
    throw Error(ErrorCode::Io, fmt::format("cannot create {}", home.string()));
  }
  std::filesystem::permissions(home, std::filesystem::perms::owner_all, error);
}

struct JoinState {
  json document;
  static JoinState read(const std::filesystem::path& home) {
    SecretBytes text = read_secret_file(join_file(home), kMaxJoinFile);
    json document = json::parse(text.begin(), text.end(), nullptr, false);
    if (document.is_discarded() || !document.is_object())
      throw Error(ErrorCode::Malformed, "the pending join is damaged; remove join.json and join again");
    return JoinState{std::move(document)};
  }
  std::string text(const char* name) const { return document.at(name).get<std::string>(); }
  crypto::PrivateKey key(const char* name, const KeyAccess& key_access) const {
    return profile::read_key_file_pem(text(name), key_access);
  }
  crypto::Certificate root() const { return crypto::Certificate::from_der(decode_base64(text("root"))); }
};

}  // namespace

bool join_pending(const std::filesystem::path& home) {
  return std::filesystem::exists(join_file(home));
}

std::string pending_join_service(const std::filesystem::path& home) {
  return JoinState::read(home).text("service");
}

JoinTicket join(const std::filesystem::path& home, keyservice::Client& client, const JoinOptions& options,
                TimePoint now) {
  if (store::LocalStore::exists(home)) {
    throw Error(ErrorCode::AlreadyExists, fmt::format("{} holds a profile already", home.string()),
                "join with a new --home DIR for this device");
  }
  if (join_pending(home)) {
    throw Error(ErrorCode::AlreadyExists, "this home is waiting to join already",
                "run 'mailseal sync' to finish, or remove join.json to start again");
  }
  if (!keyservice::device_name_allowed(options.device_name)) {
    throw Error(ErrorCode::Usage,
                fmt::format("a device name has 1 to {} characters", keyservice::kMaxDeviceNameLength));
  }
  std::optional<std::string> pin;
  if (options.pin)
    pin = canonical_pin(*options.pin);

  const crypto::Certificate root = fetch_profile(client, options.address).root;
  const Identity fingerprint = keyservice::profile_fingerprint_of(root);

  crypto::PrivateKey signature_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  crypto::PrivateKey agreement_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  Bytes signature_spki = signature_key.public_key().spki_der();
  Bytes agreement_spki = agreement_key.public_key().spki_der();
  const std::string device_nonce = to_hex(crypto::random_bytes(kNonceBytes));
  keyservice::JoinRequest request{options.device_name, signature_spki, agreement_spki, device_nonce, {}, {}};
  std::optional<SecretBytes> mac_key;
  if (pin) {
    mac_key = pin_mac_key(*pin);
    request.pin_id = pin_id(*pin);
    request.pin_mac =
        join_pin_mac(*mac_key, fingerprint, signature_spki, agreement_spki, device_nonce, options.device_name);
  }
  KeySigner signer(std::move(signature_key), std::string(keyservice::kJoiningDeviceKey), now);
  keyservice::JoinReceipt receipt = client.join(fingerprint, request, signer.signer);
  const RequestId& request_id = receipt.request_id;

  JoinTicket ticket{keyservice::device_id_of(signer.key.public_key()),
                    compute_witness(fingerprint, signature_spki, agreement_spki, device_nonce, receipt.service_nonce),
                    request_id, fingerprint};
  json state = {{"service", client.url()},
                {"address", options.address.str()},
                {"fingerprint", fingerprint.str()},
                {"root", encode_base64(root.der())},
                {"request_id", request_id.str()},
                {"device_name", options.device_name},
                {"device_id", ticket.device_id.str()},
                {"witness", ticket.witness},
                {"keys_encrypted", options.key_access.encrypted()},
                {"signature_key", as_string_view(profile::key_file_pem(signer.key, options.key_access))},
                {"agreement_key", as_string_view(profile::key_file_pem(agreement_key, options.key_access))},
                {"pin_mac_key", mac_key ? json(to_hex(*mac_key)) : json(nullptr)},
                {"created_at", to_unix_seconds(now)}};
  prepare_home(home);
  std::string text = state.dump(2);
  write_new_file(join_file(home), as_bytes(text), FileMode::Private);
  secure_wipe(text.data(), text.size());
  return ticket;
}

namespace internal {

// The accepted join: the store is made from the bundle, and the pending
// state goes.
SyncReport complete_join(const std::filesystem::path& home, keyservice::Client& client, const KeyAccess& key_access,
                         TimePoint now) {
  JoinState state = JoinState::read(home);
  const bool encrypted = state.document.value("keys_encrypted", false);
  if (encrypted && !key_access.encrypted()) {
    throw Error(ErrorCode::BadPassword, "this device's keys are encrypted and no passphrase was given",
                "give --passphrase-file FILE or MAILSEAL_PASSPHRASE");
  }
  KeySigner signer(state.key("signature_key", key_access), std::string(keyservice::kJoiningDeviceKey), now);
  crypto::PrivateKey agreement_key = state.key("agreement_key", key_access);
  std::optional<keyservice::RequestStatus> status =
      client.request_status(RequestId(state.text("request_id")), signer.signer);
  if (!status) {
    // The service deleted the request: rejected or expired, and kept no
    // longer than its join retention. It cannot be accepted any more.
    std::filesystem::remove(join_file(home));
    throw Error(ErrorCode::RejectedByPolicy,
                fmt::format("the key service at {} no longer holds this device's request to join: it was rejected, "
                            "or it expired, and the service deleted it",
                            client.url()),
                "nothing was stored; ask for a new invitation ('mailseal device invite' on an admin device) and "
                "run 'mailseal device join --pin PIN' here again");
  }
  const keyservice::RequestStatus& answer = *status;
  SyncReport report;
  if (answer.state == keyservice::RequestState::Pending) {
    report.waiting = true;
    return report;
  }
  if (answer.state != keyservice::RequestState::Accepted) {
    std::filesystem::remove(join_file(home));
    throw Error(ErrorCode::RejectedByPolicy,
                "this device's request to join was rejected (by an admin device, or by the key service: it waited "
                "longer than the service keeps requests, or too many others came after it)",
                "nothing was stored; join again, with a PIN from 'mailseal device invite' if the queue is busy");
  }
  crypto::Certificate root = state.root();
  const keyservice::Acceptance& accepted = *answer.accepted;
  const crypto::Certificate& signature_certificate = accepted.signature_certificate;
  const crypto::Certificate& agreement_certificate = accepted.agreement_certificate;
  if (!signature_certificate.is_issued_by(root) || !agreement_certificate.is_issued_by(root) ||
      !(signature_certificate.public_key() == signer.key.public_key()) ||
      !(agreement_certificate.public_key() == agreement_key.public_key())) {
    throw Error(ErrorCode::BadSignature, "the certificates the key service returned are not this device's");
  }
  KeyBundle bundle = open_bundle(accepted.bundle, agreement_key, agreement_certificate, root);
  const DeviceId device_id(state.text("device_id"));
  auto me = std::find_if(bundle.devices.begin(), bundle.devices.end(),
                         [&](const store::DeviceRecord& device) { return device.device_id == device_id; });
  if (me == bundle.devices.end()) {
    throw Error(ErrorCode::BadSignature, "the key bundle is for another device");
  }
  if (state.document.contains("pin_mac_key") && state.document["pin_mac_key"].is_string()) {
    Bytes mac_key = from_hex(state.text("pin_mac_key"));
    std::string expected =
        bundle_pin_proof(mac_key, Identity(state.text("fingerprint")), device_id, RequestId(state.text("request_id")));
    if (!bundle.pin_proof || !pin_mac_equal(*bundle.pin_proof, expected)) {
      throw Error(ErrorCode::BadSignature,
                  "the key bundle does not prove knowledge of the PIN this device joined with");
    }
  }

  std::vector<store::KeyFile> files;
  store::ProfileRecord profile = profile_record_of(bundle, encrypted, now);
  store::DeviceRecord device =
      profile::own_device_record({device_id, state.text("device_name"), me->role, signature_certificate,
                                  agreement_certificate, signer.key, agreement_key},
                                 key_access, now, files);
  std::vector<store::MailKeyRecord> mail_keys = stored_keys(bundle, key_access, files);
  store::LocalStore store = store::LocalStore::create(home, profile, device, mail_keys, files);
  take_records_material(store, bundle, key_access, now);
  remember_service(store, state.text("service"));
  std::filesystem::remove(join_file(home));
  report.joined = true;
  report.keys_added = static_cast<int>(mail_keys.size());
  return report;
}

}  // namespace internal

}  // namespace mailseal::devices
