#pragma once
// Case folding for the protocol words of mail, MIME, SMTP and X.509 (header
// names, media types, SMTP verbs, addresses' domains): ASCII only, whatever
// the process's locale, because these grammars define case-insensitivity
// over ASCII and a locale-dependent fold (Turkish dotless i) would make
// "MAIL" and "mail" differ.

#include <string>
#include <string_view>

namespace mailseal {

char ascii_lower(char c) noexcept;
char ascii_upper(char c) noexcept;
std::string ascii_lower(std::string_view text);
std::string ascii_upper(std::string_view text);
bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) noexcept;

}  // namespace mailseal
