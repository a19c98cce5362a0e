#pragma once
// X.509 certificates: reading, inspecting, issuing with the extensions S/MIME
// needs (RFC 8550), and checking a chain.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/openssl_handles.h"
#include "mailseal/common/time.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/udf/udf.h"

namespace mailseal::crypto {


// Key usage bits (RFC 5280 section 4.2.1.3) that mailseal looks at.
struct KeyUsage {
  bool present = false;  // no extension: any use
  bool digital_signature = false;
  bool non_repudiation = false;
  bool key_encipherment = false;
  bool key_agreement = false;
  bool key_cert_sign = false;
};

// When a certificate is valid.
struct Validity {
  TimePoint not_before{};
  TimePoint not_after{};
};

// The validity of a DER certificate, read without decoding the rest: for the
// checks every command makes (are the profile's own certificates due for
// renewal?), where OpenSSL 3.0 decoding the public key would cost more than
// the command's own work (bench/smime_profile.md). Reads only as far as the
// validity: a certificate damaged after it throws later, in from_der.
// Throws Error(Malformed) when the DER does not reach a well-formed validity.
Validity read_validity(ByteView der);

// A certificate; copies share the underlying object (reference counted).
class Certificate {
 public:
  static Certificate from_der(ByteView der);
  // The first certificate of a PEM text.
  static Certificate from_pem(std::string_view pem);
  // Every certificate in PEM (one or more), DER, or a PKCS#7 certs-only
  // structure (.p7c, PEM or DER). Throws Error(Malformed) if there is none.
  static std::vector<Certificate> read_all(ByteView data);

  explicit Certificate(ossl::X509Cert certificate);
  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;
  ~Certificate();

  Bytes der() const;
  std::string pem() const;

  // RFC 2253 one-line names, attacker-controlled: escape before printing.
  std::string subject() const;
  std::string issuer() const;
  std::string common_name() const;
  std::string serial_hex() const;
  // The serial number's DER content octets and the issuer Name's DER: how
  // NSS identifies a certificate (Thunderbird's dbKey).
  Bytes serial_der_content() const;
  Bytes issuer_name_der() const;
  TimePoint not_before() const;
  TimePoint not_after() const;
  Validity validity() const { return {not_before(), not_after()}; }

  // The valid email addresses it names: subjectAltName rfc822Name entries,
  // then emailAddress attributes of the subject, without duplicates.
  std::vector<EmailAddress> email_addresses() const;
  bool names_address(const EmailAddress& address) const;

  PublicKey public_key() const;
  // UDF of the whole certificate (application/pkix-cert).
  udf::Fingerprint fingerprint() const;
  // UDF of its SubjectPublicKeyInfo (application/pkix-keyinfo).
  udf::Fingerprint key_fingerprint() const;

  // The DER value of the RFC 4262 SMIMECapabilities extension, if present.
  std::optional<Bytes> smime_capabilities() const;

  bool is_ca() const;
  bool is_self_issued() const;
  KeyUsage key_usage() const;
  // True without an extendedKeyUsage extension, or with emailProtection/anyExtendedKeyUsage in it.
  bool allows_email_protection() const;
  bool can_sign_mail() const;
  bool can_encrypt_mail() const;
  // True if `issuer`'s key verifies this certificate's signature and the names chain.
  bool is_issued_by(const Certificate& issuer) const;

  bool operator==(const Certificate& other) const;

  x509_st* native() const noexcept { return certificate_.get(); }

 private:
  ossl::X509Cert certificate_;
  // What is derived from the certificate and asked for often (its key's
  // fingerprint), computed once and shared by every copy.
  struct Derived;
  std::shared_ptr<Derived> derived_;
};

// A PKCS#7 certs-only structure (RFC 2315 SignedData without signers, the
// .p7c of RFC 8551 section 3.6), DER: how mail clients import a chain.
Bytes certs_only_pkcs7(const std::vector<Certificate>& certificates);

// What a certificate is for; decides its extensions.
enum class CertificateRole {
  ProfileRoot,         // self-signed CA, name-constrained to the profile's addresses
  DeviceSignature,     // a device's signature key, issued by the root
  DeviceKeyAgreement,  // a device's key-agreement key, issued by the root
  MailSigning,         // S/MIME signing certificate for one address
  MailEncryption,      // S/MIME encryption certificate for one address
};

struct CertificateRequest {
  CertificateRole role = CertificateRole::MailSigning;
  std::string common_name{};
  std::vector<EmailAddress> addresses{};            // subjectAltName rfc822Name (and the subject's emailAddress)
  std::vector<EmailAddress> permitted_addresses{};  // ProfileRoot: the name constraints
  TimePoint not_before{};
  TimePoint not_after{};
  Bytes smime_capabilities{};  // DER SMIMECapabilities for the RFC 4262 extension (mail certificates)
};

// Issues a certificate for `subject_key`, signed by `issuer_key`; `issuer`
// is null for a self-signed certificate. SHA-256 signatures.
Certificate issue_certificate(const CertificateRequest& request, const PublicKey& subject_key,
                              const PrivateKey& issuer_key, const Certificate* issuer);

// Validates `leaf` up to one of `anchors` using `intermediates`, for S/MIME
// use at time `at` (PKIX, RFC 5280, OpenSSL's verifier, name constraints
// enforced). Returns an empty string when valid, else the reason.
std::string verify_chain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                         const std::vector<Certificate>& anchors, TimePoint at);

// Orders `pool` into the chain above `leaf` (issuer by issuer, by signature),
// stopping at a self-signed certificate or when no issuer is found.
std::vector<Certificate> build_chain(const Certificate& leaf, const std::vector<Certificate>& pool);

}  // namespace mailseal::crypto
