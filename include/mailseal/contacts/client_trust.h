#pragma once
// Which correspondents' profile roots the mail clients should trust
// (DESIGN.md section 7, "Trust reaches the clients"; docs/trust.md). A
// profile root is a CA name-constrained to its owner's mailboxes, so a client
// told to trust it for email lets it vouch only for those mailboxes. The
// verdicts decide: partial or better makes the root a client trust anchor,
// a conflict or a revocation makes it explicitly distrusted, anything else
// leaves it untrusted. Only profile roots are managed this way. The clients part only applies the answer.

#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/store/local_store.h"
#include "mailseal/trust/trust.h"

namespace mailseal::contacts {

// What a client should do with one correspondent's root.
enum class ClientTrust {
  Anchor,      // trust it for email (only): every mailbox it may vouch for is rated partial or better
  Distrusted,  // a binding of its key is in conflict or revoked: withdraw any trust, explicitly
  Untrusted,   // below partial, or refused as an anchor (`refusal` says why): no trust
};
std::string_view to_string(ClientTrust trust) noexcept;

struct ClientRoot {
  Identity identity;
  crypto::Certificate root;             // the top of the correspondent's chain
  std::vector<EmailAddress> addresses;  // the addresses its certificates were seen for
  trust::Level level = trust::Level::None;  // the weakest verdict among those addresses
  ClientTrust trust = ClientTrust::Untrusted;
  std::optional<std::string> refusal;  // rated partial or better, but not fit to be an anchor
  // A mailseal profile root (a self-signed CA constrained to mailboxes): the
  // only roots whose trust mailseal sets in a client. Any other root (a
  // public or corporate CA, a self-signed mail certificate) is left as the
  // client has it, whatever the verdict: it vouches for more than this
  // correspondent, and it is always Untrusted here.
  bool profile_root = false;
};

// Why `root`, at the top of a chain of `chain_length` issuers above a mail
// certificate, may not become a mail client's trust anchor for `trusted`
// (the addresses whose binding to its key is rated partial or better);
// nullopt when it may. It must be a mailseal profile root: a self-signed CA
// that issued the mail certificate itself, with name constraints that permit
// only whole mailboxes, each of them in `trusted`. A root without name
// constraints (a public or corporate CA) would vouch for every address.
std::optional<std::string> anchor_refusal(const crypto::Certificate& root, std::size_t chain_length,
                                          const std::vector<EmailAddress>& trusted);

// Every correspondent's root the store knows a certificate under, with what
// a mail client should do with it at `now` (the evaluator's own root is not
// among them). Ordered by identity.
std::vector<ClientRoot> client_roots(store::LocalStore& store, const Evaluator& evaluator, TimePoint now);

}  // namespace mailseal::contacts
