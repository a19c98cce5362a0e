#include "mailseal/devices/recovery.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "devices/internal/bundle.h"
#include "devices/internal/recovery_secret.h"
#include "devices/internal/steps.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/store/trust_records.h"
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

// What the service publishes for the profile that the root signed: the
// serials the root revoked (the escrow's too) and when it made its newest
// revocation list (evidence the service can withhold but not forge).
struct RootEvidence {
  std::set<std::string> serials;
  std::optional<TimePoint> newest_list;
};

RootEvidence root_evidence(keyservice::Client& client, const KeyBundle& escrow, const crypto::Certificate& root) {
  RootEvidence evidence{{escrow.revoked.begin(), escrow.revoked.end()}, std::nullopt};
  for (const auto& address : escrow.addresses) {
    std::optional<keyservice::PublishedProfile> published;
    try {
      published = client.profile_for(address);
    } catch (const Error&) {
      continue;  // not served for this address
    }
    if (published->fingerprint != escrow.fingerprint)
      continue;
    for (const auto& der : published->revocations) {
      try {
        const auto list = crypto::RevocationList::read(der);
        if (!list.is_issued_by(root))
          continue;
        for (auto& serial : list.revoked_serials())
          evidence.serials.insert(std::move(serial));
        evidence.newest_list = std::max(evidence.newest_list.value_or(TimePoint{}), list.last_update());
      } catch (const Error&) {
        // not a revocation list: nothing the root said
      }
    }
    break;
  }
  return evidence;
}

// An escrow is older than what the root did since when the root signed a
// revocation list after the escrow was sealed (one publication seals both
// at the same moment), or revoked a serial the escrow does not hold (a
// removal or rotation after it, whatever the clocks said). nullopt when
// nothing says so.
std::optional<OldEscrow> old_escrow_of(const KeyBundle& escrow, const RootEvidence& evidence) {
  OldEscrow old;
  const std::set<std::string> held(escrow.revoked.begin(), escrow.revoked.end());
  std::set_difference(evidence.serials.begin(), evidence.serials.end(), held.begin(), held.end(),
                      std::back_inserter(old.serials_not_in_escrow));
  if (evidence.newest_list)
    old.newest_revocation_list = *evidence.newest_list;
  const bool later_list = evidence.newest_list && *evidence.newest_list > escrow.issued_at;
  if (!later_list && old.serials_not_in_escrow.empty())
    return std::nullopt;
  return old;
}

// The escrow's devices as it lists them: what the person judges an old
// escrow by before anything is restored.
std::vector<RestoredDevice> escrow_devices(const KeyBundle& escrow) {
  std::vector<RestoredDevice> out;
  for (const auto& device : escrow.devices)
    out.push_back({device.device_id, device.name, device.role, device.status, false});
  return out;
}

// Takes in the revoked serials (kept, so that this device's publications'
// revocation lists hold them), and removes every device whose device
// certificate the root revoked. When a device is removed so, or a current
// mail certificate of the profile is revoked, the escrow is older than a
// removal: the keys that device may hold are rotated, as the removal did.
void take_revocations(profile::Profile& profile, const std::set<std::string>& serials, const KeyBundle& escrow,
                      const KeyAccess& key_access, RestoreReport& report, TimePoint now) {
  store::LocalStore& store = profile.store();
  const auto revoked = [&](const Bytes& der) { return serials.count(crypto::Certificate::from_der(der).serial_hex()) > 0; };
  store::Transaction transaction(store.database());
  store::TrustRecords records(store);
  // Never the root's own serial: a stolen admin device's list revoking it
  // would make every correspondent refuse the profile, for good (review of
  // issue 14, fourth round).
  const std::string root_serial = profile.root_certificate().serial_hex();
  for (const auto& serial : serials) {
    if (serial != root_serial)
      records.add_revocation(escrow.fingerprint, serial, "revoked by the profile's root", now);
  }
  bool signing = false;
  for (const auto& device : store.devices()) {
    if (device.is_this_device || device.status != store::DeviceStatus::Active ||
        !(revoked(device.signature_certificate) || revoked(device.agreement_certificate)))
      continue;
    store.set_device_status(device.device_id, store::DeviceStatus::Removed);
    report.removed_by_revocations.push_back(device.device_id);
    signing = signing || device.role != store::DeviceRole::Read;
  }
  bool rotate = !report.removed_by_revocations.empty();
  for (const auto& key : store.mail_keys()) {
    if (key.origin == store::KeyOrigin::Profile && key.status == store::KeyStatus::Current && revoked(key.certificate)) {
      rotate = true;
      signing = signing || key.purpose == store::KeyPurpose::Signing;
    }
  }
  if (rotate) {
    rotate_mail_keys(profile, key_access, signing, now);
    rotate_records_key(store, profile.access_for_new_key_files(key_access), now);
    report.rotated = true;
  }
  transaction.commit();
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
  // Decided before anything is stored or published: an escrow older than
  // what the root did since is restored only on the person's word.
  const RootEvidence evidence = root_evidence(client, escrow, root);
  RestoreReport report;
  report.fingerprint = escrow.fingerprint;
  report.addresses = escrow.addresses;
  report.escrow_sealed_at = escrow.issued_at;
  report.old_escrow = old_escrow_of(escrow, evidence);
  if (report.old_escrow && options.old_escrow == OldEscrowPolicy::Refuse) {
    report.devices = escrow_devices(escrow);
    return report;
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
  report.restored = true;
  report.device_id = device.device_id;
  report.mail_keys = static_cast<int>(mail_keys.size());
  profile::Profile restored = profile::Profile::open(home);
  take_revocations(restored, evidence.serials, escrow, key_access, report, now);
  for (const auto& other : restored.store().devices())
    report.devices.push_back({other.device_id, other.name, other.role, other.status, other.is_this_device});
  publish(restored, client, key_access, now);
  return report;
}

}  // namespace mailseal::devices
