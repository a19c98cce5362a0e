// bind_symbols_at_start (mailseal/resident/resident.h).

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "mailseal/resident/resident.h"

namespace mailseal::resident {

void bind_symbols_at_start(std::span<char* const> command_line) noexcept {
  if (std::getenv("LD_BIND_NOW") != nullptr || command_line.empty())
    return;
  try {
    // The program file this process runs, whatever name it was started by;
    // by its path, so that the process keeps its name (ps, the tests).
    std::error_code error;
    const std::string program = std::filesystem::read_symlink("/proc/self/exe", error).string();
    if (error)
      return;
    std::vector<char*> arguments(command_line.begin(), command_line.end());
    arguments.push_back(nullptr);
    if (::setenv("LD_BIND_NOW", "1", 1) != 0)
      return;
    ::execv(program.c_str(), arguments.data());
  } catch (const std::bad_alloc&) {
    // No memory for the argument list: lazily bound, as before.
  }
  // It did not start again: the variable would reach no loader now, and the
  // commands run with the launcher's environment anyway.
  [[maybe_unused]] const int unset = ::unsetenv("LD_BIND_NOW");
}

}  // namespace mailseal::resident
