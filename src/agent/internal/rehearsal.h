#pragma once
// The rehearsal of the resident process's idle child (agent::prepare_child;
// docs/resident.md, "The idle child").

#include <functional>

#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"
#include "mailseal/common/time.h"

namespace mailseal::agent {

// A throwaway signer: a P-256 key as an unencrypted key file, and a mail
// certificate for an address under .invalid issued by a root of its own.
// Nobody's key; no signature made with it leaves the process.
struct Rehearsal {
  SecretBytes key_pem;
  Bytes certificate;  // DER
  Bytes issuer;       // DER
  TimePoint made_at;
};

// Draws random numbers: only in a child, after its fork.
Rehearsal make_rehearsal(TimePoint now);

// Reads the key file and certificates back, runs a statement in a database
// in memory and signs a short message, as `mailseal sign` does; the
// signature is dropped. Returns early, between two steps, once `stop` says
// so. Throws what the steps throw.
void rehearse_a_signature(const Rehearsal& rehearsal, const std::function<bool()>& stop);

}  // namespace mailseal::agent
