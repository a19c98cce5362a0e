#pragma once
// Endorsements as X.509 cross-certificates (DESIGN.md section 2): the
// endorser's profile root issues a certificate for the endorsed root's (or
// certificate's) subject and key, with the certified addresses as
// subjectAltName, the scope as name constraints, and mailseal's endorsement
// extension carrying the amount, depth, kind and exportability.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::crypto {

// OID of the endorsement extension: a UUID arc (ITU-T X.667, 2.25), so no
// registration is needed: 2.25.142306864262817934866580448232155847179.
inline constexpr const char* kEndorsementExtensionOid = "2.25.142306864262817934866580448232155847179";

inline constexpr int kFullEndorsementAmount = 120;

struct EndorsementTerms {
  enum class Kind { Endorsement, Rotation };
  Kind kind = Kind::Endorsement;
  int amount = 120;                     // 1..120
  int depth = 0;                        // how far the subject may introduce others
  bool exportable = true;               // false: a local endorsement, never published
  std::vector<std::string> scope;       // rfc822Name constraints: "example.org", ".example.org", "a@b.c"
  std::vector<EmailAddress> addresses;  // the bindings certified
};

Certificate issue_endorsement(const Certificate& subject, const PrivateKey& issuer_key, const Certificate& issuer,
                              const EndorsementTerms& terms, TimePoint not_before, TimePoint not_after);

// The terms of a cross-certificate carrying the extension; nullopt if it has
// none. Error(Malformed) if the extension is present but damaged.
std::optional<EndorsementTerms> read_endorsement(const Certificate& certificate);

// True if the certificate carries the endorsement extension, damaged or not:
// such a certificate is evidence, never an issuer in a chain.
bool is_endorsement(const Certificate& certificate);

// The permitted rfc822Name subtrees of a certificate's name constraints.
std::vector<std::string> permitted_email_constraints(const Certificate& certificate);

// A certificate revocation list (RFC 5280 section 5).
class RevocationList {
 public:
  // PEM or DER; Error(Malformed) otherwise.
  static RevocationList read(ByteView data);
  ~RevocationList();
  RevocationList(RevocationList&&) noexcept;
  RevocationList& operator=(RevocationList&&) noexcept;

  // True if `issuer` issued it (names match and its signature verifies).
  bool is_issued_by(const Certificate& issuer) const;
  std::string issuer() const;
  // Serial numbers revoked, upper-case hex as Certificate::serial_hex gives.
  std::vector<std::string> revoked_serials() const;
  // When the issuer made it (lastUpdate, RFC 5280 section 5.1.2.4).
  TimePoint last_update() const;
  Bytes der() const;
  std::string pem() const;

 private:
  struct Impl;
  explicit RevocationList(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend RevocationList issue_revocation_list(const PrivateKey&, const Certificate&, const std::vector<std::string>&,
                                              TimePoint);
};

// Issues a CRL revoking `serials` (hex) under `issuer` (mailseal uses it to
// revoke device and mail certificates, and a root itself).
RevocationList issue_revocation_list(const PrivateKey& issuer_key, const Certificate& issuer,
                                     const std::vector<std::string>& serials, TimePoint now);

}  // namespace mailseal::crypto
