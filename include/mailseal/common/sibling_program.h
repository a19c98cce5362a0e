#pragma once
// mailseal is several programs installed in one folder (mailseal, the
// launcher; mailseal-cli; mailseal-serve; mailseal-setup). One hands a
// command to another by replacing itself with it, so that the command keeps
// the process id, the standard streams and the signals. Uses nothing but the
// C and C++ libraries: the launcher links it without the rest of mailseal.

#include <span>
#include <string>
#include <string_view>

namespace mailseal {

// The path of `name` in the folder of the running program.
std::string sibling_program_path(std::string_view name);

// Replaces this process with `name` from the running program's folder, given
// `command_line` (whose first entry, the program's name, is kept as it is).
// Returns only when it cannot: errno says why.
void replace_with_sibling_program(std::string_view name, std::span<char* const> command_line) noexcept;

}  // namespace mailseal
