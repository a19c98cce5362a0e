#include "mailseal/devices/recovery.h"

#include <fmt/format.h>

#include "devices/internal/bundle.h"
#include "devices/internal/recovery_secret.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/udf.h"

namespace mailseal::devices {

using namespace internal;

std::vector<std::string> create_recovery_shares(profile::Profile& profile, const KeyAccess& key_access, int shares,
                                                int quorum) {
  if (quorum < 2 || quorum > shares || shares > udf::kMaxShares || quorum > udf::kMaxQuorum) {
    throw Error(ErrorCode::Usage,
                fmt::format("choose 2 <= quorum <= shares <= {} (a quorum of 1 would make every share the key)",
                            udf::kMaxShares));
  }
  RecoverySecret secret = RecoverySecret::of_root_key(profile.root_key(key_access));
  std::vector<std::string> out;
  for (const auto& share : udf::split_secret(secret.bytes(), shares, quorum))
    out.push_back(share.to_string());
  return out;
}

namespace {

SecretBytes combine(const std::vector<std::string>& texts) {
  std::vector<udf::Share> shares;
  for (const auto& text : texts) {
    try {
      shares.push_back(udf::Share::parse(text));
    } catch (const Error& error) {
      throw Error(ErrorCode::Usage, fmt::format("'{}' is not a recovery share: {}", text, error.what()));
    }
  }
  if (shares.empty())
    throw Error(ErrorCode::Usage, "give the recovery shares");
  const int quorum = shares.front().quorum;
  if (static_cast<int>(shares.size()) < quorum) {
    throw Error(ErrorCode::Usage,
                fmt::format("{} shares are needed to recover this profile; {} given", quorum, shares.size()));
  }
  try {
    return udf::combine_shares(shares);
  } catch (const Error& error) {
    throw Error(ErrorCode::BadSignature, fmt::format("the shares do not recover one secret: {}", error.what()));
  }
}

}  // namespace

RestoreReport restore(const std::filesystem::path& home, keyservice::Client& client, const RestoreOptions& options,
                      TimePoint now) {
  if (store::LocalStore::exists(home) || join_pending(home)) {
    throw Error(ErrorCode::AlreadyExists, fmt::format("{} is in use already", home.string()),
                "restore into a new --home DIR");
  }
  RecoverySecret secret = RecoverySecret::from_bytes(combine(options.shares));
  keyservice::EscrowAnswer answer = client.escrow(secret.escrow_id());
  KeyBundle escrow =
      decode_bundle(crypto::open_symmetric(secret.escrow_key(), answer.escrow, as_bytes(secret.escrow_id())));
  if (!escrow.root_key)
    throw Error(ErrorCode::Malformed, "the escrow holds no profile root");
  crypto::PrivateKey root_key = crypto::PrivateKey::from_pkcs8_pem(
      std::string_view(reinterpret_cast<const char*>(escrow.root_key->data()), escrow.root_key->size()), nullptr);
  crypto::Certificate root = crypto::Certificate::from_der(escrow.root);
  if (!(root_key.public_key() == root.public_key()) || keyservice::profile_fingerprint_of(root) != escrow.fingerprint ||
      RecoverySecret::of_root_key(root_key).bytes() != secret.bytes()) {
    throw Error(ErrorCode::BadSignature, "the escrow does not belong to these shares");
  }

  const KeyAccess& key_access = options.key_access;
  std::vector<store::KeyFile> files;
  store::ProfileRecord profile = profile_record_of(escrow, key_access.encrypted(), now);
  files.push_back(profile::key_file("root", root_key, key_access));
  profile.root_key_file = files.back().name;

  const std::string device_name = options.device_name.empty() ? "restored device" : options.device_name;
  crypto::PrivateKey signature_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  crypto::PrivateKey agreement_key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  profile::DeviceCertificates certificates = profile::issue_device_certificates(
      root_key, root, device_name, signature_key.public_key(), agreement_key.public_key(), now);
  store::DeviceRecord device = profile::own_device_record(
      {keyservice::device_id_of(signature_key.public_key()), device_name, store::DeviceRole::Admin,
       certificates.signature, certificates.agreement, signature_key, agreement_key},
      key_access, now, files);

  std::vector<store::MailKeyRecord> mail_keys = stored_keys(escrow, key_access, files);
  store::LocalStore store = store::LocalStore::create(home, profile, device, mail_keys, files);
  for (const auto& other : escrow.devices) {
    if (other.device_id != device.device_id)
      store.add_device(other);
  }
  // The records keys too, so that the restored device reads every device's
  // trust records, the old ones included.
  take_records_material(store, escrow, key_access, now);
  remember_service(store, client.url());
  profile::Profile restored = profile::Profile::open(home);
  publish(restored, client, key_access, now);
  return RestoreReport{escrow.fingerprint, escrow.addresses, device.device_id, static_cast<int>(mail_keys.size())};
}

}  // namespace mailseal::devices
