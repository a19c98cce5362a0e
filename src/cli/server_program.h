#pragma once
// Commands that need libraries the per-message commands do not run in
// programs of their own, installed next to mailseal: mailseal-serve runs the
// key service (serve, service smimea: libmicrohttpd, GnuTLS, libpq, Kerberos,
// LDAP, twenty shared objects), mailseal-setup runs `setup gateway` (NSS,
// five, to save Thunderbird's password). The commands a person or a script
// runs for every message (sign, encrypt, decrypt, verify) then do not load
// them; their loading was most of mailseal's start-up
// (bench/smime_profile.md). Each program hands the others' commands over
// (serve_handover.cc, setup_handover.cc).

#include <span>
#include <string_view>

namespace mailseal::cli {

inline constexpr std::string_view kServerProgram = "mailseal-serve";
inline constexpr std::string_view kSetupProgram = "mailseal-setup";

// Replaces this process with `program` from mailseal's folder, given the same
// arguments, so that the command keeps its process id, its standard streams
// and its signals. Returns only by throwing, when that program cannot be
// started.
[[noreturn]] void run_companion_program(std::string_view program, std::span<char* const> command_line);

}  // namespace mailseal::cli
