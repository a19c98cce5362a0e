#pragma once
// Writing on a second core: a large signed and encrypted message spends about
// as long in the signature's digest and the line-ending pass as in the
// encryption and base64 behind them, and a large message encrypted alone as
// long reading and encrypting as in base64 and writing the output
// (bench/smime_profile.md), so the two halves run side by side.

#include <memory>

#include "mailseal/smime/io.h"

namespace mailseal::smime::internal {

// Hands what is written to `next` in order, from a thread of its own once
// more than a few MiB have passed (a small message never starts one).
// Memory stays bounded: a few chunks of 128 KiB wait at most, and a writer
// that is ahead waits for room. An exception thrown by `next` is thrown
// again by the next write() or by finish(); `next` sees nothing after it.
class BackgroundSink : public ByteSink {
 public:
  explicit BackgroundSink(ByteSink& next);
  // Stops the thread; what was written but not finished is dropped.
  ~BackgroundSink() override;
  BackgroundSink(const BackgroundSink&) = delete;
  BackgroundSink& operator=(const BackgroundSink&) = delete;

  using ByteSink::write;
  void write(ByteView bytes) override;
  // Returns once `next` has been given everything; does not finish `next`.
  void finish() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mailseal::smime::internal
