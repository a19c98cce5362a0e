#pragma once
// Running NSS's command-line tools (certutil, pk12util) on a Thunderbird
// profile's database, with the keys handed over in a private scratch
// directory.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/process.h"
#include "mailseal/crypto/certificate.h"

namespace mailseal::clients::internal {

// A private scratch directory, removed with everything in it.
class ScratchDirectory {
 public:
  ScratchDirectory();
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs an NSS tool that changes the database; Error(Io) naming `what` with
// the tool's output when it fails, Error(NotFound) with a hint when NSS's
// tools are not installed.
void run_nss_tool(const std::vector<std::string>& arguments, std::string_view what);

}  // namespace mailseal::clients::internal
