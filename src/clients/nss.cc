#include "clients/internal/nss.h"

#include <unistd.h>

#include <fmt/format.h>

#include "mailseal/common/error.h"

namespace mailseal::clients::internal {

namespace fs = std::filesystem;

ScratchDirectory::ScratchDirectory() {
  std::string pattern = (fs::temp_directory_path() / "mailseal-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw Error(ErrorCode::Io, "cannot create a temporary directory");
  path_ = pattern;
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;  // best effort: a leftover holds only encrypted data
  fs::remove_all(path_, ignored);
}

void run_nss_tool(const std::vector<std::string>& arguments, std::string_view what) {
  ProcessResult result;
  try {
    result = run_process(arguments);
  } catch (const Error& error) {
    if (error.code() == ErrorCode::NotFound)
      throw Error(ErrorCode::NotFound, error.what(), "install NSS's tools: apt-get install libnss3-tools");
    throw;
  }
  if (result.exit_status != 0)
    throw Error(ErrorCode::Io, fmt::format("{} failed: {}", what, result.output));
}

}  // namespace mailseal::clients::internal
