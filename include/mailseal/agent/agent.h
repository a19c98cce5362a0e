#pragma once
// The user agent: what a person asks mailseal to do with a message, combining
// their profile, their contacts and the S/MIME engine. The CLI and the
// gateway are shells over these functions.

#include <optional>
#include <vector>

#include "mailseal/common/secret.h"
#include "mailseal/devices/profile.h"
#include "mailseal/smime/smime.h"

namespace mailseal::agent {

// Signs with the current signing key of the From address.
void sign(devices::Profile& profile, const Passphrase* passphrase, smime::OutgoingMessage& message,
          smime::ByteSink& out, smime::SignatureForm form);

struct EncryptReport {
  std::vector<EmailAddress> recipients;  // the sender included
  smime::EncryptionChoice choice;
  bool signed_message = false;
};

// Encrypts to `to` (else every To/Cc/Bcc address) and to the sender, with
// certificates from the contacts; signs first unless `sign` is false.
// Error(NoMatchingKey) naming every recipient without a usable certificate;
// nothing is written then.
EncryptReport encrypt(devices::Profile& profile, const Passphrase* passphrase, smime::OutgoingMessage& message,
                      smime::ByteSink& out, const std::vector<EmailAddress>& to, bool sign);

// Reads a message with every decryption key of the profile (if given).
smime::ReadResult read(devices::Profile* profile, const Passphrase* passphrase, ByteView message,
                       const smime::Policy& policy);

}  // namespace mailseal::agent
