#pragma once
// How the resident process hands a command to its idle child
// (docs/resident.md, "The idle child"): the child is forked ahead, before
// any launcher asks, and waits on its end of a socket pair; once a launcher
// says Go, the resident process sends it one message carrying the
// launcher's connection, its four descriptors (kPassedDescriptors) and a
// sealed-off memory file with the request's bytes (a request may be up to
// 1 MiB, more than a socket message holds).

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "mailseal/common/secret.h"
#include "mailseal/common/unique_fd.h"

namespace mailseal::resident {

// A socket pair for one idle child: first the resident process's end, then
// the child's. Both close-on-exec. std::nullopt, errno set, when the
// system has no descriptor or memory left.
std::optional<std::pair<UniqueFd, UniqueFd>> handoff_pair() noexcept;

// The resident's side: sends the command without waiting. False when it
// did not go (the idle child has gone, or no memory file could be made):
// then nothing of it arrived and the command has not run.
bool hand_over(int handoff, int connection, std::span<const UniqueFd> passed, std::span<const std::uint8_t> request);

// What the idle child receives.
struct HandedCommand {
  UniqueFd connection;           // to the launcher: the ending goes there
  std::vector<UniqueFd> passed;  // stdin, stdout, stderr, working folder
  SecretBytes request;           // the request's bytes (its environment may hold a passphrase)
};

// The idle child's side: waits for a command. std::nullopt when the
// resident's end closed (the resident process stopped or ended this child)
// or what came is not a whole command.
std::optional<HandedCommand> wait_for_command(int handoff) noexcept;

// The idle child's side, while it warms up: whether something came (a
// command, or the resident's end closed) that wait_for_command would take
// at once, waiting up to `wait` for it. The warm-up stops there: a launcher
// waits for nothing of it.
bool handoff_ready(int handoff, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) noexcept;

}  // namespace mailseal::resident
