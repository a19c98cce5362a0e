#include "mailseal/common/sibling_program.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

namespace mailseal {

std::string sibling_program_path(std::string_view name) {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (error ? std::filesystem::path() : self.parent_path() / name).string();
}

void replace_with_sibling_program(std::string_view name, std::span<char* const> command_line) noexcept {
  try {
    const std::string program = sibling_program_path(name);
    std::vector<char*> arguments(command_line.begin(), command_line.end());
    arguments.push_back(nullptr);
    ::execv(program.c_str(), arguments.data());
  } catch (...) {
    errno = ENOMEM;
  }
}

}  // namespace mailseal
