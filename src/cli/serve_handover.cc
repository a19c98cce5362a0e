// In the programs other than mailseal-serve: serve and service smimea hand
// over to it (cli/server_program.h), which links the real ones
// (serve_commands.cc).

#include "cli/commands.h"
#include "cli/server_program.h"

namespace mailseal::cli {

int run_serve(const Context& context, const ServeArgs&) {
  run_companion_program(kServerProgram, context.command_line());
}

int run_service_smimea(const Context& context, const ServiceSmimeaArgs&) {
  run_companion_program(kServerProgram, context.command_line());
}

}  // namespace mailseal::cli
