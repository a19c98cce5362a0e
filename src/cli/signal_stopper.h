#pragma once
// Runs a server in the foreground until SIGINT or SIGTERM (serve, gateway).

#include <csignal>
#include <functional>

namespace mailseal::cli {

// Signals are taken by a thread of their own (sigwait), so that stopping a
// server never runs inside a signal handler. Blocks them before the server
// starts its own threads, which inherit the mask.
class SignalStopper {
 public:
  SignalStopper();

  // Runs `run` while a thread waits for a signal and then calls `stop`.
  void serve(const std::function<void()>& run, const std::function<void()>& stop);

 private:
  sigset_t signals_;
};

}  // namespace mailseal::cli
