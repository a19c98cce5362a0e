// Publishing the profile to the key service, and reading what it publishes.

#include <algorithm>

#include <fmt/format.h>

#include "devices/internal/recovery_secret.h"
#include "devices/internal/steps.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/keyservice/rules.h"
#include "mailseal/store/trust_records.h"

namespace mailseal::devices {

using namespace internal;

namespace {

constexpr std::string_view kAnswerSource = "the key service's answer";

// A published profile, checked against what it claims: its root is a
// profile root constrained to `address`, the fingerprint is the root's, and
// every certificate was issued by the root.
keyservice::PublishedProfile checked_profile(keyservice::PublishedProfile profile, const EmailAddress& address) {
  const crypto::Certificate& root = profile.root;
  if (!keyservice::is_profile_root(root)) {
    throw Error(ErrorCode::Malformed, "the key service returned a profile whose root is not a self-signed CA");
  }
  if (profile.fingerprint != keyservice::profile_fingerprint_of(root)) {
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

// The root, then the exportable endorsements it made (what `export
// endorsements` writes), for correspondents who look the profile up.
std::string endorsements_pem(store::LocalStore& store, const crypto::Certificate& root) {
  auto endorsements = store::TrustRecords(store).exportable_endorsements(keyservice::profile_fingerprint_of(root));
  if (endorsements.empty())
    return "";
  std::string pem = root.pem();
  for (const auto& der : endorsements)
    pem += crypto::Certificate::from_der(der).pem();
  return pem;
}

// The escrow (docs/service.md, "Recovery"): every mail key, the devices and
// the root's private key, sealed under a key only the root secret gives.
keyservice::EscrowReference escrow_of(profile::Profile& profile, const KeyAccess& key_access,
                                      const crypto::PrivateKey& root_key, const RosterClock& clock, TimePoint now) {
  KeyBundle escrow = bundle_of(
      profile, key_access, [](const store::MailKeyRecord&) { return true; }, now);
  escrow.devices = profile.store().devices();
  for (auto& device : escrow.devices) {
    device.is_this_device = false;
    device.signature_key_file.clear();
    device.agreement_key_file.clear();
  }
  escrow.root_key = root_key.to_pkcs8_pem();
  // What another admin device merges (roster.cc): the revocations, and
  // which publications of each admin device this one follows.
  escrow.revoked = store::TrustRecords(profile.store()).revoked_serials(profile.store().profile().fingerprint);
  escrow.roster_clock = clock;
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

namespace {

// Another device holding the root renewed it too and published first: the
// service keeps the root that lasts longest (409 root_outdated for this
// one). This device takes the published root when it is the same profile
// root (the same key and name, self-signed: a service cannot forge one) and
// lasts at least as long; what this device issued under its own renewal
// verifies under it (same key, same name). False when there is none.
bool adopt_published_root(profile::Profile& profile, keyservice::Client& client) {
  const crypto::Certificate root = profile.root_certificate();
  const Identity fingerprint = keyservice::profile_fingerprint_of(root);
  for (const auto& address : profile.addresses()) {
    std::optional<keyservice::PublishedProfile> published;
    try {
      published = fetch_profile(client, address);
    } catch (const Error&) {
      continue;  // not served for this address (unverified, or withdrawn)
    }
    const crypto::Certificate& other = published->root;
    if (published->fingerprint == fingerprint && other.der() != root.der() &&
        keyservice::same_profile_root(other, root) && other.not_after() >= root.not_after()) {
      profile.store().set_root_certificate(other.der());
      return true;
    }
  }
  return false;
}

PublishReport publish_once(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                           TimePoint now) {
  crypto::PrivateKey root_key = profile.root_key(key_access);
  crypto::Certificate root = profile.root_certificate();
  const Identity fingerprint = keyservice::profile_fingerprint_of(root);
  // The clock sealed is the clock remembered: another process of this
  // device may publish in between, and a count above anything published
  // would make every escrow served look older.
  const RosterClock clock = next_roster_clock(profile.store());
  keyservice::Publication publication{
      root, profile.current_mail_certificates(),          endorsements_pem(profile.store(), root), {},
      {},   escrow_of(profile, key_access, root_key, clock, now)};
  auto serials = store::TrustRecords(profile.store()).revoked_serials(fingerprint);
  if (!serials.empty())
    publication.revocations.push_back(crypto::issue_revocation_list(root_key, root, serials, now).der());
  for (const auto& device : profile.store().devices()) {
    publication.devices.push_back({device.device_id, device.name, std::string(store::to_string(device.role)),
                                   std::string(store::to_string(device.status)),
                                   crypto::Certificate::from_der(device.signature_certificate),
                                   crypto::Certificate::from_der(device.agreement_certificate)});
  }
  KeySigner signer(std::move(root_key), std::string(keyservice::kRootKey), now);
  keyservice::PublishReceipt receipt = client.publish(fingerprint, publication, signer.signer);
  remember_service(profile.store(), client.url());
  remember_roster_clock(profile.store(), clock);
  return PublishReport{fingerprint, profile.addresses(), static_cast<int>(publication.certificates.size()),
                       static_cast<int>(publication.devices.size()), std::move(receipt.claims)};
}

}  // namespace

namespace internal {

PublishReport publish_over_escrow(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                                  TimePoint now) {
  try {
    return publish_once(profile, client, key_access, now);
  } catch (const Error& error) {
    // A refusal (409 root_outdated among them) after which the published
    // root is this one renewed elsewhere: adopt it and publish again, once.
    if (error.code() != ErrorCode::RejectedByPolicy || !adopt_published_root(profile, client))
      throw;
    return publish_once(profile, client, key_access, now);
  }
}

}  // namespace internal

PublishReport publish(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                      TimePoint now) {
  // The device list published replaces the service's: first what the other
  // admin devices added, removed, rotated and revoked (roster.cc).
  const bool older = learn_from_escrow(profile, client, key_access, now).older_served;
  PublishReport report = internal::publish_over_escrow(profile, client, key_access, now);
  report.older_escrow_merged = older;
  return report;
}

keyservice::AddressClaim confirm_address(profile::Profile& profile, keyservice::Client& client,
                                         const KeyAccess& key_access, std::string_view token_or_link, TimePoint now) {
  std::optional<std::string> token = keyservice::verification_token_in(token_or_link);
  if (!token) {
    throw Error(ErrorCode::Usage, "that is not the token or the link of a challenge mail",
                fmt::format("give the {} hex digits after '{}' in the mail's link",
                            keyservice::kVerificationTokenDigits, keyservice::kVerifyPath));
  }
  KeySigner signer = root_signer(profile, key_access, now);
  return client.confirm_address(keyservice::profile_fingerprint_of(profile.root_certificate()),
                                keyservice::Confirmation{*token}, signer.signer);
}

keyservice::AddressClaim withdraw_address(profile::Profile& profile, keyservice::Client& client,
                                          const KeyAccess& key_access, const EmailAddress& address, TimePoint now) {
  if (!profile.has_address(address))
    throw Error(ErrorCode::Usage, fmt::format("{} is not an address of this profile", address.str()));
  KeySigner signer = root_signer(profile, key_access, now);
  return client.withdraw_address(keyservice::profile_fingerprint_of(profile.root_certificate()), address,
                                 signer.signer);
}

FirstPublication publish_new_profile(profile::Profile& profile, std::string_view service_url,
                                     const KeyAccess& key_access, TimePoint now) {
  FirstPublication outcome;
  try {
    keyservice::Client client{std::string(service_url)};
    remember_service(profile.store(), client.url());
    outcome.published = publish(profile, client, key_access, now);
  } catch (const Error& error) {
    outcome.failure = error.what();
  }
  return outcome;
}

}  // namespace mailseal::devices
