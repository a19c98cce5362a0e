#pragma once
// The key service's commands (serve, service smimea) run in a program of their
// own, mailseal-serve, installed next to mailseal. The commands a person or a
// script runs for every message (sign, encrypt, decrypt, verify) then do not
// load the HTTP server's and PostgreSQL's libraries (libmicrohttpd, GnuTLS,
// libpq, Kerberos, LDAP: twenty shared objects), whose loading was most of
// mailseal's start-up (bench/smime_profile.md).

#include <span>

namespace mailseal::cli {

// Replaces this process with mailseal-serve, given the same arguments, so that
// `mailseal serve ...` keeps its process id, its standard streams and its
// signals. Returns only by throwing, when that program cannot be started.
[[noreturn]] void run_server_program(std::span<char* const> command_line);

}  // namespace mailseal::cli
