// In the programs other than mailseal-setup: `setup gateway` hands over to
// it (cli/server_program.h), which links the real one
// (setup_gateway_command.cc).

#include "cli/commands.h"
#include "cli/server_program.h"

namespace mailseal::cli {

int run_setup_gateway(const Context& context, const SetupGatewayArgs&) {
  run_companion_program(kSetupProgram, context.command_line());
}

}  // namespace mailseal::cli
