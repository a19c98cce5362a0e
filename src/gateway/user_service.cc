// The gateway as a systemd user unit (user_service.h).

#include "mailseal/gateway/user_service.h"

#include <algorithm>
#include <cstdlib>
#include <span>
#include <sstream>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "mailseal/common/process.h"
#include "mailseal/profile/profile.h"

namespace mailseal::gateway {

namespace fs = std::filesystem;

namespace {

// systemctl's words for a manager that runs (systemctl(1), is-system-running).
constexpr std::string_view kManagerStates[] = {"initializing", "starting", "running", "degraded", "maintenance"};
constexpr std::string_view kManagerAnswers[] = {"initializing", "starting", "running", "degraded",
                                                "maintenance",  "stopping", "offline", "unknown"};
// systemctl is-enabled and is-active answers (systemctl(1)).
constexpr std::string_view kEnabledAnswers[] = {"enabled",   "enabled-runtime", "linked", "linked-runtime", "alias",
                                                "masked",    "masked-runtime",  "static", "indirect",       "disabled",
                                                "generated", "transient",       "bad",    "not-found"};
constexpr std::string_view kActiveAnswers[] = {"active",     "reloading",    "inactive",   "failed",
                                               "activating", "deactivating", "maintenance"};

// Temporary directories PrivateTmp= replaces with the service's own.
constexpr std::string_view kTemporaryDirectories[] = {"/tmp", "/var/tmp"};

// An absolute path for the unit (the service does not start where the
// set-up ran).
std::string absolute(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

bool under_temporary_directory(const fs::path& path) {
  const std::string text = fs::absolute(path).lexically_normal().string();
  for (std::string_view directory : kTemporaryDirectories) {
    if (text == directory || text.starts_with(std::string(directory) + "/"))
      return true;
  }
  return false;
}

// The files the service reads or writes besides its executable.
std::vector<fs::path> service_files(const UserService& service) {
  std::vector<fs::path> files = {service.home};
  if (service.passphrase_file)
    files.push_back(*service.passphrase_file);
  for (const std::string* file : {&service.settings.upstream_ca, &service.settings.tls_certificate,
                                  &service.settings.tls_key, &service.settings.upstream_password_file}) {
    if (!file->empty())
      files.emplace_back(*file);
  }
  return files;
}

// Runs systemctl --user with `arguments`: its exit status and output (its
// standard output and error, one line each at most for the commands used
// here); nullopt when systemctl is not installed.
std::optional<ProcessResult> systemctl(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), {"systemctl", "--user"});
  try {
    return run_process(arguments);
  } catch (const Error& error) {
    if (error.code() == ErrorCode::NotFound)
      return std::nullopt;
    throw;
  }
}

// The line of systemctl's output that is one of `words` (its answer, where
// an error about the bus may come first), else its first line.
std::string systemctl_answer(const ProcessResult& result, std::span<const std::string_view> words) {
  std::istringstream lines(result.output);
  std::string first;
  for (std::string line; std::getline(lines, line);) {
    if (std::find(words.begin(), words.end(), line) != words.end())
      return line;
    if (first.empty())
      first = line;
  }
  return first;
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

std::string unit_text(const UserService& service, const std::vector<std::string>& command, bool private_tmp) {
  std::string exec = systemd_quote(command.front(), UnitWord::Executable);
  for (std::size_t i = 1; i < command.size(); ++i)
    exec += " " + systemd_quote(command[i], UnitWord::Argument);
  std::string text = fmt::format(
      "# Written by 'mailseal setup gateway'; running it again rewrites this file.\n"
      "[Unit]\n"
      "Description=mailseal SMTP submission gateway (signs and encrypts outgoing mail)\n"
      "\n"
      "[Service]\n"
      "Type=exec\n"
      "ExecStart={}\n"
      "Restart=on-failure\n"
      "RestartSec=5s\n"
      "StandardOutput=journal\n"
      "StandardError=journal\n"
      "SyslogIdentifier=mailseal-gateway\n"
      "UMask=0077\n"
      "NoNewPrivileges=yes\n",
      exec);
  // Mount namespaces in a user unit need unprivileged user namespaces (the
  // manager then implies PrivateUsers=yes); without them systemd runs the
  // service without this sandbox rather than refusing it.
  if (private_tmp)
    text += "PrivateTmp=yes\n";
  text += fmt::format(
      "ProtectSystem=strict\n"
      "ProtectHome=read-only\n"
      "ReadWritePaths={}\n"
      "PrivateDevices=yes\n"
      "ProtectKernelTunables=yes\n"
      "ProtectKernelModules=yes\n"
      "ProtectKernelLogs=yes\n"
      "ProtectControlGroups=yes\n"
      "ProtectHostname=yes\n"
      "RestrictNamespaces=yes\n"
      "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
      "RestrictRealtime=yes\n"
      "RestrictSUIDSGID=yes\n"
      "LockPersonality=yes\n"
      "MemoryDenyWriteExecute=yes\n"
      "SystemCallArchitectures=native\n"
      "SystemCallFilter=@system-service\n"
      "SystemCallErrorNumber=EPERM\n"
      "KeyringMode=private\n"
      "\n"
      "[Install]\n"
      "WantedBy=default.target\n",
      systemd_quote(fs::absolute(service.home).lexically_normal().string(), UnitWord::Path));
  return text;
}

}  // namespace

std::string systemd_quote(std::string_view text, UnitWord kind) {
  // A line break would end the setting and start a directive of its own;
  // systemd ignores a setting that is not valid UTF-8.
  if (!is_printable_text(text))
    throw Error(ErrorCode::Usage,
                "a path or setting for the systemd unit holds a control character or is not valid UTF-8",
                "use a path without such characters");
  std::string out = "\"";
  for (char c : text) {
    if (kind == UnitWord::Executable && (c == '\\' || c == '"' || c == '\''))
      throw Error(ErrorCode::Usage,
                  fmt::format("the program's path {} holds a quote or a backslash, which systemd refuses in "
                              "an executable",
                              text),
                  "install mailseal at a path without them");
    if (c == '\\' || c == '"')
      out += '\\';
    else if (c == '%')
      out += '%';
    else if (c == '$' && kind == UnitWord::Argument)
      out += '$';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> user_service_command(const UserService& service) {
  const GatewaySettings& s = service.settings;
  gateway_options(s);  // every check `mailseal gateway` makes, now rather than at the first start
  if (parse_host_port(s.listen).port == 0)
    throw Error(ErrorCode::Usage, "--listen needs a fixed port for the service: the mail clients are set up with it",
                fmt::format("use --listen {}", kDefaultListen));
  if (!service.executable.is_absolute())
    throw Error(ErrorCode::Internal, "the service's executable must be an absolute path");
  std::vector<std::string> command = {service.executable.string(), "--home", absolute(service.home.string())};
  if (service.passphrase_file)
    command.insert(command.end(), {"--passphrase-file", absolute(service.passphrase_file->string())});
  command.insert(command.end(),
                 {"gateway", "--listen", s.listen, "--upstream", s.upstream, "--upstream-tls", s.upstream_tls});
  const GatewaySettings defaults;
  auto add = [&](std::string_view option, const std::string& value, const std::string& default_value) {
    if (value != default_value)
      command.insert(command.end(), {std::string(option), value});
  };
  auto add_file = [&](std::string_view option, const std::string& file) {
    if (!file.empty())
      command.insert(command.end(), {std::string(option), absolute(file)});
  };
  add_file("--upstream-ca", s.upstream_ca);
  add("--policy", s.policy, defaults.policy);
  add_file("--tls-cert", s.tls_certificate);
  add_file("--tls-key", s.tls_key);
  add("--max-size", std::to_string(s.max_size), std::to_string(defaults.max_size));
  add("--timeout", std::to_string(s.timeout), std::to_string(defaults.timeout));
  add("--refresh", std::to_string(s.refresh), std::to_string(defaults.refresh));
  add("--sync", std::to_string(s.sync), std::to_string(defaults.sync));
  add("--auth-timeout", std::to_string(s.auth_timeout), std::to_string(defaults.auth_timeout));
  add("--max-per-client", std::to_string(s.max_sessions_per_client), std::to_string(defaults.max_sessions_per_client));
  add("--upstream-user", s.upstream_user, "");
  add_file("--upstream-password-file", s.upstream_password_file);
  return command;
}

UserUnit user_unit(const UserService& service) {
  const std::vector<std::string> command = user_service_command(service);
  UserUnit unit;
  bool private_tmp = true;
  for (const auto& file : service_files(service)) {
    if (under_temporary_directory(file)) {
      private_tmp = false;
      unit.notes.push_back(fmt::format(
          "{} is in a temporary directory, which PrivateTmp= would hide from the service: the unit runs without it",
          file.string()));
      break;
    }
  }
  unit.text = unit_text(service, command, private_tmp);
  return unit;
}

fs::path user_unit_directory() {
  const char* config = std::getenv("XDG_CONFIG_HOME");
  if (config != nullptr && *config == '/')
    return fs::path(config) / "systemd" / "user";
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home != '/')
    throw Error(ErrorCode::Usage, "neither XDG_CONFIG_HOME nor HOME is set: no user unit directory",
                "set HOME to your home directory");
  return fs::path(home) / ".config" / "systemd" / "user";
}

UserManager user_manager() {
  std::optional<ProcessResult> result = systemctl({"is-system-running"});
  if (!result)
    return {false, "systemctl is not installed (no systemd)"};
  const std::string answer = systemctl_answer(*result, kManagerAnswers);
  const bool running =
      std::find(std::begin(kManagerStates), std::end(kManagerStates), answer) != std::end(kManagerStates);
  if (running || answer == "offline" || answer == "stopping" || answer == "unknown")
    return {running, answer};
  return {false, "no systemd user manager runs for this user"};
}

void check_user_service(profile::Profile& profile, const UserService& service) {
  user_unit(service);
  if (profile.status().keys_encrypted && !service.passphrase_file)
    throw Error(ErrorCode::Usage,
                "the profile's key files are encrypted and the service needs their passphrase from a file",
                "give --passphrase-file FILE (mode 0600), not MAILSEAL_PASSPHRASE: the unit names the file");
}

namespace {

// Writes the unit (atomically; no unit holds a secret), enables it and, when
// a user manager runs, reloads it and restarts the service.
UserServiceInstall install_unit(const fs::path& unit_directory, std::string_view name, UserUnit unit,
                                std::vector<std::string> command) {
  UserServiceInstall install;
  install.unit = std::move(unit);
  install.command = std::move(command);
  fs::create_directories(unit_directory);
  install.unit_file = unit_directory / name;
  write_file_atomic(install.unit_file, as_bytes(install.unit.text), FileMode::Public);

  install.manager = user_manager();
  if (install.manager.running) {
    std::optional<ProcessResult> reload = systemctl({"daemon-reload"});
    if (reload && reload->exit_status != 0)
      install.problems.push_back("systemctl --user daemon-reload: " + first_line(reload->output));
  }
  std::optional<ProcessResult> enable = systemctl({"enable", std::string(name)});
  install.enabled = enable && enable->exit_status == 0;
  if (enable && !install.enabled)
    install.problems.push_back("systemctl --user enable: " + enable->output);
  if (install.manager.running) {
    std::optional<ProcessResult> restart = systemctl({"restart", std::string(name)});
    install.started = restart && restart->exit_status == 0;
    if (restart && !install.started)
      install.problems.push_back("systemctl --user restart: " + first_line(restart->output));
  }
  return install;
}

}  // namespace

UserServiceInstall install_user_service(profile::Profile& profile, const UserService& service,
                                        const fs::path& unit_directory) {
  check_user_service(profile, service);
  return install_unit(unit_directory, kUserUnitName, user_unit(service), user_service_command(service));
}

UserUnit resident_user_unit(const fs::path& executable) {
  if (!executable.is_absolute())
    throw Error(ErrorCode::Usage,
                fmt::format("the service's program must be an absolute path: {}", executable.string()));
  UserUnit unit;
  unit.text = fmt::format(
      "# Written by 'mailseal setup gateway'; running it again rewrites this file.\n"
      "[Unit]\n"
      "Description=mailseal resident process (sign, encrypt, decrypt and verify start at once)\n"
      "\n"
      "[Service]\n"
      "Type=exec\n"
      "ExecStart={} resident\n"
      // It stops by itself (status 0) after mailseal or a library it uses
      // is updated: always restarted, it runs the new code.
      "Restart=always\n"
      "RestartSec=5s\n"
      "StandardOutput=journal\n"
      "StandardError=journal\n"
      "SyslogIdentifier=mailseal-resident\n"
      "\n"
      "[Install]\n"
      "WantedBy=default.target\n",
      systemd_quote(executable.string(), UnitWord::Executable));
  unit.notes.push_back(
      "the resident process runs without the gateway's sandbox: it runs your own commands, which must be able to do "
      "what they do when run alone");
  return unit;
}

UserServiceInstall install_resident_service(const fs::path& executable, const fs::path& unit_directory) {
  return install_unit(unit_directory, kResidentUnitName, resident_user_unit(executable),
                      {executable.string(), "resident"});
}

UserServiceStatus user_service_status(const fs::path& unit_directory) {
  UserServiceStatus status;
  status.unit_file = unit_directory / kUserUnitName;
  std::error_code ignored;
  status.installed = fs::exists(status.unit_file, ignored);
  status.manager = user_manager();
  if (!status.installed)
    return status;
  if (std::optional<ProcessResult> enabled = systemctl({"is-enabled", std::string(kUserUnitName)})) {
    const std::string answer = systemctl_answer(*enabled, kEnabledAnswers);
    if (std::find(std::begin(kEnabledAnswers), std::end(kEnabledAnswers), answer) != std::end(kEnabledAnswers))
      status.enabled = answer;
  }
  if (status.manager.running) {
    if (std::optional<ProcessResult> active = systemctl({"is-active", std::string(kUserUnitName)}))
      status.active = systemctl_answer(*active, kActiveAnswers);
  }
  return status;
}

}  // namespace mailseal::gateway
