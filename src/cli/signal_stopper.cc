#include "cli/signal_stopper.h"

#include <pthread.h>

#include <thread>

namespace mailseal::cli {

SignalStopper::SignalStopper() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

void SignalStopper::serve(const std::function<void()>& run, const std::function<void()>& stop) {
  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals_, &received);
    stop();
  });
  try {
    run();
  } catch (...) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    throw;
  }
  // run() also returns when serving fails: wake the waiter either way.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
}

}  // namespace mailseal::cli
