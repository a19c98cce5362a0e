#pragma once
// Where the resident socket lives and who may be at its other end: the rules
// the launcher and the server both apply (include/mailseal/resident/resident.h).

#include <filesystem>
#include <optional>
#include <string>

namespace mailseal::resident {

// A folder this user owns, that no one else may enter or change (no group or
// other permission bits), and that is not a symbolic link.
bool is_private_folder(const std::filesystem::path& folder) noexcept;

// Creates `folder` (0700) when missing. Throws std::runtime_error saying what
// to do when it exists and is not private.
void make_private_folder(const std::filesystem::path& folder);

// Whether the process at the other end of a connected Unix socket runs as
// this user (SO_PEERCRED).
bool peer_is_this_user(int socket) noexcept;

// Why the process at the other end of a connected Unix socket is confined
// more than this one (another mount namespace, no_new_privs, a seccomp
// filter: a sandbox, the gateway's systemd unit for one), or std::nullopt
// when it is not. A confined process of the user must run its commands
// itself: the resident process would run them outside its sandbox.
std::optional<std::string> peer_confinement_differs(int socket);

}  // namespace mailseal::resident
