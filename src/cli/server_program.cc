// The hand-over to another of mailseal's programs (cli/server_program.h).

#include "cli/server_program.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/sibling_program.h"

namespace mailseal::cli {

void run_companion_program(std::string_view name, std::span<char* const> command_line) {
  replace_with_sibling_program(name, command_line);
  const int error = errno;
  const std::string program = sibling_program_path(name);
  throw Error(ErrorCode::NotFound, fmt::format("cannot start mailseal's program {}: {}", program, std::strerror(error)),
              fmt::format("install {} in the folder mailseal is in", name));
}

}  // namespace mailseal::cli
