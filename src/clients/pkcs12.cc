// A PKCS#12 of the profile's keys for another mail client.

#include "clients/internal/cbc.h"
#include "mailseal/clients/mail_clients.h"

namespace mailseal::clients {

Pkcs12ForClient export_pkcs12(profile::Profile& profile, const Pkcs12Options& options, const Passphrase& password,
                              const KeyAccess& key_access, TimePoint now) {
  Pkcs12ForClient out;
  if (options.ask_for_cbc)
    out.cbc = internal::ask_senders_for_cbc(profile, key_access, now);
  out.data = profile.export_pkcs12(options.address, options.purpose, password, options.protection, key_access);
  return out;
}

}  // namespace mailseal::clients
