#include "cli/context.h"

#include <cstdlib>
#include <utility>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/store/local_store.h"

namespace mailseal::cli {

namespace {
constexpr std::size_t kMaxSecretFile = 4096;
}

Passphrase read_secret_line(const std::string& path) {
  SecretBytes content = read_secret_file(path, kMaxSecretFile);
  std::size_t end = 0;
  while (end < content.size() && content[end] != '\n' && content[end] != '\r') {
    ++end;
  }
  return Passphrase(std::string_view(reinterpret_cast<const char*>(content.data()), end));
}

Context::Context(const GlobalOptions& options, std::span<char* const> command_line)
    : home_flag_(options.home),
      json_(options.json),
      passphrase_file_(options.passphrase_file),
      command_line_(command_line) {
  if (!options.passphrase_file.empty()) {
    Passphrase passphrase = read_secret_line(options.passphrase_file);
    if (passphrase.empty()) {
      throw Error(ErrorCode::Usage, "the passphrase file is empty");
    }
    key_access_ = KeyAccess::with_passphrase(std::move(passphrase));
  } else if (const char* value = std::getenv("MAILSEAL_PASSPHRASE"); value != nullptr && *value != '\0') {
    key_access_ = KeyAccess::with_passphrase(Passphrase(value));
  }
}

}  // namespace mailseal::cli

namespace mailseal::cli {

std::filesystem::path Context::home() const {
  return store::resolve_home(home_flag_.empty() ? std::nullopt : std::optional<std::filesystem::path>(home_flag_));
}

}  // namespace mailseal::cli
