#pragma once
// Authenticated symmetric encryption for secrets mailseal keeps for itself
// (the key-service escrow of a profile's mail keys): AES-256-GCM.

#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"

namespace mailseal::crypto {

inline constexpr std::size_t kSymmetricKeyBytes = 32;

// A 32-byte key for `purpose` from a high-entropy secret (HKDF-SHA-256,
// RFC 5869, with the purpose as info).
SecretBytes derive_symmetric_key(ByteView secret, std::string_view purpose);

// nonce (12 bytes) || ciphertext || tag (16 bytes); `associated` is
// authenticated, not encrypted. Error(Usage) unless the key has 32 bytes.
Bytes seal_symmetric(ByteView key, ByteView plaintext, ByteView associated);

// The plaintext; Error(BadSignature) when the key is wrong or a byte changed,
// Error(Malformed) when it is too short to be sealed data.
SecretBytes open_symmetric(ByteView key, ByteView sealed, ByteView associated);

// SHA-256 of `data` (the hash chain of trust records).
Bytes sha256(ByteView data);

}  // namespace mailseal::crypto
