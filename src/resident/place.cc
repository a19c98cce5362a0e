#include "resident/internal/place.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
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

}  // namespace mailseal::resident
