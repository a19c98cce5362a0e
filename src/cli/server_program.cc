// The hand-over to another of mailseal's programs (cli/server_program.h).

#include "cli/server_program.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mailseal/common/error.h"

namespace mailseal::cli {

void run_companion_program(std::string_view name, std::span<char* const> command_line) {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error)
    throw Error(ErrorCode::Io, fmt::format("cannot find where mailseal is installed: {}", error.message()));
  const std::string program = (self.parent_path() / name).string();
  std::vector<char*> arguments;
  arguments.push_back(const_cast<char*>(program.c_str()));
  for (std::size_t i = 1; i < command_line.size(); ++i)
    arguments.push_back(command_line[i]);
  arguments.push_back(nullptr);
  execv(program.c_str(), arguments.data());
  throw Error(ErrorCode::NotFound, fmt::format("cannot start mailseal's program {}: {}", program, std::strerror(errno)),
              fmt::format("install {} in the folder mailseal is in", name));
}

}  // namespace mailseal::cli
