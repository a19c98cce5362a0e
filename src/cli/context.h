#pragma once
// What every command may need: the store's home, the key passphrase, whether
// to print JSON. Built from the global options once they are parsed.

#include <filesystem>
#include <optional>
#include <string>

#include "mailseal/common/secret.h"

namespace mailseal::cli {

struct GlobalOptions {
  std::string home;             // --home DIR
  bool json = false;            // --json
  std::string passphrase_file;  // --passphrase-file FILE
};

class Context {
 public:
  explicit Context(const GlobalOptions& options);

  // The store's home (resolved when first asked, so commands that do not
  // use the store work without one).
  std::filesystem::path home() const;
  bool json() const noexcept { return json_; }
  // The key passphrase from --passphrase-file or MAILSEAL_PASSPHRASE, if any.
  const Passphrase* passphrase() const noexcept { return passphrase_ ? &*passphrase_ : nullptr; }
  std::optional<Passphrase> passphrase_copy() const { return passphrase_; }

 private:
  std::string home_flag_;
  bool json_;
  std::optional<Passphrase> passphrase_;
};

// Reads a secret from a file: the first line, without its line ending.
Passphrase read_secret_line(const std::string& path);

}  // namespace mailseal::cli
