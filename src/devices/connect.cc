#include "mailseal/devices/connect.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "devices/internal/bundle.h"
#include "devices/internal/issuing.h"
#include "devices/internal/recovery_secret.h"
#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/devices/pairing.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/smime/sealed.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/udf/udf.h"

namespace mailseal::devices {

namespace {

using nlohmann::json;
using namespace internal;

constexpr std::string_view kServiceSetting = "service_url";
constexpr std::string_view kJoinFile = "join.json";
constexpr std::size_t kMaxJoinFile = 64 * 1024;
constexpr std::size_t kNonceBytes = 16;

constexpr std::string_view kAnswerSource = "the key service's answer";

std::string text_of(const SecretBytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// A key that signs requests, kept alive with the signer that points to it.
struct KeySigner {
  crypto::PrivateKey key;
  keyservice::RequestSigner signer;
  KeySigner(crypto::PrivateKey private_key, std::string key_id)
      : key(std::move(private_key)), signer{&key, std::move(key_id)} {}
  KeySigner(const KeySigner&) = delete;
};

store::DeviceRecord this_device(store::LocalStore& store) {
  for (auto& device : store.devices()) {
    if (device.is_this_device)
      return device;
  }
  throw Error(ErrorCode::Malformed, "the store does not say which device it is");
}

std::string fingerprint_of(const crypto::Certificate& root) {
  return keyservice::profile_fingerprint_of(root);
}

// Length-prefixed fields for MACs: no two lists of fields serialise alike.
Bytes fields(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView part : parts) {
    std::string length = fmt::format("{}:", part.size());
    out.insert(out.end(), length.begin(), length.end());
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

Bytes join_mac_data(std::string_view fingerprint, ByteView signature_key, ByteView agreement_key,
                    std::string_view device_nonce, std::string_view device_name) {
  return fields({as_bytes(fingerprint), signature_key, agreement_key, as_bytes(device_nonce), as_bytes(device_name)});
}

Bytes bundle_proof_data(std::string_view fingerprint, std::string_view device_id, std::string_view request_id) {
  return fields({as_bytes(fingerprint), as_bytes(device_id), as_bytes(request_id)});
}

// A published profile, checked against what it claims: its root is a
// profile root constrained to `address`, the fingerprint is the root's, and
// every certificate was issued by the root.
keyservice::PublishedProfile checked_profile(keyservice::PublishedProfile profile, const EmailAddress& address) {
  const crypto::Certificate& root = profile.root;
  if (!keyservice::is_profile_root(root)) {
    throw Error(ErrorCode::Malformed, "the key service returned a profile whose root is not a self-signed CA");
  }
  if (profile.fingerprint != fingerprint_of(root)) {
    throw Error(ErrorCode::Malformed, "the key service returned a profile whose fingerprint does not match its root");
  }
  auto permitted = crypto::permitted_email_constraints(root);
  if (std::find(permitted.begin(), permitted.end(), address.str()) == permitted.end()) {
    throw Error(ErrorCode::Malformed,
                fmt::format("the key service returned a profile that is not for {}", address.str()));
  }
  for (const auto& certificate : profile.certificates) {
    if (!certificate.is_issued_by(root))
      throw Error(ErrorCode::Malformed, "a published certificate was not issued by the profile's root");
  }
  return profile;
}

// --- Bundles ---------------------------------------------------------------

// What a bundle and the escrow both carry: the profile, and the mail keys
// `wanted` selects.
template <typename Wanted>
KeyBundle bundle_of(Profile& profile, const Passphrase* passphrase, Wanted wanted) {
  auto record = profile.store().profile();
  KeyBundle bundle;
  bundle.fingerprint = record.fingerprint;
  bundle.name = record.name;
  bundle.suite = record.suite;
  bundle.addresses = record.addresses;
  bundle.root = record.root_certificate;
  bundle.issued_at = to_seconds(crypto::now());
  for (auto& key : profile.store().mail_keys()) {
    if (!wanted(key))
      continue;
    SecretBytes pem = profile.load_key(key.key_file, passphrase).to_pkcs8_pem();
    bundle.keys.push_back({std::move(key), std::move(pem)});
  }
  return bundle;
}

KeyBundle bundle_for(Profile& profile, const Passphrase* passphrase, const store::DeviceRecord& device,
                     std::optional<std::string> pin_proof) {
  // A device that only reads gets no key that signs.
  KeyBundle bundle = bundle_of(profile, passphrase, [&](const store::MailKeyRecord& key) {
    return device.role != store::DeviceRole::Read || key.purpose == store::KeyPurpose::Encryption;
  });
  bundle.devices = {device};
  bundle.pin_proof = std::move(pin_proof);
  return bundle;
}

smime::SignerIdentity device_signer(Profile& profile, const store::DeviceRecord& self, const crypto::PrivateKey& key) {
  return smime::SignerIdentity{
      &key, crypto::Certificate::from_der(self.signature_certificate), {profile.root_certificate()}};
}

Bytes seal_bundle(Profile& profile, const Passphrase* passphrase, const KeyBundle& bundle,
                  const crypto::Certificate& recipient) {
  store::DeviceRecord self = this_device(profile.store());
  crypto::PrivateKey key = profile.load_key(self.signature_key_file, passphrase);
  SecretBytes content = encode_bundle(bundle);
  std::vector<crypto::Certificate> recipients = {recipient};
  return smime::seal(content, device_signer(profile, self, key), recipients);
}

// Opens a bundle for this device and checks it comes from a device of the
// profile whose root is `root`.
KeyBundle open_bundle(ByteView sealed, const crypto::PrivateKey& agreement_key,
                      const crypto::Certificate& agreement_certificate, const crypto::Certificate& root) {
  std::vector<smime::DecryptionKey> keys = {{&agreement_key, agreement_certificate}};
  smime::Opened opened = smime::open_sealed(sealed, keys);
  if (opened.signer.is_ca() || !opened.signer.is_issued_by(root)) {
    throw Error(ErrorCode::BadSignature, "the key bundle was not signed by a device of this profile");
  }
  KeyBundle bundle = decode_bundle(opened.content);
  if (bundle.root != root.der() || bundle.fingerprint != fingerprint_of(root)) {
    throw Error(ErrorCode::BadSignature, "the key bundle is for another profile");
  }
  for (const auto& key : bundle.keys) {
    crypto::Certificate certificate = crypto::Certificate::from_der(key.record.certificate);
    crypto::PrivateKey private_key = crypto::PrivateKey::from_pkcs8_pem(text_of(key.pem), nullptr);
    if (!(private_key.public_key() == certificate.public_key()))
      throw Error(ErrorCode::Malformed, "a key in the bundle does not belong to its certificate");
    if (key.record.origin == store::KeyOrigin::Profile && !certificate.is_issued_by(root))
      throw Error(ErrorCode::Malformed, "a mail certificate in the bundle was not issued by the profile root");
  }
  return bundle;
}

// --- Publishing ------------------------------------------------------------

// The root, then the exportable endorsements it made (what `export
// endorsements` writes), for correspondents who look the profile up.
std::string endorsements_pem(store::LocalStore& store, const crypto::Certificate& root) {
  auto endorsements = store::TrustRecords(store).exportable_endorsements(fingerprint_of(root));
  if (endorsements.empty())
    return "";
  std::string pem = root.pem();
  for (const auto& der : endorsements)
    pem += crypto::Certificate::from_der(der).pem();
  return pem;
}

keyservice::EscrowReference escrow_of(Profile& profile, const Passphrase* passphrase,
                                      const crypto::PrivateKey& root_key) {
  KeyBundle escrow = bundle_of(profile, passphrase, [](const store::MailKeyRecord&) { return true; });
  escrow.devices = profile.store().devices();
  for (auto& device : escrow.devices) {
    device.is_this_device = false;
    device.signature_key_file.clear();
    device.agreement_key_file.clear();
  }
  escrow.root_key = root_key.to_pkcs8_pem();
  RecoverySecret secret = RecoverySecret::of_root_key(root_key);
  Bytes sealed = crypto::seal_symmetric(secret.escrow_key(), encode_bundle(escrow), as_bytes(secret.escrow_id()));
  return {secret.escrow_id(), std::move(sealed)};
}

}  // namespace

keyservice::PublishedProfile read_published_profile(std::string_view answer, const EmailAddress& address) {
  return checked_profile(keyservice::read<keyservice::PublishedProfile>(answer, kAnswerSource), address);
}

keyservice::PublishedProfile fetch_profile(keyservice::Client& client, const EmailAddress& address) {
  return checked_profile(client.profile_for(address), address);
}

std::optional<std::string> remembered_service(store::LocalStore& store) {
  return store.setting(kServiceSetting);
}

void remember_service(store::LocalStore& store, const std::string& url) {
  store.set_setting(kServiceSetting, url);
}

PublishReport publish(Profile& profile, keyservice::Client& client, const Passphrase* passphrase) {
  crypto::PrivateKey root_key = profile.root_key(passphrase);
  crypto::Certificate root = profile.root_certificate();
  const std::string fingerprint = fingerprint_of(root);
  keyservice::Publication publication{root, profile.current_mail_certificates(), endorsements_pem(profile.store(), root),
                                      {}, {}, escrow_of(profile, passphrase, root_key)};
  auto serials = store::TrustRecords(profile.store()).revoked_serials(fingerprint);
  if (!serials.empty())
    publication.revocations.push_back(crypto::issue_revocation_list(root_key, root, serials, crypto::now()).der());
  for (const auto& device : profile.store().devices()) {
    publication.devices.push_back({device.device_id, device.name, std::string(store::to_string(device.role)),
                                   std::string(store::to_string(device.status)),
                                   crypto::Certificate::from_der(device.signature_certificate),
                                   crypto::Certificate::from_der(device.agreement_certificate)});
  }
  KeySigner signer(std::move(root_key), std::string(keyservice::kRootKey));
  client.publish(fingerprint, publication, signer.signer);
  remember_service(profile.store(), client.url());
  return PublishReport{fingerprint, profile.addresses(), static_cast<int>(publication.certificates.size()),
                       static_cast<int>(publication.devices.size())};
}

// --- Joining ---------------------------------------------------------------

namespace {

std::filesystem::path join_file(const std::filesystem::path& home) {
  return home / kJoinFile;
}

std::string key_pem(const crypto::PrivateKey& key, const std::optional<Passphrase>& passphrase) {
  if (passphrase)
    return key.to_encrypted_pkcs8_pem(*passphrase);
  return text_of(key.to_pkcs8_pem());
}

void prepare_home(const std::filesystem::path& home) {
  std::error_code error;
  std::filesystem::create_directories(home, error);
  if (error || !std::filesystem::is_directory(home)) {
    throw Error(ErrorCode::Io, fmt::format("cannot create {}", escape_for_terminal(home.string())));
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
  crypto::PrivateKey key(const char* name, const Passphrase* passphrase) const {
    return crypto::PrivateKey::from_pkcs8_pem(text(name), passphrase);
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

JoinTicket join(const std::filesystem::path& home, keyservice::Client& client, const JoinOptions& options) {
  if (store::LocalStore::exists(home)) {
    throw Error(ErrorCode::AlreadyExists, fmt::format("{} holds a profile already", escape_for_terminal(home.string())),
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
  const std::string fingerprint = fingerprint_of(root);

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
    request.pin_mac = pin_mac(*mac_key, "join",
                              join_mac_data(fingerprint, signature_spki, agreement_spki, device_nonce, options.device_name));
  }
  KeySigner signer(std::move(signature_key), std::string(keyservice::kJoiningDeviceKey));
  keyservice::JoinReceipt receipt = client.join(fingerprint, request, signer.signer);
  const std::string& request_id = receipt.request_id;

  JoinTicket ticket{keyservice::device_id_of(signer.key.public_key()),
                    compute_witness(fingerprint, signature_spki, agreement_spki, device_nonce, receipt.service_nonce),
                    request_id, fingerprint};
  json state = {{"service", client.url()},
                {"address", options.address.str()},
                {"fingerprint", fingerprint},
                {"root", encode_base64(root.der())},
                {"request_id", request_id},
                {"device_name", options.device_name},
                {"device_id", ticket.device_id},
                {"witness", ticket.witness},
                {"keys_encrypted", options.passphrase.has_value()},
                {"signature_key", key_pem(signer.key, options.passphrase)},
                {"agreement_key", key_pem(agreement_key, options.passphrase)},
                {"pin_mac_key", mac_key ? json(to_hex(*mac_key)) : json(nullptr)},
                {"created_at", to_seconds(crypto::now())}};
  prepare_home(home);
  std::string text = state.dump(2);
  write_new_file(join_file(home), as_bytes(text), FileMode::Private);
  secure_wipe(text.data(), text.size());
  return ticket;
}

namespace {

// The accepted join: the store is made from the bundle, and the pending
// state goes.
SyncReport complete_join(const std::filesystem::path& home, keyservice::Client& client,
                         const std::optional<Passphrase>& passphrase) {
  JoinState state = JoinState::read(home);
  const bool encrypted = state.document.value("keys_encrypted", false);
  if (encrypted && !passphrase) {
    throw Error(ErrorCode::BadPassword, "this device's keys are encrypted and no passphrase was given",
                "give --passphrase-file FILE or MAILSEAL_PASSPHRASE");
  }
  const Passphrase* key_passphrase = passphrase ? &*passphrase : nullptr;
  KeySigner signer(state.key("signature_key", key_passphrase), std::string(keyservice::kJoiningDeviceKey));
  crypto::PrivateKey agreement_key = state.key("agreement_key", key_passphrase);
  keyservice::RequestStatus answer = client.request_status(state.text("request_id"), signer.signer);
  SyncReport report;
  if (answer.state == keyservice::RequestState::Pending) {
    report.waiting = true;
    return report;
  }
  if (answer.state != keyservice::RequestState::Accepted) {
    std::filesystem::remove(join_file(home));
    throw Error(ErrorCode::RejectedByPolicy, "an admin device rejected this device's request to join",
                "nothing was stored; join again if that was a mistake");
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
  const std::string device_id = state.text("device_id");
  auto me = std::find_if(bundle.devices.begin(), bundle.devices.end(),
                         [&](const store::DeviceRecord& device) { return device.device_id == device_id; });
  if (me == bundle.devices.end()) {
    throw Error(ErrorCode::BadSignature, "the key bundle is for another device");
  }
  if (state.document.contains("pin_mac_key") && state.document["pin_mac_key"].is_string()) {
    Bytes mac_key = from_hex(state.text("pin_mac_key"));
    std::string expected =
        pin_mac(mac_key, "bundle", bundle_proof_data(state.text("fingerprint"), device_id, state.text("request_id")));
    if (!bundle.pin_proof || !pin_mac_equal(*bundle.pin_proof, expected)) {
      throw Error(ErrorCode::BadSignature,
                  "the key bundle does not prove knowledge of the PIN this device joined with");
    }
  }

  const auto now = crypto::now();
  std::vector<store::KeyFile> files;
  store::ProfileRecord profile = profile_record_of(bundle, encrypted, to_seconds(now));
  store::DeviceRecord device = own_device_record({device_id, state.text("device_name"), me->role, signature_certificate,
                                                  agreement_certificate, signer.key, agreement_key},
                                                 passphrase, now, files);
  std::vector<store::MailKeyRecord> mail_keys;
  for (const auto& key : bundle.keys) {
    auto [record, file] = stored_key(key, passphrase);
    files.push_back(std::move(file));
    mail_keys.push_back(std::move(record));
  }
  store::LocalStore store = store::LocalStore::create(home, profile, device, mail_keys, files);
  remember_service(store, state.text("service"));
  std::filesystem::remove(join_file(home));
  report.joined = true;
  report.keys_added = static_cast<int>(mail_keys.size());
  return report;
}

KeySigner root_signer(Profile& profile, const Passphrase* passphrase) {
  return KeySigner(profile.root_key(passphrase), std::string(keyservice::kRootKey));
}

std::vector<keyservice::PendingRequest> pending_requests(Profile& profile, keyservice::Client& client,
                                                         const KeySigner& root) {
  return client.pending_requests(profile.store().profile().fingerprint, root.signer).requests;
}

std::string witness_of(const std::string& fingerprint, const keyservice::PendingRequest& pending) {
  return compute_witness(fingerprint, pending.request.signature_key, pending.request.agreement_key,
                         pending.request.device_nonce, pending.service_nonce);
}

bool has_pin(const keyservice::PendingRequest& pending) {
  return pending.request.pin_id.has_value();
}

std::optional<store::InviteRecord> invite_for(store::LocalStore& store, const std::string& pin) {
  for (auto& invite : store.invites()) {
    if (invite.pin_id == pin)
      return invite;
  }
  return std::nullopt;
}

bool pin_mac_valid(const std::string& fingerprint, const keyservice::PendingRequest& pending,
                   const store::InviteRecord& invite) {
  const keyservice::JoinRequest& request = pending.request;
  std::string expected = pin_mac(invite.mac_key, "join",
                                 join_mac_data(fingerprint, request.signature_key, request.agreement_key,
                                               request.device_nonce, request.device_name));
  return request.pin_mac && pin_mac_equal(*request.pin_mac, expected);
}

AcceptedDevice accept_request(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                              const KeySigner& root, const keyservice::PendingRequest& pending, store::DeviceRole role,
                              const std::optional<store::InviteRecord>& invite) {
  const auto fingerprint = profile.store().profile().fingerprint;
  const std::string& request_id = pending.request_id;
  const std::string& name = pending.request.device_name;
  crypto::PublicKey signature_key = crypto::PublicKey::from_spki_der(pending.request.signature_key);
  crypto::PublicKey agreement_key = crypto::PublicKey::from_spki_der(pending.request.agreement_key);
  DeviceCertificates certificates = issue_device_certificates(root.key, profile.root_certificate(), name, signature_key,
                                                              agreement_key, crypto::now());
  store::DeviceRecord device;
  device.device_id = keyservice::device_id_of(signature_key);
  device.name = name;
  device.role = role;
  device.status = store::DeviceStatus::Active;
  device.signature_certificate = certificates.signature.der();
  device.agreement_certificate = certificates.agreement.der();
  device.created_at = to_seconds(crypto::now());
  std::optional<std::string> proof;
  if (invite) {
    proof = pin_mac(invite->mac_key, "bundle", bundle_proof_data(fingerprint, device.device_id, request_id));
  }
  Bytes sealed =
      seal_bundle(profile, passphrase, bundle_for(profile, passphrase, device, proof), certificates.agreement);
  keyservice::Decision decision{keyservice::Acceptance{sealed, certificates.signature, certificates.agreement}};
  client.decide(fingerprint, request_id, decision, root.signer);
  profile.store().add_device(device);
  if (invite)
    profile.store().mark_invite_used(invite->pin_id, to_seconds(crypto::now()));
  return AcceptedDevice{device.device_id, name, role, request_id};
}

void refuse_request(Profile& profile, keyservice::Client& client, const KeySigner& root,
                    const std::string& request_id) {
  client.decide(profile.store().profile().fingerprint, request_id, keyservice::Decision{std::nullopt}, root.signer);
}

const keyservice::PendingRequest& matching_request(const std::vector<keyservice::PendingRequest>& requests,
                                                   const std::string& fingerprint, std::string_view witness_or_id) {
  for (const auto& request : requests) {
    if (request.request_id == witness_or_id || witness_matches(witness_or_id, witness_of(fingerprint, request)))
      return request;
  }
  throw Error(ErrorCode::NotFound,
              fmt::format("no pending request has the witness or id {}", escape_for_terminal(witness_or_id)),
              "'mailseal device pending' lists them; compare the witness with the new device's screen");
}

}  // namespace

std::vector<PendingDevice> pending_devices(Profile& profile, keyservice::Client& client,
                                           const Passphrase* passphrase) {
  KeySigner root = root_signer(profile, passphrase);
  const auto fingerprint = profile.store().profile().fingerprint;
  std::vector<PendingDevice> out;
  for (const auto& request : pending_requests(profile, client, root)) {
    out.push_back({request.request_id, request.request.device_name, witness_of(fingerprint, request),
                   has_pin(request), request.created_at});
  }
  return out;
}

AcceptedDevice accept_device(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                             std::string_view witness_or_id, store::DeviceRole role) {
  if (role == store::DeviceRole::Admin) {
    throw Error(ErrorCode::Usage, "a connected device is full or read; admin devices are made by recovery");
  }
  KeySigner root = root_signer(profile, passphrase);
  const auto fingerprint = profile.store().profile().fingerprint;
  auto requests = pending_requests(profile, client, root);
  const keyservice::PendingRequest& request = matching_request(requests, fingerprint, witness_or_id);
  std::optional<store::InviteRecord> invite;
  if (has_pin(request)) {
    // The device will check that the bundle proves the PIN.
    invite = invite_for(profile.store(), *request.request.pin_id);
    if (!invite || !pin_mac_valid(fingerprint, request, *invite)) {
      throw Error(ErrorCode::RejectedByPolicy,
                  "this request was made with a PIN this device did not issue, or with a wrong one",
                  "accept it on the admin device that made the invitation, or reject it");
    }
  }
  AcceptedDevice accepted = accept_request(profile, client, passphrase, root, request, role, invite);
  publish(profile, client, passphrase);
  return accepted;
}

void reject_device(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                   std::string_view witness_or_id) {
  KeySigner root = root_signer(profile, passphrase);
  auto requests = pending_requests(profile, client, root);
  const auto& request = matching_request(requests, profile.store().profile().fingerprint, witness_or_id);
  refuse_request(profile, client, root, request.request_id);
}

Invitation invite(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                  std::chrono::seconds lifetime, store::DeviceRole role) {
  if (role == store::DeviceRole::Admin) {
    throw Error(ErrorCode::Usage, "an invited device is full or read");
  }
  if (!keyservice::invitation_lifetime_allowed(lifetime)) {
    throw Error(ErrorCode::Usage, "an invitation lasts between a second and a week");
  }
  KeySigner root = root_signer(profile, passphrase);
  const auto now = to_seconds(crypto::now());
  Invitation invitation;
  invitation.pin = new_pin();
  invitation.expires_at = now + lifetime.count();
  invitation.role = role;
  const std::string id = pin_id(invitation.pin);
  client.invite(profile.store().profile().fingerprint, {id, invitation.expires_at}, root.signer);
  profile.store().add_invite({id, pin_mac_key(invitation.pin), role, invitation.expires_at, std::nullopt, now});
  invitation.uri = fmt::format("mailseal:join?address={}&service={}&pin={}",
                               keyservice::path_segment(profile.addresses().front().str()),
                               keyservice::path_segment(client.url()), invitation.pin);
  return invitation;
}

namespace {

// Admin devices: requests made with a PIN they issued are accepted (or
// refused) without anyone comparing witnesses.
void process_pin_requests(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                          SyncReport& report) {
  KeySigner root = root_signer(profile, passphrase);
  const auto fingerprint = profile.store().profile().fingerprint;
  const auto now = to_seconds(crypto::now());
  bool accepted_any = false;
  for (const auto& request : pending_requests(profile, client, root)) {
    if (!has_pin(request))
      continue;
    auto invite = invite_for(profile.store(), *request.request.pin_id);
    if (!invite)
      continue;  // another admin device's invitation
    const std::string& request_id = request.request_id;
    if (invite->used_at || invite->expires_at <= now || !pin_mac_valid(fingerprint, request, *invite)) {
      refuse_request(profile, client, root, request_id);
      report.refused.push_back(request_id);
      continue;
    }
    report.accepted.push_back(accept_request(profile, client, passphrase, root, request, invite->role, invite));
    accepted_any = true;
  }
  if (accepted_any)
    publish(profile, client, passphrase);
}

// Takes the newest bundle sent to this device: new keys are added, keys the
// bundle lists as archived are archived here too.
void take_bundle(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                 const std::optional<Passphrase>& key_passphrase, SyncReport& report) {
  store::LocalStore& store = profile.store();
  store::DeviceRecord self = this_device(store);
  KeySigner signer(profile.load_key(self.signature_key_file, passphrase), self.device_id);
  keyservice::FetchedBundle fetched = client.bundle(store.profile().fingerprint, self.device_id, signer.signer);
  if (fetched.state == keyservice::BundleState::NoneSent)
    return;  // nothing sent to this device since it joined
  if (fetched.state == keyservice::BundleState::DeviceRemoved) {
    store.set_device_status(self.device_id, store::DeviceStatus::Removed);
    report.removed = true;
    return;
  }
  crypto::PrivateKey agreement_key = profile.load_key(self.agreement_key_file, passphrase);
  KeyBundle bundle = open_bundle(fetched.bundle, agreement_key, crypto::Certificate::from_der(self.agreement_certificate),
                                 profile.root_certificate());
  auto known = store.mail_keys();
  std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
  // New certificates for keys this device holds already (re-issued ones)
  // share the key's file.
  std::vector<store::MailKeyRecord> certificates_only;
  std::set<std::string> key_files;
  for (const auto& record : known)
    key_files.insert(record.key_file);
  store::Transaction transaction(store.database());
  for (const auto& key : bundle.keys) {
    auto existing = std::find_if(known.begin(), known.end(), [&](const store::MailKeyRecord& record) {
      return record.certificate == key.record.certificate;
    });
    if (existing == known.end()) {
      auto [record, file] = stored_key(key, key_passphrase);
      if (key_files.insert(file.name).second)
        additions.emplace_back(std::move(record), std::move(file));
      else
        certificates_only.push_back(std::move(record));
      ++report.keys_added;
    } else if (existing->status != key.record.status) {
      store.set_mail_key_status(existing->id, key.record.status);
      if (key.record.status == store::KeyStatus::Archived)
        ++report.keys_archived;
    }
  }
  if (!additions.empty())
    store.add_mail_keys(additions);
  for (const auto& record : certificates_only)
    store.add_mail_certificate(record);
  transaction.commit();
}

}  // namespace

SyncReport sync(const std::filesystem::path& home, keyservice::Client& client,
                const std::optional<Passphrase>& passphrase) {
  if (!store::LocalStore::exists(home) && join_pending(home))
    return complete_join(home, client, passphrase);
  Profile profile = Profile::open(home);
  const Passphrase* key_passphrase = passphrase ? &*passphrase : nullptr;
  SyncReport report;
  if (profile.holds_root()) {
    process_pin_requests(profile, client, key_passphrase, report);
  } else {
    take_bundle(profile, client, key_passphrase, passphrase, report);
  }
  return report;
}

RemovalReport remove_device(Profile& profile, keyservice::Client& client, const Passphrase* passphrase,
                            const std::string& device_id) {
  store::LocalStore& store = profile.store();
  auto devices = store.devices();
  auto target = std::find_if(devices.begin(), devices.end(),
                             [&](const store::DeviceRecord& device) { return device.device_id == device_id; });
  if (target == devices.end()) {
    throw Error(ErrorCode::NotFound, fmt::format("no device {} in this profile", escape_for_terminal(device_id)),
                "'mailseal device list' shows the devices");
  }
  if (target->is_this_device) {
    throw Error(ErrorCode::Usage, "a device cannot remove itself", "remove it from another admin device");
  }
  if (target->status == store::DeviceStatus::Removed) {
    throw Error(ErrorCode::AlreadyExists, "that device was removed already");
  }
  crypto::PrivateKey root_key = profile.root_key(passphrase);
  crypto::Certificate root = profile.root_certificate();
  auto record = store.profile();
  std::optional<Passphrase> protect;
  if (record.keys_encrypted && passphrase != nullptr)
    protect = *passphrase;
  const auto now = crypto::now();
  const bool could_sign = target->role != store::DeviceRole::Read;

  RemovalReport report{device_id, {}, 0};
  {
    store::Transaction transaction(store.database());
    store.set_device_status(device_id, store::DeviceStatus::Removed);
    store::TrustRecords records(store);
    for (const Bytes& der : {target->signature_certificate, target->agreement_certificate}) {
      records.add_revocation(record.fingerprint, crypto::Certificate::from_der(der).serial_hex(), "device removed",
                             to_seconds(now));
    }
    // New keys for everything the removed device held: it keeps the old ones,
    // so nothing sent from now on may be readable (or signable) with them.
    std::vector<std::pair<store::MailKeyRecord, store::KeyFile>> additions;
    for (const auto& key : store.mail_keys()) {
      if (key.origin != store::KeyOrigin::Profile || key.status != store::KeyStatus::Current)
        continue;
      if (key.purpose == store::KeyPurpose::Signing && !could_sign)
        continue;
      store.set_mail_key_status(key.id, store::KeyStatus::Archived);
      if (key.purpose == store::KeyPurpose::Signing) {
        records.add_revocation(record.fingerprint, crypto::Certificate::from_der(key.certificate).serial_hex(),
                               "device removed", to_seconds(now));
      }
      // The new certificate asks for what the old one asked for (CBC when the
      // keys also live in a client without AES-GCM).
      auto capabilities = smime::Capabilities::of_certificate_extension(
          crypto::Certificate::from_der(key.certificate).smime_capabilities());
      additions.push_back(issue_mail_key(root_key, root, record.name, key.address, key.purpose, record.suite, protect,
                                         now,
                                         capabilities.advertised ? capabilities : smime::Capabilities::mailseal()));
      if (std::find(report.rotated.begin(), report.rotated.end(), key.address) == report.rotated.end())
        report.rotated.push_back(key.address);
    }
    store.add_mail_keys(additions);
    transaction.commit();
  }
  publish(profile, client, passphrase);
  report.devices_updated = send_key_bundles(profile, client, passphrase);
  return report;
}

int send_key_bundles(Profile& profile, keyservice::Client& client, const Passphrase* passphrase) {
  store::LocalStore& store = profile.store();
  const std::string fingerprint = store.profile().fingerprint;
  KeySigner signer(profile.root_key(passphrase), std::string(keyservice::kRootKey));
  int sent = 0;
  for (const auto& device : store.devices()) {
    if (device.is_this_device || device.status != store::DeviceStatus::Active)
      continue;
    Bytes sealed = seal_bundle(profile, passphrase, bundle_for(profile, passphrase, device, std::nullopt),
                               crypto::Certificate::from_der(device.agreement_certificate));
    client.put_bundle(fingerprint, device.device_id, {sealed}, signer.signer);
    ++sent;
  }
  return sent;
}

}  // namespace mailseal::devices
