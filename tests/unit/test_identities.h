#pragma once
// Throw-away identities for unit tests: a name-constrained root per person
// and mail certificates issued by it, made with mailseal's own crypto.

#include <string>

#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/smime/smime.h"

namespace mailseal::test {

struct Person {
  EmailAddress address;
  crypto::PrivateKey root_key;
  crypto::Certificate root;
  crypto::PrivateKey signing_key;
  crypto::Certificate signing;
  crypto::PrivateKey encryption_key;
  crypto::Certificate encryption;

  // Signs at the process clock (signing_time unset), as OpenSSL stamps it.
  smime::SignerIdentity signer() const { return {&signing_key, signing, {root}, smime::Capabilities::mailseal(), {}}; }
  smime::DecryptionKey decryption() const { return {&encryption_key, encryption}; }
};

// RSA-2048 keys by default (quick to make); P-256 with `ec`.
Person make_person(const std::string& address, bool ec = false);

// Alice and Bob, made once per test binary.
const Person& alice();
const Person& bob();

}  // namespace mailseal::test
