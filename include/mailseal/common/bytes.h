#pragma once
// Byte containers used across the library: spans in, owned vectors out (STYLE.md).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mailseal {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// The bytes of a string, without a terminator.
Bytes to_bytes(std::string_view text);
ByteView as_bytes(std::string_view text) noexcept;
std::string_view as_string_view(ByteView bytes) noexcept;

// Lower-case hexadecimal, two digits a byte.
std::string to_hex(ByteView bytes);
// Accepts upper or lower case and ignores spaces and colons; throws Error(Malformed).
Bytes from_hex(std::string_view hex);

// Constant-time comparison for secrets and MACs.
bool constant_time_equal(ByteView a, ByteView b) noexcept;

}  // namespace mailseal
