#include "mailseal/common/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/unique_fd.h"

extern char** environ;

namespace mailseal {

namespace {

// posix_spawn's file actions, destroyed with their owner.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() noexcept { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

}  // namespace

ProcessResult run_process(const std::vector<std::string>& arguments) {
  if (arguments.empty())
    throw Error(ErrorCode::Internal, "run_process needs a program");
  int pipe_ends[2];
  if (::pipe2(pipe_ends, O_CLOEXEC) != 0)
    throw Error(ErrorCode::Io, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  UniqueFd read_end(pipe_ends[0]);
  UniqueFd write_end(pipe_ends[1]);

  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), write_end.get(), 1);
  posix_spawn_file_actions_adddup2(actions.get(), write_end.get(), 2);
  std::vector<char*> argv;
  for (const auto& argument : arguments)
    argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t child = 0;
  int status = posix_spawnp(&child, argv[0], actions.get(), nullptr, argv.data(), environ);
  if (status == ENOENT)
    throw Error(ErrorCode::NotFound, fmt::format("{} is not installed", arguments[0]));
  if (status != 0)
    throw Error(ErrorCode::Io, fmt::format("cannot run {}: {}", arguments[0], std::strerror(status)));
  write_end.reset();

  ProcessResult result;
  char buffer[4096];
  while (true) {
    ssize_t read = ::read(read_end.get(), buffer, sizeof buffer);
    if (read > 0) {
      result.output.append(buffer, static_cast<std::size_t>(read));
      continue;
    }
    if (read < 0 && errno == EINTR)
      continue;
    break;
  }
  int wait_status = 0;
  while (::waitpid(child, &wait_status, 0) < 0) {
    if (errno != EINTR)
      throw Error(ErrorCode::Io, fmt::format("waiting for {}: {}", arguments[0], std::strerror(errno)));
  }
  result.exit_status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  return result;
}

}  // namespace mailseal
