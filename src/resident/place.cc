#include "resident/internal/place.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "mailseal/resident/resident.h"

namespace mailseal::resident {

std::optional<std::filesystem::path> socket_path() {
  if (const char* chosen = std::getenv("MAILSEAL_RESIDENT"); chosen && *chosen) {
    if (std::string_view(chosen) == "off")
      return std::nullopt;
    return std::filesystem::path(chosen);
  }
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime == '/')
    return std::filesystem::path(runtime) / "mailseal-resident.sock";
  return std::filesystem::path("/tmp") / ("mailseal-resident-" + std::to_string(::getuid())) / "socket";
}

bool is_private_folder(const std::filesystem::path& folder) noexcept {
  struct stat status {};
  if (::lstat(folder.c_str(), &status) != 0)
    return false;
  return S_ISDIR(status.st_mode) && status.st_uid == ::getuid() && (status.st_mode & 077) == 0;
}

void make_private_folder(const std::filesystem::path& folder) {
  if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create " + folder.string() + ": " + std::strerror(errno));
  if (!is_private_folder(folder))
    throw std::runtime_error(folder.string() +
                             " is not a folder of yours closed to everyone else (mode 0700): another user may "
                             "have made it to receive your messages. Remove it, or choose another socket with "
                             "MAILSEAL_RESIDENT");
}

bool peer_is_this_user(int socket) noexcept {
  struct ucred peer {};
  socklen_t size = sizeof peer;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 || size != sizeof peer)
    return false;
  return peer.uid == ::getuid();
}

namespace {

// The confinement of a process as /proc shows it: its mount namespace and
// the NoNewPrivs and Seccomp lines of its status; empty where unreadable.
std::string confinement_of(const std::string& process) {
  std::string confinement;
  std::error_code error;
  confinement += std::filesystem::read_symlink("/proc/" + process + "/ns/mnt", error).string() + "\n";
  std::ifstream status("/proc/" + process + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("NoNewPrivs:") || line.starts_with("Seccomp:"))
      confinement += line + "\n";
  return confinement;
}

}  // namespace

std::optional<std::string> peer_confinement_differs(int socket) {
  struct ucred peer {};
  socklen_t size = sizeof peer;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 || size != sizeof peer)
    return "the launcher's process cannot be known";
  // The launcher waits for the answer, so its process id still names it.
  const std::string theirs = confinement_of(std::to_string(peer.pid));
  const std::string ours = confinement_of("self");
  if (theirs != ours || theirs.find("NoNewPrivs") == std::string::npos)
    return "the launcher runs in a sandbox (its own mount namespace, no_new_privs or a seccomp filter): it runs its "
           "command itself, inside it";
  return std::nullopt;
}

}  // namespace mailseal::resident
