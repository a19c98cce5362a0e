#pragma once
// What every command may need: the store's home, how to unlock its key
// files, whether to print JSON, the time it runs at. Built from the global
// options once they are parsed.

#include <filesystem>
#include <span>
#include <string>

#include "mailseal/common/key_access.h"
#include "mailseal/common/secret.h"
#include "mailseal/common/time.h"

namespace mailseal::cli {

struct GlobalOptions {
  std::string home;             // --home DIR
  bool json = false;            // --json
  std::string passphrase_file;  // --passphrase-file FILE
};

class Context {
 public:
  // `command_line`: the arguments this process was started with (argv).
  explicit Context(const GlobalOptions& options, std::span<char* const> command_line = {});

  // The store's home (resolved when first asked, so commands that do not
  // use the store work without one).
  std::filesystem::path home() const;
  bool json() const noexcept { return json_; }
  // How this device unlocks its key files: with the passphrase from
  // --passphrase-file or MAILSEAL_PASSPHRASE, else they are not encrypted.
  const KeyAccess& key_access() const noexcept { return key_access_; }
  // --passphrase-file as given (empty without it), for what runs later with it.
  const std::string& passphrase_file() const noexcept { return passphrase_file_; }
  // The time this command runs at: the one place the CLI reads the clock
  // (once, when the command starts). The library decides by it (validity,
  // expiry) and dates what it makes and signs with it.
  TimePoint now() const noexcept { return now_; }
  // The arguments this process was started with, for a command that hands
  // itself over to another program (serve: cli/server_program.h).
  std::span<char* const> command_line() const noexcept { return command_line_; }

 private:
  std::string home_flag_;
  bool json_;
  std::string passphrase_file_;
  KeyAccess key_access_ = KeyAccess::unencrypted();
  TimePoint now_ = mailseal::now();
  std::span<char* const> command_line_;
};

// Reads a secret from a file: the first line, without its line ending.
Passphrase read_secret_line(const std::string& path);

}  // namespace mailseal::cli
