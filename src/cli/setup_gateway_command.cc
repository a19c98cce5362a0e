// setup gateway: the gateway as a per-user service and the mail clients
// pointed at it. Linked into mailseal-setup only: saving Thunderbird's
// password loads NSS, which the commands run for every message should not
// (server_program.h).

#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/client_report.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/host_port.h"
#include "mailseal/gateway/credentials.h"
#include "mailseal/gateway/user_service.h"
#include "mailseal/profile/profile.h"

namespace mailseal::cli {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The credentials `setup gateway` makes: one a client, replaced when the
// set-up runs again (the old secret stops working).
constexpr std::string_view kThunderbirdCredential = "thunderbird";
constexpr std::string_view kMuttCredential = "mutt";
constexpr std::string_view kOtherClientCredential = "mail-client";

std::string shell_command(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words)
    out += (out.empty() ? "" : " ") + quote_for_shell(word);
  return out;
}

json install_json(const gateway::UserServiceInstall& install) {
  return {{"unit_file", install.unit_file.string()},
          {"unit_notes", install.unit.notes},
          {"enabled", install.enabled},
          {"started", install.started},
          {"systemd_user_manager", {{"running", install.manager.running}, {"state", install.manager.state}}},
          {"problems", install.problems},
          {"command", install.command}};
}

void report_install(const gateway::UserServiceInstall& install) {
  print_line(fmt::format("Wrote the user unit {}.", escape_for_terminal(install.unit_file.string())));
  for (const auto& note : install.unit.notes)
    print_note(escape_for_terminal(note));
  for (const auto& problem : install.problems)
    print_warning(escape_for_terminal(problem));
  if (install.started) {
    print_line("The gateway runs now under your systemd user manager and starts with it (it restarts if it fails).");
    print_hint(
        "to start it at boot without logging in: loginctl enable-linger; its log: journalctl --user -u "
        "mailseal-gateway");
    return;
  }
  if (install.manager.running)
    print_warning(
        "the gateway did not start under your systemd user manager: see journalctl --user -u "
        "mailseal-gateway");
  else
    print_warning(
        fmt::format("the gateway is not running: {}", escape_for_terminal(systemd_manager_text(install.manager))));
  if (install.enabled)
    print_note("the unit is enabled: it starts at your next login with a systemd user manager");
  print_hint(
      fmt::format("once logged in with systemd: systemctl --user daemon-reload && systemctl --user enable "
                  "--now {}",
                  gateway::kUserUnitName));
  print_hint(fmt::format("without systemd, run this from your session's autostart: {}",
                         escape_for_terminal(shell_command(install.command))));
}

std::string security_text(clients::SubmissionSecurity security) {
  return security == clients::SubmissionSecurity::StartTls ? "STARTTLS" : "none (the gateway is on loopback)";
}

}  // namespace

int run_setup_gateway(const Context& context, const SetupGatewayArgs& args) {
  profile::Profile profile = profile::Profile::open(context.home());
  gateway::UserService service;
  // This runs in mailseal-setup (server_program.h); the service runs mailseal beside it.
  service.executable = fs::read_symlink("/proc/self/exe").parent_path() / "mailseal";
  service.home = context.home();
  if (!context.passphrase_file().empty())
    service.passphrase_file = context.passphrase_file();
  service.settings = args.settings;
  gateway::check_user_service(profile, service);  // before any credential or client changes
  const fs::path unit_directory = gateway::user_unit_directory();
  const HostPort listen = parse_host_port(args.settings.listen);
  const auto security =
      args.settings.tls_certificate.empty() ? clients::SubmissionSecurity::None : clients::SubmissionSecurity::StartTls;
  json answer = {{"listen", {{"host", listen.host}, {"port", listen.port}}},
                 {"security", security == clients::SubmissionSecurity::StartTls ? "starttls" : "none"}};

  std::vector<std::string> lines;  // what to tell each client, printed after the service's state
  if (!args.thunderbird.empty()) {
    std::optional<Passphrase> database_password;
    if (!args.database_password_file.empty())
      database_password = read_secret_line(args.database_password_file);
    gateway::NewCredential credential;
    auto make_secret = [&] {
      credential = gateway::create_credential(profile, kThunderbirdCredential, {}, context.now(), /*replace=*/true);
      return Passphrase(credential.secret);
    };
    clients::ThunderbirdOutgoing outgoing =
        clients::set_thunderbird_outgoing(profile, args.thunderbird,
                                          {args.settings.listen, std::string(kThunderbirdCredential), security,
                                           database_password ? &*database_password : nullptr},
                                          make_secret, context.now());
    json identities = json::array();
    for (const auto& identity : outgoing.identities) {
      identities.push_back({{"id", identity.id}, {"address", identity.address.str()}});
      lines.push_back(fmt::format("Thunderbird identity {} ({}) sends through the gateway (outgoing server {}).",
                                  identity.id, identity.address.str(), outgoing.server));
    }
    lines.push_back(fmt::format(
        "Thunderbird's password manager holds the password of '{}' for {} ({} logins.json): Thunderbird sends "
        "without asking. Should it ever ask, the password is: {}",
        credential.info.name, escape_for_terminal(outgoing.login_origin),
        outgoing.login_replaced ? "replaced in" : "added to", credential.secret));
    answer["thunderbird"] = {{"profile", args.thunderbird},
                             {"server", outgoing.server},
                             {"identities", identities},
                             {"credential", credential.info.name},
                             {"secret", credential.secret},
                             {"login", {{"origin", outgoing.login_origin}, {"replaced", outgoing.login_replaced}}}};
  }
  if (!args.mutt.empty()) {
    gateway::NewCredential credential =
        gateway::create_credential(profile, kMuttCredential, {}, context.now(), /*replace=*/true);
    const clients::MuttSubmission submission{args.settings.listen, credential.info.name, credential.secret};
    clients::MuttSetup mutt = clients::setup_mutt(profile, args.mutt, &submission, context.now());
    lines.push_back(
        fmt::format("mutt submits through the gateway with smtp_url in {} (0600); your muttrc needs the "
                    "lines of 'mailseal setup mutt --dir {}'.",
                    escape_for_terminal(mutt.submission_file.string()),
                    escape_for_terminal(quote_for_shell(mutt.directory.string()))));
    answer["mutt"] = {{"directory", mutt.directory.string()},
                      {"submission_file", mutt.submission_file.string()},
                      {"credential", credential.info.name}};
  }
  std::string other = args.credential;
  if (other.empty() && args.thunderbird.empty() && args.mutt.empty())
    other = kOtherClientCredential;
  if (!other.empty()) {
    gateway::NewCredential credential = gateway::create_credential(profile, other, {}, context.now(), /*replace=*/true);
    lines.push_back(fmt::format(
        "Other mail clients: outgoing server {}, port {}, connection security {}, authentication normal password, "
        "user name {}, password {}",
        listen.host, listen.port, security_text(security), credential.info.name, credential.secret));
    answer["other_clients"] = {{"credential", credential.info.name}, {"secret", credential.secret}};
  }

  gateway::UserServiceInstall install = gateway::install_user_service(profile, service, unit_directory);
  const gateway::UserServiceInstall resident = gateway::install_resident_service(service.executable, unit_directory);
  if (context.json()) {
    answer["service"] = install_json(install);
    answer["resident_service"] = install_json(resident);
    print_json(answer);
    return 0;
  }
  report_install(install);
  print_line(
      fmt::format("Wrote the user unit {} (the resident process: sign, encrypt, decrypt and verify start at "
                  "once){}.",
                  escape_for_terminal(resident.unit_file.string()), resident.started ? " and started it" : ""));
  for (const auto& problem : resident.problems)
    print_warning(escape_for_terminal(problem));
  for (const auto& line : lines)
    print_line(line);
  return 0;
}

}  // namespace mailseal::cli
