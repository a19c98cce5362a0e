#pragma once
// The gateway's own credentials: who may submit through it, and so use the
// profile's signing key (docs/gateway.md, "Authentication"). A credential is
// a name and a random secret of 256 bits, shown once when it is made; the
// store keeps only the secret's SHA-256 (a hash is enough for a random
// secret of that size: there is nothing to guess) and the From addresses it
// may use.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/time.h"

namespace mailseal::profile {
class Profile;
}

namespace mailseal::gateway {

struct CredentialInfo {
  std::string name;
  std::vector<EmailAddress> addresses;  // empty: every address of the profile
  TimePoint created_at{};

  // True when the credential may sign for `address` (one of the profile's).
  bool allows(const EmailAddress& address) const;
};

struct NewCredential {
  CredentialInfo info;
  std::string secret;  // base64url, 43 characters; shown once, never stored
};

// A credential proven at AUTH: what it may do, and the SHA-256 of the secret
// that proved it. The hash tells this credential apart from a later one of
// the same name (removed and added again, or `--replace`d), which a name
// alone cannot.
struct ProvenCredential {
  CredentialInfo info;
  Bytes secret_hash;
};

// A credential name: 1 to 64 letters, digits, '.', '_', '-' (it is the SMTP
// AUTH user name, and goes into URLs such as mutt's smtp_url unescaped).
bool is_valid_credential_name(std::string_view name);

// Makes a credential. `addresses` empty: all of the profile's addresses.
// Error(Usage) for an invalid name or an address that is not the profile's;
// Error(AlreadyExists) when the name is taken (unless `replace`).
NewCredential create_credential(profile::Profile& profile, std::string_view name,
                                const std::vector<EmailAddress>& addresses, TimePoint now, bool replace = false);

std::vector<CredentialInfo> list_credentials(profile::Profile& profile);

// Error(NotFound) when there is no credential of that name.
void remove_credential(profile::Profile& profile, std::string_view name);

// The credential `name` when `secret` is its secret (compared in constant
// time); nullopt otherwise.
std::optional<ProvenCredential> check_credential(profile::Profile& profile, std::string_view name,
                                                 std::string_view secret);

// Whether `proven` is still in the store with the same secret: false once it
// was removed, or replaced by a new secret (a session that authenticated
// with it must authenticate again; docs/gateway.md, "Authentication").
bool still_valid(profile::Profile& profile, const ProvenCredential& proven);

}  // namespace mailseal::gateway
