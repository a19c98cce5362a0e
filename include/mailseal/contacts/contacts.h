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
  TimePoint first_seen{};
  TimePoint last_seen{};
};

struct ImportedContact {
  Contact contact;
  bool is_new = false;
};

// Stores a correspondent's mail certificate under each address it names,
// with the capabilities its extension advertises. Nothing is stored for a CA
// certificate or one that names no address or allows no S/MIME use.
std::vector<ImportedContact> add_certificate(store::LocalStore& store, const crypto::Certificate& certificate,
                                             std::string_view source, TimePoint seen_at);

// Records the signer (and chain) of a valid signature as a contact.
std::vector<ImportedContact> record_signature(store::LocalStore& store, const smime::SignatureReport& report,
                                              std::string_view source, TimePoint seen_at);

std::vector<Contact> list(store::LocalStore& store);

// The certificates that can encrypt to `address` at `now`: they name it,
// allow encryption and are within their validity; newest first.
std::vector<Contact> encryption_candidates(store::LocalStore& store, const EmailAddress& address, TimePoint now);

// The newest of them, regardless of trust (evidence.h chooses by trust).
std::optional<Contact> encryption_certificate(store::LocalStore& store, const EmailAddress& address, TimePoint now);

}  // namespace mailseal::contacts
