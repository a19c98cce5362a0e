#pragma once
// The resident process (docs/resident.md): one process per user that has
// loaded mailseal once, so that the commands run for every message (sign,
// encrypt, decrypt, verify...) start without loading and setting up 31 shared
// objects each time. `mailseal` itself is a small launcher: it hands the
// command line, the environment, the umask, the standard streams and the
// working folder to the resident process over a Unix socket; the resident
// process forks, the child runs the command exactly as a new process would
// (same code, same streams, same exit status) and the launcher exits with its
// status. When no resident process answers, the launcher runs the command
// itself (it starts mailseal-cli), so nothing depends on one running.
//
// Who can reach the socket: only the user. It lives in a folder that must be
// the user's own and closed to everyone else (mode 0700), and both ends check
// the other's user id (SO_PEERCRED): a command's input (plaintext, the
// passphrase in the environment) never goes to another user's process.

#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

namespace mailseal::resident {

// Where the resident process listens, from the environment:
// $MAILSEAL_RESIDENT (a socket path; "off": none), else
// $XDG_RUNTIME_DIR/mailseal-resident.sock, else
// /tmp/mailseal-resident-UID/socket. std::nullopt when turned off.
std::optional<std::filesystem::path> socket_path();

// The commands the resident process runs (sign, encrypt, decrypt, verify and
// the others run for each message); every other runs in a process of its own.
std::span<const std::string_view> commands_run_in_resident() noexcept;

// The launcher's side. Runs `command_line` in the resident process when it
// is a command the resident process runs and one answers, and returns its
// exit status; std::nullopt when the command must run here (nothing of it
// has run). `environment` is the process's (environ).
std::optional<int> run_in_resident(std::span<char* const> command_line, char* const* environment);

struct ServerSettings {
  std::filesystem::path socket;
  // Runs one command line in a forked child and returns its exit status.
  std::function<int(std::span<char*> command_line)> run;
  // Commands running at once; a launcher that finds them all busy runs its
  // command itself.
  std::size_t max_children = 16;
  // Called once the socket accepts launchers.
  std::function<void()> on_ready;
  // Called in each idle child, forked ahead of the next command, before it
  // waits (docs/resident.md, "The idle child"): set-up each process must do
  // for itself and that needs nothing of a command, done before a launcher
  // waits for it. It must open no store and read no key.
  std::function<void()> prepare_child;
  // Run in an idle child only once it has waited 50 ms without a command: what a command would touch for the first time
  // (agent::rehearse). It must open no store and read no key, and return
  // between its steps once `command_came` says so (the command waits).
  std::function<void(const std::function<bool()>& command_came)> rehearse;
};

// Starts this program again with the same arguments and LD_BIND_NOW=1 in
// its environment, unless the variable is set already: the dynamic loader
// then binds every function of every library once, at start, instead of on
// its first call in each forked child (lazy binding writes the binding into
// the child's own copy of the tables, so every child paid again for what the
// warm-up had not called). Returns only when the variable was set, or when
// the program cannot start again (then it runs bound lazily, as before).
void bind_symbols_at_start(std::span<char* const> command_line) noexcept;

// Listens on settings.socket until SIGTERM, SIGINT or SIGHUP, or until
// mailseal's program file changes (an update: the next launcher starts the
// new one); returns the number of commands it started. Throws
// std::runtime_error when it cannot listen (a folder that is not private,
// another resident process already there).
std::size_t serve(const ServerSettings& settings);

}  // namespace mailseal::resident
