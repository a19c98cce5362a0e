// Key bundles: what an admin device seals to a device (the profile, the
// device's record, the mail keys its role may hold), and opening one.

#include "devices/internal/steps.h"
#include "devices/internal/trust_exchange.h"
#include "mailseal/common/error.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/smime/sealed.h"

namespace mailseal::devices {

namespace internal {

KeyBundle bundle_of(profile::Profile& profile, const KeyAccess& key_access,
                    const std::function<bool(const store::MailKeyRecord&)>& wanted, TimePoint now) {
  auto record = profile.store().profile();
  KeyBundle bundle;
  bundle.fingerprint = record.fingerprint;
  bundle.name = record.name;
  bundle.suite = record.suite;
  bundle.addresses = record.addresses;
  bundle.root = record.root_certificate;
  bundle.issued_at = now;
  bundle.records_keys = bundle_records_keys(profile.store(), key_access);
  bundle.roster = profile.store().devices();
  for (auto& key : profile.store().mail_keys()) {
    if (!wanted(key))
      continue;
    SecretBytes pem = profile.load_key(key.key_file, key_access).to_pkcs8_pem();
    bundle.keys.push_back({std::move(key), std::move(pem)});
  }
  return bundle;
}

KeyBundle bundle_for(profile::Profile& profile, const KeyAccess& key_access, const store::DeviceRecord& device,
                     std::optional<std::string> pin_proof, TimePoint now) {
  // A device that only reads gets no key that signs.
  KeyBundle bundle = bundle_of(
      profile, key_access,
      [&](const store::MailKeyRecord& key) {
        return device.role != store::DeviceRole::Read || key.purpose == store::KeyPurpose::Encryption;
      },
      now);
  bundle.devices = {device};
  bundle.pin_proof = std::move(pin_proof);
  return bundle;
}

// Signed by the profile root itself: only an admin device holds it, so a
// device that was removed, or one that only reads, cannot make a bundle the
// others take, whatever a hostile key service hands them.
Bytes seal_bundle(profile::Profile& profile, const KeyAccess& key_access, const KeyBundle& bundle,
                  const crypto::Certificate& recipient, TimePoint now) {
  crypto::PrivateKey root_key = profile.root_key(key_access);
  SecretBytes content = encode_bundle(bundle);
  std::vector<crypto::Certificate> recipients = {recipient};
  smime::SignerIdentity signer{&root_key, profile.root_certificate(), {}, smime::Capabilities::mailseal(), now};
  return smime::seal(content, signer, recipients);
}

KeyBundle open_bundle(ByteView sealed, const crypto::PrivateKey& agreement_key,
                      const crypto::Certificate& agreement_certificate, const crypto::Certificate& root) {
  std::vector<smime::DecryptionKey> keys = {{&agreement_key, agreement_certificate}};
  smime::Opened opened = smime::open_sealed(sealed, keys);
  if (!keyservice::is_profile_root(opened.signer) || !(opened.signer.public_key() == root.public_key())) {
    throw Error(ErrorCode::BadSignature, "the key bundle was not signed by this profile's root (an admin device)");
  }
  KeyBundle bundle = decode_bundle(opened.content);
  // This device's root certificate, or the same root renewed (the newer one
  // is adopted when the bundle is taken).
  if (bundle.fingerprint != keyservice::profile_fingerprint_of(root) ||
      (bundle.root != root.der() && !keyservice::same_profile_root(crypto::Certificate::from_der(bundle.root), root))) {
    throw Error(ErrorCode::BadSignature, "the key bundle is for another profile");
  }
  for (const auto& key : bundle.keys) {
    crypto::Certificate certificate = crypto::Certificate::from_der(key.record.certificate);
    crypto::PrivateKey private_key = crypto::PrivateKey::from_pkcs8_pem(as_string_view(key.pem), nullptr);
    if (!(private_key.public_key() == certificate.public_key()))
      throw Error(ErrorCode::Malformed, "a key in the bundle does not belong to its certificate");
    if (key.record.origin == store::KeyOrigin::Profile && !certificate.is_issued_by(root))
      throw Error(ErrorCode::Malformed, "a mail certificate in the bundle was not issued by the profile root");
  }
  return bundle;
}

}  // namespace internal

using namespace internal;

int send_key_bundles(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                     TimePoint now) {
  store::LocalStore& store = profile.store();
  const Identity fingerprint = store.profile().fingerprint;
  KeySigner signer = root_signer(profile, key_access, now);
  int sent = 0;
  for (const auto& device : store.devices()) {
    if (device.is_this_device || device.status != store::DeviceStatus::Active)
      continue;
    Bytes sealed = seal_bundle(profile, key_access, bundle_for(profile, key_access, device, std::nullopt, now),
                               crypto::Certificate::from_der(device.agreement_certificate), now);
    client.put_bundle(fingerprint, device.device_id, {sealed}, signer.signer);
    ++sent;
  }
  return sent;
}

}  // namespace mailseal::devices
