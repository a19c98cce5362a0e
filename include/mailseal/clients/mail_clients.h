#pragma once
// Keys into the mail clients people already have (DESIGN.md section 7):
// Apple's configuration profiles, Thunderbird's NSS database and
// preferences, and mutt/neomutt with OpenSSL.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/key_access.h"
#include "mailseal/common/secret.h"
#include "mailseal/contacts/client_trust.h"
#include "mailseal/crypto/pkcs12.h"
#include "mailseal/profile/profile.h"

namespace mailseal::clients {

// Most mail clients read no AES-GCM (AuthEnvelopedData) and no RSA-OAEP:
// NSS/Thunderbird, gpgsm, Outlook. Once a profile's keys live in one, its
// encryption certificates must ask senders for AES-CBC, or mail from other
// mailseal users would be unreadable there. Every export below for such a
// client first re-issues them (same keys), publishes them and sends them to
// the other devices when a key service is remembered, and reports what it
// did here. Nothing happens when they already ask for CBC. The new
// certificates are valid from the `now` each export takes.
struct CbcReaders {
  std::vector<crypto::Certificate> reissued;
  bool published = false;
  int devices_updated = 0;
  std::vector<std::string> warnings;  // what could not be done, and what to do instead
};

// The current mail keys (of one address or all, of one purpose or both) as
// a PKCS#12 for another mail client; with `ask_for_cbc`, the certificates
// ask senders for AES-CBC first (the client reads no AES-GCM).
struct Pkcs12Options {
  std::optional<EmailAddress> address;
  std::optional<store::KeyPurpose> purpose;
  crypto::Pkcs12Protection protection = crypto::Pkcs12Protection::Modern;
  bool ask_for_cbc = false;
};
struct Pkcs12ForClient {
  Bytes data;
  std::optional<CbcReaders> cbc;  // with ask_for_cbc
};
Pkcs12ForClient export_pkcs12(profile::Profile& profile, const Pkcs12Options& options, const Passphrase& password,
                              const KeyAccess& key_access, TimePoint now);

// An Apple configuration profile (.mobileconfig, an XML property list) for
// iPhone, iPad and macOS Mail: one com.apple.security.pkcs12 payload per
// current mail key (Apple reads one identity per PKCS#12) protected by
// `password`, and a com.apple.security.root payload with the profile root so
// that the chain is trusted. The password is written into the profile only
// if `include_password` (Apple then installs without asking; the file must
// be kept as secret as the keys). Apple Mail is not known to read AES-GCM:
// the certificates ask senders for AES-CBC first.
struct AppleProfile {
  std::string document;
  CbcReaders cbc;
};
AppleProfile apple_configuration_profile(profile::Profile& profile, const Passphrase& password, bool include_password,
                                         const KeyAccess& key_access, TimePoint now);

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
  // Correspondents' roots and what the database now says of them (only
  // profile roots are changed; see contacts/client_trust.h).
  std::vector<contacts::ClientRoot> roots;
};

// Imports the current mail keys with their chains into the NSS database of a
// Thunderbird profile directory (pk12util; the database is created when
// missing) under distinct nicknames ("ADDRESS (signing)", "ADDRESS
// (encryption)"), trusts the profile root for email, makes correspondents'
// profile roots trusted for email (only), distrusted or untrusted as
// contacts::client_roots decides at `now`, and sets, for every
// Thunderbird identity with one of the profile's addresses, the signing and
// encryption certificates and signing by default in prefs.js (atomically).
// Error(NotFound) when no identity uses one of the addresses, and
// Error(RejectedByPolicy) while Thunderbird runs (it rewrites prefs.js on
// exit): nothing is changed then. Thunderbird reads no AES-GCM: the
// certificates ask senders for AES-CBC first. The set-up is remembered for
// `sync`.
ThunderbirdSetup setup_thunderbird(profile::Profile& profile, const std::filesystem::path& directory,
                                   const KeyAccess& key_access, const Passphrase* database_password, TimePoint now);

// Thunderbird's outgoing server for its identities: the mailseal gateway at
// `gateway` (HOST:PORT) with the credential `user` (SMTP AUTH, "normal
// password"), over STARTTLS when the gateway offers it, else in clear (it
// listens on loopback). `database_password`: the primary password of the
// profile's key database, if it has one.
enum class SubmissionSecurity { None, StartTls };
struct ThunderbirdSubmission {
  std::string gateway;
  std::string user;
  SubmissionSecurity security = SubmissionSecurity::None;
  const Passphrase* database_password = nullptr;
};

struct ThunderbirdOutgoing {
  std::string server;                           // the key of its outgoing server ("smtp2")
  bool added = false;                           // a new server entry, not one that was already the gateway's
  std::vector<ThunderbirdIdentity> identities;  // the identities that now send through it
  std::string login_origin;                     // where its password manager holds the secret ("smtp://127.0.0.1")
  bool login_replaced = false;                  // it held an older one for the same server and user
};

// Adds (or updates) an outgoing server in prefs.js (mail.smtpservers,
// mail.smtpserver.KEY.*) for the gateway, makes it the outgoing server of
// every Thunderbird identity with one of the profile's addresses
// (mail.identity.ID.smtpServer), and saves the credential's secret in
// Thunderbird's password manager, so that Thunderbird sends without asking:
// logins.json, encrypted with the key of the profile's key database
// (key4.db) as Thunderbird does (NSS's SDR; see src/clients/internal/sdr.h),
// under the origin Thunderbird looks up ("smtp://HOST", no port). Other
// saved passwords are kept; an older one for the same server and user is
// replaced. `make_secret` is called once everything has been checked (the
// profile, prefs.js, logins.json, the database and its password), before
// anything is written, and gives the secret. Both files are written
// atomically (0600), logins.json first. Error(NotFound) when no identity
// uses one of the addresses, Error(RejectedByPolicy) while Thunderbird runs,
// Error(Usage) for a gateway that is not HOST:PORT, Error(Malformed) for a
// logins.json Thunderbird could not load, Error(BadPassword) when the key
// database has a primary password and `database_password` is missing or
// wrong: nothing is changed then.
ThunderbirdOutgoing set_thunderbird_outgoing(profile::Profile& profile, const std::filesystem::path& directory,
                                             const ThunderbirdSubmission& submission,
                                             const std::function<Passphrase()>& make_secret, TimePoint now);

struct MuttSetup {
  std::filesystem::path directory;
  std::string configuration;              // the lines for muttrc
  std::filesystem::path submission_file;  // 0600: smtp_url and smtp_pass, sourced by the lines
};

// How mutt submits: through the mailseal gateway at `gateway` (HOST:PORT)
// with a gateway credential (its name and secret).
struct MuttSubmission {
  std::string gateway;
  std::string user;
  std::string secret;
};

// Writes the files mutt's OpenSSL S/MIME commands read into `directory`
// (0700): the keys (PKCS#8, encrypted as they are in the store), the
// certificates and the profile root, and, given a `submission`,
// gateway.muttrc (0600) with smtp_url and smtp_pass (without one the file
// is left as it is); returns the muttrc lines that use them (the secret is
// only in the private file, which they `source`). Error(Usage) for a gateway
// address that is not HOST:PORT. The set-up is remembered for `sync`.
MuttSetup setup_mutt(profile::Profile& profile, const std::filesystem::path& directory,
                     const MuttSubmission* submission, TimePoint now);

// The kinds of client set-up mailseal remembers (store::ClientSetupRecord).
inline constexpr std::string_view kThunderbirdClient = "thunderbird";
inline constexpr std::string_view kMuttClient = "mutt";

// A remembered client set-up and whether what it holds is still current:
// the keys (a rotation, a device removal, a new CBC certificate change
// them) and, for Thunderbird, the correspondents' roots it trusts (a pin,
// an acceptance, a conflict, a revocation change them).
struct ClientState {
  store::ClientSetupRecord setup;
  bool keys_current = true;
  bool trust_current = true;
  std::string rerun;  // the command that sets it up again by hand
};
std::vector<ClientState> client_states(profile::Profile& profile, TimePoint now);

// What `sync` did with one client set-up that was not current: refreshed
// it, or why it could not (`problem`, with `state.rerun` to do by hand).
struct ClientRefresh {
  ClientState state;
  bool refreshed = false;
  std::string problem;
};
// Sets up again every remembered client that is not current (Thunderbird:
// keys and trust, as setup_thunderbird; mutt: the key files, keeping its
// gateway credential). A client that cannot be refreshed now (Thunderbird
// runs, its database has a password, the folder is gone) is reported, not
// an error.
std::vector<ClientRefresh> refresh_clients(profile::Profile& profile, const KeyAccess& key_access, TimePoint now);

}  // namespace mailseal::clients
