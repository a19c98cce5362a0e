#pragma once
// Contacts: the certificates of correspondents that encryption needs, with
// what each can decrypt. The trust engine (issue 4) builds its evidence on
// the same records.

#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/smime/capabilities.h"
#include "mailseal/smime/policy.h"
#include "mailseal/smime/smime.h"
#include "mailseal/store/local_store.h"

namespace mailseal::contacts {

struct Contact {
  EmailAddress address;
  crypto::Certificate certificate;
  smime::Capabilities capabilities;
  std::string source;  // "import" or "message"
  std::int64_t first_seen = 0;
  std::int64_t last_seen = 0;
};

struct ImportedContact {
  Contact contact;
  bool is_new = false;
};

// Imports certificates (PEM, DER, a .p7c bundle) or the signer of a signed
// message. Only certificates that name an address and allow S/MIME use are
// kept; issuers are kept for chains. A message whose signature is not valid
// is refused. Error(Malformed) when nothing importable is found.
std::vector<ImportedContact> import_file(store::LocalStore& store, ByteView data, const smime::Policy& policy);

// Records the signer (and chain) of a valid signature as a contact.
std::vector<ImportedContact> record_signature(store::LocalStore& store, const smime::SignatureReport& report,
                                              std::string_view source, std::int64_t seen_at);

std::vector<Contact> list(store::LocalStore& store);

// The certificate to encrypt to `address` at `now`: one that names it,
// allows encryption and is within its validity; the newest if several.
std::optional<Contact> encryption_certificate(store::LocalStore& store, const EmailAddress& address,
                                              crypto::TimePoint now);

}  // namespace mailseal::contacts
