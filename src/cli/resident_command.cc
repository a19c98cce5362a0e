// mailseal resident (mailseal/resident/resident.h).

#include <fmt/format.h>

#include "cli/app.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/agent/agent.h"
#include "mailseal/common/error.h"
#include "mailseal/resident/resident.h"

namespace mailseal::cli {

int run_resident(const Context& context) {
  const auto socket = resident::socket_path();
  if (!socket)
    throw Error(ErrorCode::Usage, "MAILSEAL_RESIDENT is \"off\": there is no socket to listen at",
                "unset MAILSEAL_RESIDENT, or set it to the socket's path");
  resident::bind_symbols_at_start(context.command_line());
  agent::warm_up();
  // Each forked command parses its own copy of its group's definitions.
  PreparedCommandLines definitions(resident::commands_run_in_resident());
  resident::ServerSettings settings;
  settings.socket = *socket;
  settings.run = [&definitions](std::span<char*> command_line) {
    const int count = static_cast<int>(command_line.size());
    return run(definitions.for_command_line(count, command_line.data()), count, command_line.data());
  };
  settings.prepare_child = agent::prepare_child;
  settings.rehearse = [&context](const std::function<bool()>& command_came) {
    agent::rehearse(context.now(), command_came);
  };
  settings.on_ready = [&] {
    if (context.json())
      print_json({{"socket", socket->string()}});
    else
      print_line(socket->string());
    std::fflush(stdout);
  };
  const std::size_t commands = resident::serve(settings);
  print_note(fmt::format("resident process stopped after {} command(s)", commands));
  return 0;
}

}  // namespace mailseal::cli
