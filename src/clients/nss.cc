#include "clients/internal/nss.h"

#include <unistd.h>

#include <sstream>

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

namespace {

ProcessResult run_nss_query(const std::vector<std::string>& arguments) {
  ProcessResult result = run_process(arguments);
  if (result.exit_status != 0)
    throw Error(ErrorCode::Io, fmt::format("{} failed: {}", arguments[0], result.output));
  return result;
}

}  // namespace

std::string nss_nickname(const std::string& database, const crypto::Certificate& certificate,
                         const std::string& fallback) {
  std::istringstream listing(run_nss_query({"certutil", "-L", "-d", database}).output);
  std::string line;
  int header = 0;
  while (std::getline(listing, line)) {
    if (header < 4) {  // a blank line, two title lines, a blank line
      ++header;
      continue;
    }
    // "NICKNAME<two or more spaces>TRUST"
    std::size_t gap = line.find("  ");
    if (gap == std::string::npos)
      continue;
    std::string nickname = line.substr(0, gap);
    std::string pem = run_nss_query({"certutil", "-L", "-d", database, "-n", nickname, "-a"}).output;
    for (const auto& candidate : crypto::Certificate::read_all(as_bytes(pem))) {
      if (candidate == certificate)
        return nickname;
    }
  }
  return fallback;
}

}  // namespace mailseal::clients::internal
