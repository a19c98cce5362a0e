// What `status` says of the gateway as a per-user service (`setup gateway`,
// which installs it, is in setup_gateway_command.cc).

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

std::string systemd_manager_text(const gateway::UserManager& manager) {
  return manager.state == "offline" ? "no systemd user manager runs here (systemctl --user: offline)" : manager.state;
}

json describe_gateway_service() {
  try {
    gateway::UserServiceStatus status = gateway::user_service_status(gateway::user_unit_directory());
    return {{"unit_file", status.unit_file.string()},
            {"installed", status.installed},
            {"enabled", status.enabled.empty() ? json(nullptr) : json(status.enabled)},
            {"active", status.active.empty() ? json(nullptr) : json(status.active)},
            {"systemd_user_manager", {{"running", status.manager.running}, {"state", status.manager.state}}}};
  } catch (const Error& error) {
    return {{"installed", nullptr}, {"problem", error.what()}};
  }
}

void print_gateway_service() {
  gateway::UserServiceStatus status;
  try {
    status = gateway::user_service_status(gateway::user_unit_directory());
  } catch (const Error& error) {
    print_line(fmt::format("gateway      unknown: {}", escape_for_terminal(error.what())));
    return;
  }
  if (!status.installed) {
    print_line("gateway      not installed as a service ('mailseal setup gateway')");
    return;
  }
  std::string state = status.enabled.empty() ? "installed" : "installed, " + status.enabled;
  if (status.manager.running)
    state += ", " + (status.active.empty() ? std::string("state unknown") : status.active);
  else
    state += fmt::format(", not running: {}", systemd_manager_text(status.manager));
  print_line(fmt::format("gateway      {}", escape_for_terminal(state)));
}

}  // namespace mailseal::cli
