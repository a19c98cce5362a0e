#pragma once
// Every attacker-controlled string (headers, certificate names, file names) is
// printed through this helper, so that a crafted value cannot fake terminal
// output or move the cursor (STYLE.md, after sq). It is applied once, where
// text reaches a terminal (the mailseal command): the library keeps raw
// strings in its errors and results, and JSON carries them raw.

#include <string>
#include <string_view>

namespace mailseal {

// Printable ASCII and valid UTF-8 pass through; control characters, DEL, C1
// controls and invalid UTF-8 bytes become \xNN; a backslash becomes "\\".
std::string escape_for_terminal(std::string_view text);

// True when escape_for_terminal would leave `text` as it is but for its
// backslashes: printable ASCII and valid UTF-8 only, no control character
// (C0, DEL, C1), no bidirectional override. For text the library writes
// into files other programs read line by line (a systemd unit).
bool is_printable_text(std::string_view text);

// Text for HTML or XML character data and quoted attribute values: & < > "
// and ' become character references; nothing else changes. For markup the
// library writes itself (the key service's pages), where the terminal rule
// above does not apply.
std::string escape_markup(std::string_view text);

// One word for a POSIX shell, for commands mailseal prints for a person to
// run: the text in single quotes, each ' written as '\''. A path with a
// quote, a space or a $ in it stays one argument when pasted.
std::string quote_for_shell(std::string_view text);

}  // namespace mailseal
