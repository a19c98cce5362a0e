#pragma once
// The gateway as a per-user service (docs/gateway.md, "The gateway as a
// per-user service"): a systemd user unit that runs `mailseal gateway` with
// the settings given at set-up, restarts it when it fails, logs to the
// journal and starts with the person's systemd user manager.
//
// No socket activation: the gateway does more than answer connections (its
// key lookups refresh on a schedule, and a periodic sync belongs to it), so
// it runs from login on rather than from the first connection; and it binds
// its own listener, so a unit of type exec is enough.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/gateway/gateway.h"

namespace mailseal::profile {
class Profile;
}

namespace mailseal::gateway {

// The unit's name, in the user's unit directory.
inline constexpr std::string_view kUserUnitName = "mailseal-gateway.service";

// What the service runs: this mailseal program on this store, with the
// gateway's settings.
struct UserService {
  std::filesystem::path executable;                      // absolute: the mailseal program
  std::filesystem::path home;                            // the profile's store
  std::optional<std::filesystem::path> passphrase_file;  // when the key files are encrypted
  GatewaySettings settings;
};

// How a word is written in a unit file (systemd.syntax(7), systemd.service(5)
// "Command lines"): in double quotes, with '\' and '"' escaped by a
// backslash and '%' (a specifier) written "%%"; in a command line's
// arguments '$' (an environment variable) is also written "$$" (the
// executable is not expanded). Error(Usage) for text systemd cannot carry:
// a control character, invalid UTF-8, and in the executable a quote or a
// backslash (systemd refuses them there, escaped or not).
enum class UnitWord { Executable, Argument, Path };
std::string systemd_quote(std::string_view text, UnitWord kind);

// The command line the service runs (executable first): the settings made
// absolute where they name files, only the ones that differ from the
// defaults besides --listen, --upstream and --upstream-tls. Error(Usage) as
// gateway_options() refuses the settings, for a listening port of 0 (the
// clients need a fixed one) and for an executable that is not absolute.
std::vector<std::string> user_service_command(const UserService& service);

struct UserUnit {
  std::string text;                // the unit file
  std::vector<std::string> notes;  // what the unit leaves out, and why
};

// The unit file: Type=exec, Restart=on-failure, the journal for its output,
// WantedBy=default.target, and the sandboxing a user unit can have
// (NoNewPrivileges, ProtectSystem=strict with the store writable,
// ProtectHome=read-only, PrivateTmp unless a file the gateway reads is in a
// temporary directory, system-call and address-family filters).
UserUnit user_unit(const UserService& service);

// The user's unit directory: $XDG_CONFIG_HOME/systemd/user, else
// $HOME/.config/systemd/user. Error(Usage) when neither is set.
std::filesystem::path user_unit_directory();

// Whether a systemd user manager runs for this user (systemctl --user
// is-system-running answers, and not "offline"), and why not.
struct UserManager {
  bool running = false;
  // systemctl's word ("running", "degraded", "offline": none runs), or why
  // it could not say (no systemctl)
  std::string state;
};
UserManager user_manager();

// Checks, before anything is changed, what install_user_service() would
// refuse: the settings and paths (user_unit) and encrypted key files
// without a passphrase file (the unit cannot hold the passphrase itself):
// Error(Usage).
void check_user_service(profile::Profile& profile, const UserService& service);

struct UserServiceInstall {
  std::filesystem::path unit_file;
  UserUnit unit;
  bool enabled = false;  // started with the user manager from now on (default.target wants it)
  bool started = false;  // (re)started now under the running user manager
  UserManager manager;
  std::vector<std::string> problems;  // what systemctl said when enabling or starting failed
  std::vector<std::string> command;   // what to run from a session's autostart without systemd
};

// Writes the unit into `unit_directory` (atomically; it holds no secret:
// the passphrase is named by its file), enables it (systemctl --user enable
// works without a running manager) and, when a user manager runs, reloads it
// and restarts the service. Without systemd nothing fails: the result says
// what was not done. Error(Usage) as check_user_service() refuses.
UserServiceInstall install_user_service(profile::Profile& profile, const UserService& service,
                                        const std::filesystem::path& unit_directory);

// The resident process (mailseal/resident/resident.h) as a user service of
// its own, which `setup gateway` installs beside the gateway: sign, encrypt,
// decrypt and verify then start at once from every terminal and script.
// Its unit has none of the gateway's sandbox: the resident process runs the
// person's own commands, in children that must be able to do what the same
// command run alone does (write a decrypted message into the home folder,
// read a key file anywhere), so ProtectHome= or ProtectSystem= would change
// their outcome. Its socket is in $XDG_RUNTIME_DIR, which the user manager
// gives every user service.
inline constexpr std::string_view kResidentUnitName = "mailseal-resident.service";
UserUnit resident_user_unit(const std::filesystem::path& executable);
UserServiceInstall install_resident_service(const std::filesystem::path& executable,
                                            const std::filesystem::path& unit_directory);

// What `mailseal status` says of the service.
struct UserServiceStatus {
  std::filesystem::path unit_file;
  bool installed = false;
  std::string enabled;  // systemctl's is-enabled word, or empty when it could not say
  std::string active;   // systemctl's is-active word, or empty without a user manager
  UserManager manager;
};
UserServiceStatus user_service_status(const std::filesystem::path& unit_directory);

}  // namespace mailseal::gateway
