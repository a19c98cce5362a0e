// Issuing certificates with the extensions S/MIME needs (RFC 8550 section 4.4,
// RFC 5280 section 4.2).

#include <fmt/format.h>

#include "common/openssl.h"
#include "crypto/internal/extensions.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/certificate.h"

namespace mailseal::crypto {

namespace {

using internal::add_extension_text;

void set_subject(X509* certificate, const CertificateRequest& request) {
  ossl::X509Name name(ossl::check_ptr(X509_NAME_new(), "cannot allocate a name"));
  std::string common_name =
      request.common_name.empty() && !request.addresses.empty() ? request.addresses.front().str() : request.common_name;
  if (!common_name.empty()) {
    ossl::check(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                           reinterpret_cast<const unsigned char*>(common_name.data()),
                                           static_cast<int>(common_name.size()), -1, 0),
                "cannot set the common name (is it longer than 64 characters?)", ErrorCode::Usage);
  }
  if (request.role == CertificateRole::DeviceSignature || request.role == CertificateRole::DeviceKeyAgreement) {
    static constexpr std::string_view kDeviceUnit = "mailseal device";
    ossl::check(X509_NAME_add_entry_by_NID(name.get(), NID_organizationalUnitName, MBSTRING_UTF8,
                                           reinterpret_cast<const unsigned char*>(kDeviceUnit.data()),
                                           static_cast<int>(kDeviceUnit.size()), -1, 0),
                "cannot set the subject name");
  }
  // Older clients look for the address in the subject (RFC 8550 section 3).
  if ((request.role == CertificateRole::MailSigning || request.role == CertificateRole::MailEncryption) &&
      !request.addresses.empty()) {
    const std::string& address = request.addresses.front().str();
    ossl::check(X509_NAME_add_entry_by_NID(name.get(), NID_pkcs9_emailAddress, MBSTRING_ASC,
                                           reinterpret_cast<const unsigned char*>(address.data()),
                                           static_cast<int>(address.size()), -1, 0),
                "cannot set the subject address");
  }
  ossl::check(X509_set_subject_name(certificate, name.get()), "cannot set the subject name");
}

void set_validity(X509* certificate, const CertificateRequest& request) {
  if (request.not_after <= request.not_before) {
    throw Error(ErrorCode::Usage, "a certificate must end after it begins");
  }
  ossl::check_ptr(ASN1_TIME_set(X509_getm_notBefore(certificate),
                                static_cast<time_t>(request.not_before.time_since_epoch().count())),
                  "cannot set the validity");
  ossl::check_ptr(
      ASN1_TIME_set(X509_getm_notAfter(certificate), static_cast<time_t>(request.not_after.time_since_epoch().count())),
      "cannot set the validity");
}

const char* key_usage_for(CertificateRole role, KeyFamily family) {
  switch (role) {
    // digitalSignature lets the root also sign statements (rotations,
    // revocations) as CMS messages that peers can check.
    case CertificateRole::ProfileRoot:
      return "critical,keyCertSign,cRLSign,digitalSignature";
    case CertificateRole::DeviceSignature:
      return "critical,digitalSignature";
    case CertificateRole::DeviceKeyAgreement:
      return family == KeyFamily::Rsa ? "critical,keyEncipherment" : "critical,keyAgreement";
    case CertificateRole::MailSigning:
      return "critical,digitalSignature,nonRepudiation";
    case CertificateRole::MailEncryption:
      return family == KeyFamily::Rsa ? "critical,keyEncipherment" : "critical,keyAgreement";
  }
  return "critical,digitalSignature";
}

}  // namespace

Certificate issue_certificate(const CertificateRequest& request, const PublicKey& subject_key,
                              const PrivateKey& issuer_key, const Certificate* issuer) {
  bool self_signed = issuer == nullptr;
  if (self_signed && !(subject_key == issuer_key.public_key())) {
    throw Error(ErrorCode::Usage, "a self-signed certificate must be signed by its own key");
  }
  if (request.role == CertificateRole::ProfileRoot && request.permitted_addresses.empty()) {
    throw Error(ErrorCode::Usage, "a profile root needs at least one address");
  }
  ossl::X509Cert certificate(ossl::check_ptr(X509_new(), "cannot allocate a certificate"));
  X509* cert = certificate.get();
  ossl::check(X509_set_version(cert, X509_VERSION_3), "cannot set the version");
  internal::set_random_serial(cert);
  set_validity(cert, request);
  set_subject(cert, request);
  ossl::check(
      X509_set_issuer_name(cert, self_signed ? X509_get_subject_name(cert) : X509_get_subject_name(issuer->native())),
      "cannot set the issuer");
  ossl::check(X509_set_pubkey(cert, subject_key.native()), "cannot set the public key");

  X509V3_CTX context;
  X509V3_set_ctx(&context, self_signed ? cert : issuer->native(), cert, nullptr, nullptr, 0);
  bool is_ca = request.role == CertificateRole::ProfileRoot;
  // pathlen 0: the root certifies only end entities, so a client trusting it
  // does not inherit the profiles it endorses (DESIGN.md section 2).
  add_extension_text(cert, &context, NID_basic_constraints, is_ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE");
  add_extension_text(cert, &context, NID_key_usage, key_usage_for(request.role, subject_key.family()));
  if (request.role == CertificateRole::MailSigning || request.role == CertificateRole::MailEncryption) {
    add_extension_text(cert, &context, NID_ext_key_usage, "emailProtection");
  }
  add_extension_text(cert, &context, NID_subject_key_identifier, "hash");
  if (!self_signed) {
    add_extension_text(cert, &context, NID_authority_key_identifier, "keyid:always");
  }
  if (!request.addresses.empty()) {
    internal::add_subject_alt_names(cert, request.addresses);
  }
  if (is_ca) {
    std::vector<std::string> permitted;
    for (const auto& address : request.permitted_addresses) {
      permitted.push_back(address.str());
    }
    // Limited to the profile's own mailboxes (DESIGN.md section 2).
    internal::add_email_name_constraints(cert, permitted);
  }
  if (!request.smime_capabilities.empty()) {
    // RFC 4262: what the holder decrypts, so senders can pick AES-GCM before
    // they ever saw a signature from this key.
    internal::add_raw_extension(cert, OBJ_nid2obj(NID_SMIMECapabilities), request.smime_capabilities, false);
  }
  if (X509_sign(cert, issuer_key.native(), EVP_sha256()) <= 0) {
    ossl::fail("cannot sign the certificate");
  }
  return Certificate(std::move(certificate));
}

}  // namespace mailseal::crypto
