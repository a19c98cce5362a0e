#pragma once
// Sealed objects: content signed, then encrypted, as CMS (signed-data inside
// AuthEnvelopedData with AES-256-GCM), for what devices send each other
// through the key service (key bundles). The same engine and structures as
// mail, without the message around it: no headers, no From rule.

#include <span>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/smime/smime.h"

namespace mailseal::smime {

// Largest sealed object opened (key bundles are a few hundred kilobytes).
inline constexpr std::size_t kMaxSealedSize = 16 * 1024 * 1024;

// DER of the sealed object.
Bytes seal(ByteView content, const SignerIdentity& signer, std::span<const crypto::Certificate> recipients);

struct Opened {
  SecretBytes content;
  crypto::Certificate signer;                     // whose signature verified
  std::vector<crypto::Certificate> certificates;  // what the signature carried
};

// Decrypts with the first key that fits and verifies the signature inside
// (not who signed: that is the caller's question). Error(NoMatchingKey) when
// it is for none of the keys, Error(BadSignature) when it was altered or the
// signature does not hold, Error(Malformed) for anything else.
Opened open_sealed(ByteView sealed, std::span<const DecryptionKey> keys);

}  // namespace mailseal::smime
