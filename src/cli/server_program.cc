// Linked into `mailseal` only: its serve and service smimea hand over to
// mailseal-serve (cli/server_program.h), which links the real ones
// (serve_commands.cc).

#include "cli/server_program.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "mailseal/common/error.h"

namespace mailseal::cli {

namespace {

constexpr const char* kServerProgram = "mailseal-serve";

}  // namespace

void run_server_program(std::span<char* const> command_line) {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error)
    throw Error(ErrorCode::Io, fmt::format("cannot find where mailseal is installed: {}", error.message()));
  const std::string program = (self.parent_path() / kServerProgram).string();
  std::vector<char*> arguments;
  arguments.push_back(const_cast<char*>(program.c_str()));
  for (std::size_t i = 1; i < command_line.size(); ++i)
    arguments.push_back(command_line[i]);
  arguments.push_back(nullptr);
  execv(program.c_str(), arguments.data());
  throw Error(ErrorCode::NotFound,
              fmt::format("cannot start the key service's program {}: {}", program, std::strerror(errno)),
              fmt::format("install {} in the folder mailseal is in", kServerProgram));
}

int run_serve(const Context& context, const ServeArgs&) {
  run_server_program(context.command_line());
}

int run_service_smimea(const Context& context, const ServiceSmimeaArgs&) {
  run_server_program(context.command_line());
}

}  // namespace mailseal::cli
