#pragma once
// Buffers for secrets: wiped when freed, so keys and passphrases do not linger
// in freed heap memory (STYLE.md, Botan's secure_vector).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace mailseal {

void secure_wipe(void* data, std::size_t size) noexcept;

template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() noexcept = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT: allocator rebinding
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

// Secret bytes: keys, shares, decrypted PKCS#8.
using SecretBytes = std::vector<std::uint8_t, WipingAllocator<std::uint8_t>>;

SecretBytes to_secret(std::span<const std::uint8_t> bytes);

// A passphrase or password. Held as bytes (no small-string buffer that would
// escape wiping); view() gives the text.
class Passphrase {
 public:
  Passphrase() = default;
  explicit Passphrase(std::string_view text);

  std::string_view view() const noexcept;
  bool empty() const noexcept { return bytes_.empty(); }

 private:
  SecretBytes bytes_;
};

}  // namespace mailseal
