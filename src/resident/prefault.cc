#include "resident/internal/prefault.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

// Linux 5.14; older headers lack the names.
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace mailseal::resident {

namespace {

// Larger mappings are reservations, not what a command touches: an
// AddressSanitizer build's shadow memory (terabytes, reserved without
// backing) populated made every idle child die by the OOM killer, and any
// library's large reserve would cost its size in every child.
constexpr std::uintptr_t kLargestPopulated = std::uintptr_t{64} << 20;

}  // namespace

std::size_t populate_private_mappings(const std::function<bool()>& stop) noexcept {
  std::size_t refused = 0;
  try {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (!stop() && std::getline(maps, line)) {
      std::uintptr_t start = 0;
      std::uintptr_t end = 0;
      char permissions[5] = {};
      if (std::sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, permissions) != 3)
        continue;
      const bool readable = permissions[0] == 'r';
      const bool writable = permissions[1] == 'w';
      const bool shared = permissions[3] == 's';
      // Shared mappings are the same pages in every process; a mapping that
      // cannot be read is a guard.
      if (!readable || shared || end - start > kLargestPopulated)
        continue;
      const int advice = writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
      if (::madvise(reinterpret_cast<void*>(start), end - start, advice) != 0)
        ++refused;
    }
  } catch (const std::exception&) {
    // No memory for a line of /proc/self/maps: what is not populated faults
    // in when touched.
  }
  return refused;
}

}  // namespace mailseal::resident
