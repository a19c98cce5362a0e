// mailseal, the launcher (mailseal/resident/resident.h): a small program that
// hands a per-message command to the resident process when one runs, and
// otherwise becomes mailseal-cli, which runs every command. It links only the
// C and C++ libraries, so that it starts in a fraction of a millisecond.

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <string>

#include "mailseal/common/sibling_program.h"
#include "mailseal/resident/resident.h"

int main(int argc, char** argv) {
  const std::span<char* const> command_line(argv, static_cast<std::size_t>(argc));
  if (const auto status = mailseal::resident::run_in_resident(command_line, environ))
    return *status;
  mailseal::replace_with_sibling_program("mailseal-cli", command_line);
  const int error = errno;
  const std::string text = "mailseal: cannot start " + mailseal::sibling_program_path("mailseal-cli") + ": " +
                           std::strerror(error) + "\n  hint: install mailseal-cli in the folder mailseal is in\n";
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, text.data(), text.size());
  return 127;
}
