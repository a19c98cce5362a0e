#pragma once
// Faulting in, ahead of a command, the memory a forked child shares with the
// resident process (docs/resident.md, "The idle child").

#include <cstddef>
#include <functional>

namespace mailseal::resident {

// Maps now every page of this process's private mappings: writable ones are
// copied from the parent (copy-on-write broken), read-only and executable
// ones (the libraries' code and constants) entered in the page tables. A
// child forked from a warmed-up process otherwise takes each of these as a
// page fault while its command runs: about 400 for a small `sign`, and on a
// virtual machine a fault costs microseconds. Returns the number of mappings
// the kernel would not populate (special ones such as [vvar]): their pages
// fault in when touched, as before. Mappings over 64 MiB are reservations
// and left alone. Stops before the next mapping once `stop` says so (a
// command came: what is left faults in as it is touched).
std::size_t populate_private_mappings(const std::function<bool()>& stop) noexcept;

}  // namespace mailseal::resident
