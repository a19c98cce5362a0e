// Thunderbird: the keys into its NSS database, its identities' S/MIME
// preferences in prefs.js.

#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "clients/internal/cbc.h"
#include "clients/internal/nss.h"
#include "clients/internal/setups.h"
#include "clients/internal/thunderbird_prefs.h"
#include "mailseal/agent/agent.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/contacts/client_trust.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::clients {

using internal::pref_string;
using internal::profile_identities;
using internal::read_preferences;
using internal::read_prefs_of_stopped_thunderbird;
using internal::run_nss_tool;
using internal::ScratchDirectory;
using internal::set_preferences;
using internal::string_preference;

namespace {

namespace fs = std::filesystem;

// Whether a process still holds the fcntl lock Thunderbird (like every
// Mozilla program on Unix) takes on .parentlock while it runs.
bool parent_lock_is_held(const fs::path& parent_lock) {
  UniqueFd file(::open(parent_lock.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!file.valid())
    return false;
  struct flock query {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  return ::fcntl(file.get(), F_GETLK, &query) == 0 && query.l_type != F_UNLCK;
}

// The process the `lock` link names ("IP:+PID"), if it is alive.
bool lock_link_process_is_alive(const fs::path& lock) {
  std::error_code error;
  const std::string target = fs::read_symlink(lock, error).string();
  const auto plus = target.rfind(":+");
  if (error || plus == std::string::npos)
    return false;
  long pid = 0;
  for (char c : target.substr(plus + 2)) {
    if (c < '0' || c > '9' || pid > 4194304)
      return false;
    pid = pid * 10 + (c - '0');
  }
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// Whether Thunderbird runs with the profile in `directory`. Thunderbird
// leaves its `lock` link behind after a normal quit, so the link alone says
// nothing: the lock on .parentlock decides, and where there is no .parentlock
// (an older or foreign layout), whether the process the link names lives.
bool thunderbird_is_running(const fs::path& directory) {
  std::error_code ignored;
  if (fs::exists(fs::symlink_status(directory / ".parentlock", ignored)))
    return parent_lock_is_held(directory / ".parentlock");
  return fs::is_symlink(fs::symlink_status(directory / "lock", ignored)) &&
         lock_link_process_is_alive(directory / "lock");
}

// The identities of prefs.js: id -> useremail, from lines such as
//   user_pref("mail.identity.id2.useremail", "alice@example.com");
std::map<std::string, std::string> thunderbird_identities(const std::string& prefs) {
  constexpr std::string_view prefix = "user_pref(\"mail.identity.";
  constexpr std::string_view middle = ".useremail\", \"";
  constexpr std::string_view suffix = "\");";
  std::map<std::string, std::string> out;
  std::istringstream lines(prefs);
  std::string line;
  while (std::getline(lines, line)) {
    std::string_view rest(line);
    if (!rest.starts_with(prefix))
      continue;
    rest.remove_prefix(prefix.size());
    std::size_t id_end = rest.find(middle);
    if (id_end == std::string_view::npos || id_end < 3 || !rest.starts_with("id") ||
        rest.substr(2, id_end - 2).find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    std::string_view id = rest.substr(0, id_end);
    rest.remove_prefix(id_end + middle.size());
    if (!rest.ends_with(suffix))
      continue;
    rest.remove_suffix(suffix.size());
    if (rest.find_first_of("\"\\") != std::string_view::npos)
      continue;  // an escaped address is not one mailseal could have
    out[std::string(id)] = std::string(rest);
  }
  return out;
}

}  // namespace

namespace internal {

std::string pref_string(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

// prefs.js of a profile Thunderbird does not run with (it rewrites the file
// on exit: what is written now would be lost); empty when there is none.
std::string read_prefs_of_stopped_thunderbird(const fs::path& directory) {
  if (!fs::is_directory(directory))
    throw Error(ErrorCode::NotFound, fmt::format("{} is not a Thunderbird profile directory", directory.string()));
  if (thunderbird_is_running(directory))
    throw Error(ErrorCode::RejectedByPolicy, "Thunderbird is running with this profile", "quit Thunderbird first");
  const fs::path prefs_file = directory / "prefs.js";
  std::string prefs;
  if (fs::exists(prefs_file)) {
    Bytes bytes = read_file(prefs_file);
    prefs.assign(bytes.begin(), bytes.end());
  }
  return prefs;
}

// The identities of prefs.js with one of the profile's addresses;
// Error(NotFound) when there is none.
std::vector<ThunderbirdIdentity> profile_identities(profile::Profile& profile, const fs::path& directory,
                                                    const std::string& prefs) {
  std::vector<ThunderbirdIdentity> out;
  for (const auto& [id, email] : thunderbird_identities(prefs)) {
    if (!EmailAddress::is_valid(email))
      continue;
    EmailAddress address = EmailAddress::parse(email);
    if (profile.has_address(address))
      out.push_back({id, address});
  }
  if (out.empty()) {
    std::string addresses;
    for (const auto& address : profile.addresses())
      addresses += (addresses.empty() ? "" : ", ") + address.str();
    throw Error(ErrorCode::NotFound, fmt::format("no Thunderbird account in {} uses {}", directory.string(), addresses),
                "add the mail account in Thunderbird first, quit it, then run this again");
  }
  return out;
}

// Every user_pref line of prefs.js: name -> its value as written (a string
// value with its quotes and escapes, a number, true or false).
std::map<std::string, std::string> read_preferences(const std::string& prefs) {
  constexpr std::string_view prefix = "user_pref(\"";
  std::map<std::string, std::string> out;
  std::istringstream lines(prefs);
  std::string line;
  while (std::getline(lines, line)) {
    std::string_view rest(line);
    if (!rest.starts_with(prefix) || !rest.ends_with(");"))
      continue;
    rest.remove_prefix(prefix.size());
    rest.remove_suffix(2);
    const auto name_end = rest.find("\", ");
    if (name_end == std::string_view::npos || rest.substr(0, name_end).find_first_of("\"\\") != std::string_view::npos)
      continue;
    out[std::string(rest.substr(0, name_end))] = std::string(rest.substr(name_end + 3));
  }
  return out;
}

// A string preference's text (pref_string in reverse); empty for anything else.
std::string string_preference(const std::map<std::string, std::string>& preferences, const std::string& name) {
  const auto found = preferences.find(name);
  if (found == preferences.end() || found->second.size() < 2 || found->second.front() != '"' ||
      found->second.back() != '"')
    return {};
  std::string out;
  const std::string_view inner = std::string_view(found->second).substr(1, found->second.size() - 2);
  for (std::size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size())
      ++i;
    out += inner[i];
  }
  return out;
}

// prefs.js with `values` set: earlier lines for those names are dropped, the
// new ones appended (Thunderbird reads the file top to bottom, last wins).
std::string set_preferences(const std::string& prefs, const std::vector<std::pair<std::string, std::string>>& values) {
  std::istringstream lines(prefs);
  std::string line;
  std::string out;
  while (std::getline(lines, line)) {
    bool replaced = std::any_of(values.begin(), values.end(), [&](const auto& value) {
      return line.rfind(fmt::format("user_pref(\"{}\",", value.first), 0) == 0;
    });
    if (!replaced)
      out += line + "\n";
  }
  for (const auto& [name, value] : values)
    out += fmt::format("user_pref(\"{}\", {});\n", name, value);
  return out;
}

}  // namespace internal

namespace {

// The NSS database of one profile and what its tools need: the password of
// its key database (empty when it has none) in a file of a private scratch
// directory that is removed afterwards.
class NssSession {
 public:
  NssSession(std::string database, const Passphrase* database_password)
      : database_(std::move(database)), has_password_(database_password != nullptr) {
    password_file_ = scratch_.path() / "database-password";
    write_new_file(password_file_,
                   as_bytes(std::string(database_password ? database_password->view() : std::string_view{}) + "\n"),
                   FileMode::Private);
  }
  const std::string& database() const noexcept { return database_; }
  const fs::path& scratch() const noexcept { return scratch_.path(); }
  std::string password_file() const { return password_file_.string(); }

  void create() const {
    std::vector<std::string> create = {"certutil", "-N", "-d", database_};
    if (has_password_)
      create.insert(create.end(), {"-f", password_file()});
    else
      create.push_back("--empty-password");
    run_nss_tool(create, "creating the NSS database");
  }

  // Adds `certificate` under `nickname` with NSS trust flags `trust`
  // ("SSL,S/MIME,code signing"), or, when the database holds it already,
  // sets its trust and keeps its nickname.
  void add(const crypto::Certificate& certificate, const std::string& nickname, std::string_view trust,
           std::string_view what) {
    const fs::path file = scratch_.path() / fmt::format("certificate-{}.pem", ++files_);
    write_new_file(file, as_bytes(certificate.pem()), FileMode::Private);
    run_nss_tool({"certutil", "-A", "-d", database_, "-n", nickname, "-t", std::string(trust), "-i", file.string(),
                  "-f", password_file()},
                 what);
  }

 private:
  ScratchDirectory scratch_;
  std::string database_;
  bool has_password_;
  fs::path password_file_;
  int files_ = 0;
};

// NSS trust flags, "SSL,S/MIME,code signing": a CA trusted to issue mail
// certificates and nothing else; one explicitly distrusted for mail ('p'
// without 'C': a terminal record, not trusted); no trust at all.
constexpr std::string_view kEmailAnchor = ",C,";
constexpr std::string_view kEmailDistrusted = ",p,";
constexpr std::string_view kNoTrust = ",,";

// The current mail keys with their chains. NSS would give a certificate the
// nickname of one it already holds with the same subject (pk12util), and
// the signing and encryption certificates share their subject: each is
// added first under its own name ("alice@example.com (encryption)"), and
// pk12util then only adds its key.
std::vector<ThunderbirdCertificate> import_keys(NssSession& session, profile::Profile& profile,
                                                const KeyAccess& key_access) {
  crypto::Certificate root = profile.root_certificate();
  // The root first, under a name of our own and trusted for email only; the
  // PKCS#12 imports then find it there.
  session.add(root, "mailseal root " + root.common_name(), kEmailAnchor, "adding the profile root to the NSS database");
  const fs::path password_file = session.scratch() / "pkcs12-password";
  Passphrase password(to_hex(crypto::random_bytes(16)));
  write_new_file(password_file, as_bytes(std::string(password.view()) + "\n"), FileMode::Private);
  std::vector<ThunderbirdCertificate> out;
  for (const auto& exported : profile.export_pkcs12_per_key(password, crypto::Pkcs12Protection::Modern, key_access)) {
    session.add(exported.certificate, exported.friendly_name, kNoTrust, "adding a mail certificate to the NSS database");
    const fs::path file = session.scratch() / fmt::format("{}.p12", out.size());
    write_new_file(file, exported.data, FileMode::Private);
    run_nss_tool({"pk12util", "-i", file.string(), "-d", session.database(), "-w", password_file.string(), "-k",
                  session.password_file()},
                 "importing a key into the NSS database");
    out.push_back({exported.address, exported.purpose, exported.friendly_name,
                   thunderbird_db_key(exported.certificate)});
  }
  return out;
}

// Correspondents' roots as the verdicts say (contacts::client_roots): a
// trust anchor for email, explicitly distrusted, or no trust. Distrust is a
// flag on the certificate, not its removal: Thunderbird stores the
// certificates of signed mail it reads, so a removed root would come back
// from the impostor's next message, and a user's earlier "trust" click would
// survive on a copy mailseal did not remove; a distrusted entry overrides
// both.
std::vector<contacts::ClientRoot> apply_client_trust(NssSession& session, std::vector<contacts::ClientRoot> roots) {
  for (const auto& root : roots) {
    if (!root.profile_root)
      continue;  // a CA's trust is the client's own business (client_trust.h)
    std::string addresses;
    for (const auto& address : root.addresses)
      addresses += (addresses.empty() ? "" : ", ") + address.str();
    const std::string nickname = fmt::format("mailseal contact {} {}", addresses, root.identity.str().substr(0, 14));
    switch (root.trust) {
      case contacts::ClientTrust::Anchor:
        session.add(root.root, nickname, kEmailAnchor, "trusting a correspondent's profile root");
        break;
      case contacts::ClientTrust::Distrusted:
        session.add(root.root, nickname, kEmailDistrusted, "distrusting a correspondent's root");
        break;
      case contacts::ClientTrust::Untrusted:
        session.add(root.root, nickname, kNoTrust, "clearing the trust in a correspondent's root");
        break;
    }
  }
  return roots;
}

}  // namespace

std::string thunderbird_db_key(const crypto::Certificate& certificate) {
  Bytes serial = certificate.serial_der_content();
  Bytes issuer = certificate.issuer_name_der();
  Bytes key(8, 0);
  for (std::size_t length : {serial.size(), issuer.size()}) {
    for (int shift = 24; shift >= 0; shift -= 8)
      key.push_back(static_cast<std::uint8_t>((length >> shift) & 0xff));
  }
  key.insert(key.end(), serial.begin(), serial.end());
  key.insert(key.end(), issuer.begin(), issuer.end());
  return encode_base64(key);
}

ThunderbirdSetup setup_thunderbird(profile::Profile& profile, const fs::path& directory, const KeyAccess& key_access,
                                   const Passphrase* database_password, TimePoint now) {
  const fs::path prefs_file = directory / "prefs.js";
  const std::string prefs = read_prefs_of_stopped_thunderbird(directory);
  ThunderbirdSetup setup;
  setup.identities = profile_identities(profile, directory, prefs);

  setup.cbc = internal::ask_senders_for_cbc(profile, key_access, now);
  const std::string database = "sql:" + directory.string();
  NssSession session(database, database_password);
  if (!fs::exists(directory / "cert9.db"))
    session.create();
  setup.certificates = import_keys(session, profile, key_access);
  setup.roots = apply_client_trust(session, contacts::client_roots(profile.store(), agent::evaluator(profile), now));

  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& identity : setup.identities) {
    for (const auto& certificate : setup.certificates) {
      if (certificate.address != identity.address)
        continue;
      const std::string prefix = "mail.identity." + identity.id + ".";
      if (certificate.purpose != store::KeyPurpose::Encryption) {
        values.emplace_back(prefix + "signing_cert_name", pref_string(certificate.nickname));
        values.emplace_back(prefix + "signing_cert_dbkey", pref_string(certificate.db_key));
        values.emplace_back(prefix + "sign_mail", "true");
      }
      if (certificate.purpose != store::KeyPurpose::Signing) {
        values.emplace_back(prefix + "encryption_cert_name", pref_string(certificate.nickname));
        values.emplace_back(prefix + "encryption_cert_dbkey", pref_string(certificate.db_key));
      }
    }
    // S/MIME rather than OpenPGP when both could be used (Thunderbird 78+).
    values.emplace_back("mail.identity." + identity.id + ".e2etechpref", "1");
  }
  write_file_atomic(prefs_file, as_bytes(set_preferences(prefs, values)), FileMode::Private);
  internal::remember_setup(profile, kThunderbirdClient, directory, now, &setup.roots);
  return setup;
}

}  // namespace mailseal::clients
