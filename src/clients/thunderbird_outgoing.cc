// Thunderbird's outgoing server pointed at the gateway (setup gateway): its
// preferences in prefs.js and the password in logins.json. A file of its own
// because saving the password links NSS (sdr.cc), which only the program
// that runs `setup gateway` loads (src/cli/CMakeLists.txt).

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "clients/internal/logins.h"
#include "clients/internal/sdr.h"
#include "clients/internal/thunderbird_prefs.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"

namespace mailseal::clients {

using internal::pref_string;
using internal::profile_identities;
using internal::read_preferences;
using internal::read_prefs_of_stopped_thunderbird;
using internal::set_preferences;
using internal::string_preference;
namespace fs = std::filesystem;

namespace {

// Thunderbird's numbers for an outgoing server (nsMsgAuthMethod,
// nsMsgSocketType): "normal password", no TLS or STARTTLS.
constexpr std::string_view kAuthNormalPassword = "3";
constexpr std::string_view kSocketPlain = "0";
constexpr std::string_view kSocketStartTls = "2";
constexpr std::string_view kGatewayDescription = "mailseal gateway";

// The key of the outgoing server for `gateway` in `preferences`: the one
// listed with its host and port, else "smtpN" with an N no preference uses.
std::pair<std::string, bool> gateway_server(const std::map<std::string, std::string>& preferences,
                                            const std::vector<std::string>& servers, const HostPort& gateway) {
  for (const auto& server : servers) {
    const std::string prefix = "mail.smtpserver." + server + ".";
    const auto port = preferences.find(prefix + "port");
    if (string_preference(preferences, prefix + "hostname") == gateway.host && port != preferences.end() &&
        port->second == std::to_string(gateway.port))
      return {server, false};
  }
  int highest = 0;
  constexpr std::string_view server_prefix = "mail.smtpserver.smtp";
  auto number = [](std::string_view text) {
    const auto end = text.find_first_not_of("0123456789");
    std::string_view digits = text.substr(0, end);
    return digits.empty() || digits.size() > 6 ? 0 : std::stoi(std::string(digits));
  };
  for (const auto& [name, value] : preferences) {
    if (name.starts_with(server_prefix))
      highest = std::max(highest, number(std::string_view(name).substr(server_prefix.size())));
  }
  for (const auto& server : servers) {
    if (server.starts_with("smtp"))
      highest = std::max(highest, number(std::string_view(server).substr(4)));
  }
  return {fmt::format("smtp{}", highest + 1), true};
}

// logins.json of `directory` as a document, a new one when there is none;
// Error(Malformed) for one Thunderbird could not load.
nlohmann::json read_logins(const fs::path& directory) {
  const fs::path file = directory / "logins.json";
  if (!fs::exists(file))
    return internal::empty_logins();
  const Bytes bytes = read_file(file);
  return internal::parse_logins(as_string_view(bytes), file);
}

}  // namespace

ThunderbirdOutgoing set_thunderbird_outgoing(profile::Profile& profile, const fs::path& directory,
                                             const ThunderbirdSubmission& submission,
                                             const std::function<Passphrase()>& make_secret, TimePoint now) {
  HostPort gateway = parse_host_port(submission.gateway);  // Error(Usage) unless HOST:PORT
  // Thunderbird keeps an IPv6 address without brackets and adds them itself
  // where it makes a URI (SmtpServer.sys.mjs, _getServerURISpec).
  if (gateway.host.size() > 2 && gateway.host.front() == '[' && gateway.host.back() == ']')
    gateway.host = gateway.host.substr(1, gateway.host.size() - 2);
  // pref_string escapes quotes and backslashes; a line break would end the
  // preference and start another.
  for (std::string_view value : {std::string_view(gateway.host), std::string_view(submission.user)}) {
    if (std::any_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      throw Error(ErrorCode::Usage, "the gateway's host or user name holds a control character");
  }
  const std::string prefs = read_prefs_of_stopped_thunderbird(directory);
  ThunderbirdOutgoing outgoing;
  outgoing.identities = profile_identities(profile, directory, prefs);
  const std::map<std::string, std::string> preferences = read_preferences(prefs);

  std::vector<std::string> servers;
  std::istringstream list(string_preference(preferences, "mail.smtpservers"));
  for (std::string server; std::getline(list, server, ',');) {
    if (!server.empty())
      servers.push_back(server);
  }
  std::tie(outgoing.server, outgoing.added) = gateway_server(preferences, servers, gateway);
  if (outgoing.added)
    servers.push_back(outgoing.server);
  std::string joined;
  for (const auto& server : servers)
    joined += (joined.empty() ? "" : ",") + server;

  const std::string prefix = "mail.smtpserver." + outgoing.server + ".";
  std::vector<std::pair<std::string, std::string>> values = {
      {"mail.smtpservers", pref_string(joined)},
      {prefix + "hostname", pref_string(gateway.host)},
      {prefix + "port", std::to_string(gateway.port)},
      {prefix + "authMethod", std::string(kAuthNormalPassword)},
      {prefix + "try_ssl",
       std::string(submission.security == SubmissionSecurity::StartTls ? kSocketStartTls : kSocketPlain)},
      {prefix + "username", pref_string(submission.user)},
      {prefix + "description", pref_string(kGatewayDescription)}};
  for (const auto& identity : outgoing.identities)
    values.emplace_back("mail.identity." + identity.id + ".smtpServer", pref_string(outgoing.server));

  // Everything that could refuse is checked before the secret is made and
  // before anything is written.
  nlohmann::json logins = read_logins(directory);
  internal::ProfileSdr sdr(directory, submission.database_password);
  outgoing.login_origin = internal::smtp_login_origin(gateway.host);
  // A rehearsal on a copy, with a stand-in password: every SDR step the
  // real one takes (the key, each existing entry's decryption) has run
  // before make_secret replaces the old credential, so a key database that
  // refuses leaves Thunderbird its old password (found in review).
  {
    nlohmann::json rehearsal = logins;
    const Passphrase stand_in("stand-in");
    internal::store_login(rehearsal, {outgoing.login_origin, submission.user, &stand_in}, sdr, now);
  }
  const Passphrase secret = make_secret();
  const internal::StoredLogin stored =
      internal::store_login(logins, {outgoing.login_origin, submission.user, &secret}, sdr, now);
  outgoing.login_replaced = stored.replaced;
  write_file_atomic(directory / "logins.json", as_bytes(logins.dump()), FileMode::Private);
  write_file_atomic(directory / "prefs.js", as_bytes(set_preferences(prefs, values)), FileMode::Private);
  return outgoing;
}

}  // namespace mailseal::clients
