#pragma once
// Shared by every fuzz target: the entry point libFuzzer calls, and the cap
// on input size (hostile inputs larger than this are refused before parsing
// anyway, and big inputs only slow the fuzzer down).

#include <cstddef>
#include <cstdint>
#include <span>

namespace mailseal::fuzz {
inline constexpr std::size_t kMaxInput = 64 * 1024;

// Each target implements this; the capping wrapper below calls it.
void run(std::span<const std::uint8_t> input);
}  // namespace mailseal::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

// Expands in each target's .cc file.
#define MAILSEAL_FUZZ_TARGET                                                          \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    if (size <= mailseal::fuzz::kMaxInput) {                                          \
      mailseal::fuzz::run(std::span<const std::uint8_t>(data, size));                 \
    }                                                                                 \
    return 0;                                                                         \
  }
