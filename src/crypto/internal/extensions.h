#pragma once
// Building blocks of the certificates crypto issues (issue.cc) and of
// endorsements (endorsement.cc): one way to write a serial number, an email
// name, subjectAltName and name constraints (RFC 5280 section 4.2).

#include <string>
#include <string_view>
#include <vector>

#include "common/openssl.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"

namespace mailseal::crypto::internal {

// A random positive serial of exactly 16 bytes (RFC 5280 section 4.1.2.2
// allows up to 20).
void set_random_serial(X509* certificate);

// An rfc822Name GeneralName.
ossl::GeneralName email_name(std::string_view text);

// Extensions whose textual form OpenSSL already parses well (constants only).
void add_extension_text(X509* certificate, X509V3_CTX* context, int nid, const char* value);

// An extension whose DER value the caller encoded.
void add_raw_extension(X509* certificate, const ASN1_OBJECT* oid, ByteView value, bool critical);

// subjectAltName with one rfc822Name per address, non-critical (RFC 5280
// section 4.2.1.6: critical only when the subject name is empty).
void add_subject_alt_names(X509* certificate, const std::vector<EmailAddress>& addresses);

// nameConstraints permitting the rfc822Name rules given ("a@b.example",
// "b.example", ".b.example"). Non-critical although RFC 5280 asks for
// critical: gpgsm 2.2 rejects every chain through a CA with a critical
// nameConstraints extension ("critical certificate extension 2.5.29.30 is not
// supported"), while OpenSSL and NSS enforce the constraint either way.
void add_email_name_constraints(X509* certificate, const std::vector<std::string>& permitted);

}  // namespace mailseal::crypto::internal
