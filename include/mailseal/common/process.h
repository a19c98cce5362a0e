#pragma once
// Running a peer program (NSS's pk12util and certutil) without a shell: the
// arguments are passed as they are, never parsed.

#include <string>
#include <vector>

namespace mailseal {

struct ProcessResult {
  int exit_status = -1;  // -1 when killed by a signal
  std::string output;    // standard output and standard error, interleaved
};

// Runs `arguments[0]` (looked up in PATH) with standard input from /dev/null
// and waits. Error(NotFound) when the program is not installed, Error(Io)
// when it cannot be started.
ProcessResult run_process(const std::vector<std::string>& arguments);

}  // namespace mailseal
