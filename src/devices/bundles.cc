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

namespace {

smime::SignerIdentity device_signer(profile::Profile& profile, const store::DeviceRecord& self,
                                    const crypto::PrivateKey& key, TimePoint now) {
  return smime::SignerIdentity{&key,
                               crypto::Certificate::from_der(self.signature_certificate),
                               {profile.root_certificate()},
                               smime::Capabilities::mailseal(),
                               now};
}

}  // namespace

Bytes seal_bundle(profile::Profile& profile, const KeyAccess& key_access, const KeyBundle& bundle,
                  const crypto::Certificate& recipient, TimePoint now) {
  store::DeviceRecord self = this_device(profile.store());
  crypto::PrivateKey key = profile.load_key(self.signature_key_file, key_access);
  SecretBytes content = encode_bundle(bundle);
  std::vector<crypto::Certificate> recipients = {recipient};
  return smime::seal(content, device_signer(profile, self, key, now), recipients);
}

KeyBundle open_bundle(ByteView sealed, const crypto::PrivateKey& agreement_key,
                      const crypto::Certificate& agreement_certificate, const crypto::Certificate& root) {
  std::vector<smime::DecryptionKey> keys = {{&agreement_key, agreement_certificate}};
  smime::Opened opened = smime::open_sealed(sealed, keys);
  if (opened.signer.is_ca() || !opened.signer.is_issued_by(root)) {
    throw Error(ErrorCode::BadSignature, "the key bundle was not signed by a device of this profile");
  }
  KeyBundle bundle = decode_bundle(opened.content);
  if (bundle.root != root.der() || bundle.fingerprint != keyservice::profile_fingerprint_of(root)) {
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
