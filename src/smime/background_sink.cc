#include "smime/internal/background_sink.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mailseal::smime::internal {

namespace {
// 64 KiB: five chunks in flight at most (filling, three waiting, one being
// written) hold 0.3 MiB, against the 16 MiB the encryption is to stay under.
// At 128 KiB the two threads woke each other half as often (2,700 against
// 5,400 times for 100 MB, 4-6% less CPU) and held 0.3 MiB more, which took
// the encryption's peak over 16 MiB (bench/smime_profile.md).
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kWaiting = 3;  // chunks handed over and not yet written
// Below this, writing goes straight to `next`: a thread costs more than it
// saves on a small message (the gateway signs hundreds a second).
constexpr std::uint64_t kStartAbove = 4 * 1024 * 1024;
}  // namespace

struct BackgroundSink::State {
  explicit State(ByteSink& sink) : next(sink) {}

  ByteSink& next;
  std::uint64_t written = 0;
  Bytes filling;  // the writer's chunk, not yet handed over

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Bytes> waiting;  // guarded by mutex, as the three below
  std::vector<Bytes> spare;   // written chunks, reused
  bool closing = false;
  std::exception_ptr failure;
  std::thread worker;

  void run() {
    for (;;) {
      Bytes chunk;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return !waiting.empty() || closing; });
        if (waiting.empty())
          return;
        chunk = std::move(waiting.front());
        waiting.pop_front();
      }
      try {
        next.write(chunk);
      } catch (...) {
        std::lock_guard lock(mutex);
        failure = std::current_exception();
        waiting.clear();
        changed.notify_all();
        return;
      }
      chunk.clear();
      std::lock_guard lock(mutex);
      spare.push_back(std::move(chunk));
      changed.notify_all();
    }
  }

  void hand_over() {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return waiting.size() < kWaiting || failure; });
    if (failure)
      std::rethrow_exception(failure);
    waiting.push_back(std::move(filling));
    filling = Bytes();
    if (!spare.empty()) {
      filling = std::move(spare.back());
      spare.pop_back();
    }
    changed.notify_all();
  }

  // Waits for the worker to end: after everything waiting (closing), or at
  // once (dropping).
  void stop(bool drop) {
    {
      std::lock_guard lock(mutex);
      if (drop)
        waiting.clear();
      closing = true;
      changed.notify_all();
    }
    worker.join();
  }
};

BackgroundSink::BackgroundSink(ByteSink& next) : state_(std::make_unique<State>(next)) {}

BackgroundSink::~BackgroundSink() {
  if (state_->worker.joinable())
    state_->stop(true);
}

void BackgroundSink::write(ByteView bytes) {
  State& state = *state_;
  state.written += bytes.size();
  if (!state.worker.joinable()) {
    if (state.written <= kStartAbove) {
      state.next.write(bytes);
      return;
    }
    state.worker = std::thread([&state] { state.run(); });
  }
  while (!bytes.empty()) {
    if (state.filling.capacity() < kChunk)
      state.filling.reserve(kChunk);
    const std::size_t take = std::min(bytes.size(), kChunk - state.filling.size());
    state.filling.insert(state.filling.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (state.filling.size() == kChunk)
      state.hand_over();
  }
}

void BackgroundSink::finish() {
  State& state = *state_;
  if (!state.worker.joinable())
    return;
  if (!state.filling.empty())
    state.hand_over();
  state.stop(false);
  if (state.failure)
    std::rethrow_exception(state.failure);
}

}  // namespace mailseal::smime::internal
