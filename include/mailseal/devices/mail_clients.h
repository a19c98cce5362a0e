#pragma once
// Keys into the mail clients people already have (DESIGN.md section 7):
// Apple's configuration profiles, Thunderbird's NSS database and
// preferences, and mutt/neomutt with OpenSSL.

#include <filesystem>
#include <string>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/secret.h"
#include "mailseal/devices/profile.h"

namespace mailseal::devices {

// Most mail clients read no AES-GCM (AuthEnvelopedData) and no RSA-OAEP:
// NSS/Thunderbird, gpgsm, Outlook. Once a profile's keys live in one, its
// encryption certificates must ask senders for AES-CBC, or mail from other
// mailseal users would be unreadable there. This re-issues them (same keys),
// publishes them and sends them to the other devices when a key service is
// remembered. Nothing happens when they already ask for CBC.
struct CbcReaders {
  std::vector<crypto::Certificate> reissued;
  bool published = false;
  int devices_updated = 0;
  std::vector<std::string> warnings;  // what could not be done, and what to do instead
};
CbcReaders ask_senders_for_cbc(Profile& profile, const Passphrase* passphrase);

// An Apple configuration profile (.mobileconfig, an XML property list) for
// iPhone, iPad and macOS Mail: one com.apple.security.pkcs12 payload per
// current mail key (Apple reads one identity per PKCS#12) protected by
// `password`, and a com.apple.security.root payload with the profile root so
// that the chain is trusted. The password is written into the profile only
// if `include_password` (Apple then installs without asking; the file must
// be kept as secret as the keys).
std::string apple_configuration_profile(Profile& profile, const Passphrase& password, bool include_password,
                                        const Passphrase* key_passphrase);

// Thunderbird's name for a certificate in its preferences: base64 of two
// zero words, the lengths of the serial number and issuer, then both (the
// NSS "dbKey").
std::string thunderbird_db_key(const crypto::Certificate& certificate);

struct ThunderbirdCertificate {
  EmailAddress address;
  store::KeyPurpose purpose;
  std::string nickname;
  std::string db_key;
};

struct ThunderbirdIdentity {
  std::string id;  // "id1"
  EmailAddress address;
};

struct ThunderbirdSetup {
  CbcReaders cbc;  // Thunderbird reads no AES-GCM: the certificates ask for CBC first
  std::vector<ThunderbirdCertificate> certificates;
  std::vector<ThunderbirdIdentity> identities;  // the identities whose preferences were set
};

// Imports the current mail keys with their chains into the NSS database of a
// Thunderbird profile directory (pk12util; the database is created when
// missing), trusts the profile root for email, and sets, for every
// Thunderbird identity with one of the profile's addresses, the signing and
// encryption certificates and signing by default in prefs.js (atomically).
// Error(NotFound) when no identity uses one of the addresses, and
// Error(RejectedByPolicy) while Thunderbird runs (it rewrites prefs.js on
// exit): nothing is changed then.
ThunderbirdSetup setup_thunderbird(Profile& profile, const std::filesystem::path& directory,
                                   const Passphrase* key_passphrase, const Passphrase* database_password);

struct MuttSetup {
  std::filesystem::path directory;
  std::string configuration;  // the lines for muttrc
};

// Writes the files mutt's OpenSSL S/MIME commands read into `directory`
// (0700): the keys (PKCS#8, encrypted as they are in the store), the
// certificates and the profile root; returns the muttrc lines that use them.
MuttSetup setup_mutt(Profile& profile, const std::filesystem::path& directory);

}  // namespace mailseal::devices
