#pragma once
// The one way every client export asks senders for AES-CBC (see CbcReaders
// in mail_clients.h): the CLI reaches it only through the exports.

#include "mailseal/clients/mail_clients.h"

namespace mailseal::clients::internal {

// Re-issues the profile's encryption certificates to ask for AES-CBC unless
// they do already, then publishes them and sends them to the other devices
// when a key service is remembered; what could not be done is a warning.
// The new certificates are valid from `now`.
CbcReaders ask_senders_for_cbc(profile::Profile& profile, const KeyAccess& key_access, TimePoint now);

}  // namespace mailseal::clients::internal
