#include "mailseal/crypto/certificate.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "common/openssl.h"
#include "crypto/internal/asn1_time.h"
#include "crypto/internal/issuance_memo.h"
#include "mailseal/common/error.h"

namespace mailseal::crypto {

namespace internal {

TimePoint to_time_point(const ASN1_TIME* time) {
  // ASN1_TIME_to_tm reads a null time as now.
  if (time == nullptr)
    throw Error(ErrorCode::Malformed, "an ASN.1 time (a certificate's validity, a CRL's date) is missing");
  struct tm broken_down {};
  if (ASN1_TIME_to_tm(time, &broken_down) != 1) {
    ossl::fail("an unreadable ASN.1 time (a certificate's validity, a CRL's date)", ErrorCode::Malformed);
  }
  return TimePoint(std::chrono::seconds(timegm(&broken_down)));
}

}  // namespace internal

using internal::to_time_point;

namespace {

constexpr std::string_view kPemCertificate = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kPemPkcs7 = "-----BEGIN PKCS7-----";
constexpr std::size_t kMaxCertificates = 1000;

std::string name_to_string(const X509_NAME* name) {
  auto bio = ossl::memory_writer();
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ossl::take_errors();
    return "(unreadable name)";
  }
  return std::string(ossl::memory_contents(bio.get()));
}

std::vector<Certificate> certificates_of_pkcs7(PKCS7* pkcs7) {
  std::vector<Certificate> out;
  STACK_OF(X509)* certificates = nullptr;
  int type = OBJ_obj2nid(pkcs7->type);
  if (type == NID_pkcs7_signed && pkcs7->d.sign != nullptr) {
    certificates = pkcs7->d.sign->cert;
  } else if (type == NID_pkcs7_signedAndEnveloped && pkcs7->d.signed_and_enveloped != nullptr) {
    certificates = pkcs7->d.signed_and_enveloped->cert;
  }
  for (int i = 0; certificates != nullptr && i < sk_X509_num(certificates); ++i) {
    out.emplace_back(ossl::add_reference(sk_X509_value(certificates, i)));
  }
  return out;
}

// The names chain (X509_check_issued: names, key identifiers, the issuer's
// key usage) and `issuer`'s key verifies the signature. Depends on nothing
// but the two certificates' DER, which is what lets its successes be
// remembered by their digests.
bool verify_issued_by(X509* subject, X509* issuer) {
  if (X509_check_issued(issuer, subject) != X509_V_OK) {
    return false;
  }
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);
  bool verified = issuer_key != nullptr && X509_verify(subject, issuer_key) == 1;
  ossl::take_errors();
  return verified;
}

std::optional<internal::DerDigest> digest_of_der(const X509* certificate) {
  internal::DerDigest digest{};
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest.data(), &length) != 1 || length != digest.size()) {
    ossl::take_errors();
    return std::nullopt;
  }
  return digest;
}

}  // namespace

struct Certificate::Derived {
  std::once_flag key_fingerprint_once;
  std::optional<udf::Fingerprint> key_fingerprint;
  std::once_flag der_digest_once;
  // Empty when the certificate cannot be encoded (out of memory): it is then
  // verified every time, never looked up.
  std::optional<internal::DerDigest> der_digest;

  const std::optional<internal::DerDigest>& der_digest_of(const X509* certificate) {
    std::call_once(der_digest_once, [&] { der_digest = digest_of_der(certificate); });
    return der_digest;
  }
};

Certificate::Certificate(ossl::X509Cert certificate)
    : certificate_(std::move(certificate)), derived_(std::make_shared<Derived>()) {}

Certificate::Certificate(const Certificate& other)
    : certificate_(ossl::add_reference(other.certificate_.get())), derived_(other.derived_) {}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    Certificate copy(other);
    certificate_ = std::move(copy.certificate_);
    derived_ = std::move(copy.derived_);
  }
  return *this;
}

Certificate::~Certificate() = default;

namespace {

// Decoding a certificate is slow in OpenSSL 3.0 (its public key goes
// through the decoder framework, under process-wide locks: a third of the
// gateway's time per message), and the same few certificates are read again
// and again (chains, renewal checks, trust evaluation). Decoded ones are
// kept by their DER and handed out as copies, which share the X509 as every
// copy of a Certificate does. Bounded: once full it starts over.
class DecodedCertificates {
 public:
  static constexpr std::size_t kCapacity = 2048;

  std::optional<Certificate> find(ByteView der) {
    std::lock_guard guard(lock_);
    auto found = by_der_.find(std::string(as_string_view(der)));
    if (found == by_der_.end())
      return std::nullopt;
    return found->second;
  }

  void keep(ByteView der, const Certificate& certificate) {
    std::lock_guard guard(lock_);
    if (by_der_.size() >= kCapacity)
      by_der_.clear();
    by_der_.emplace(std::string(as_string_view(der)), certificate);
  }

 private:
  std::mutex lock_;
  std::unordered_map<std::string, Certificate> by_der_;
};

DecodedCertificates& decoded_certificates() {
  static DecodedCertificates decoded;
  return decoded;
}

}  // namespace

namespace {

// Moves `cursor` past the header of the DER element there, which must be
// `tag` (universal class; constructed when a SEQUENCE) and lie within `end`;
// returns its content's length.
long enter(const unsigned char*& cursor, const unsigned char* end, int tag) {
  long length = 0;
  int found_tag = 0;
  int found_class = 0;
  const int flags = ASN1_get_object(&cursor, &length, &found_tag, &found_class, end - cursor);
  const bool constructed = tag == V_ASN1_SEQUENCE;
  // 0x80: an error; 0x21: an indefinite length, which DER does not have.
  if ((flags & 0x80) != 0 || flags == 0x21 || found_class != V_ASN1_UNIVERSAL || found_tag != tag ||
      ((flags & V_ASN1_CONSTRUCTED) != 0) != constructed || length > end - cursor)
    throw Error(ErrorCode::Malformed, "not a DER certificate: damaged before its validity");
  return length;
}

void skip(const unsigned char*& cursor, const unsigned char* end, int tag) {
  cursor += enter(cursor, end, tag);
}

// Enters a SEQUENCE: returns where its content ends.
const unsigned char* enter_sequence(const unsigned char*& cursor, const unsigned char* end) {
  const long length = enter(cursor, end, V_ASN1_SEQUENCE);
  return cursor + length;
}

TimePoint read_time(const unsigned char*& cursor, const unsigned char* end) {
  ossl::Asn1Time time(d2i_ASN1_TIME(nullptr, &cursor, end - cursor));
  if (!time || ASN1_TIME_check(time.get()) != 1)
    throw Error(ErrorCode::Malformed, "not a DER certificate: its validity is not a time");
  return to_time_point(time.get());
}

}  // namespace

Validity read_validity(ByteView der) {
  const unsigned char* cursor = der.data();
  const unsigned char* end = cursor + der.size();
  end = enter_sequence(cursor, end);                // Certificate
  end = enter_sequence(cursor, end);                // TBSCertificate
  constexpr unsigned char kExplicitVersion = 0xA0;  // [0] EXPLICIT, optional
  if (cursor < end && *cursor == kExplicitVersion) {
    long length = 0;
    int tag = 0;
    int tag_class = 0;
    const int flags = ASN1_get_object(&cursor, &length, &tag, &tag_class, end - cursor);
    if ((flags & 0x80) != 0 || flags == 0x21 || length > end - cursor)
      throw Error(ErrorCode::Malformed, "not a DER certificate: damaged before its validity");
    cursor += length;
  }
  skip(cursor, end, V_ASN1_INTEGER);   // serialNumber
  skip(cursor, end, V_ASN1_SEQUENCE);  // signature
  skip(cursor, end, V_ASN1_SEQUENCE);  // issuer
  const unsigned char* validity_end = enter_sequence(cursor, end);
  Validity out;
  out.not_before = read_time(cursor, validity_end);
  out.not_after = read_time(cursor, validity_end);
  if (cursor != validity_end)
    throw Error(ErrorCode::Malformed, "not a DER certificate: its validity has more than two times");
  return out;
}

Certificate Certificate::from_der(ByteView der) {
  if (std::optional<Certificate> known = decoded_certificates().find(der))
    return std::move(*known);
  const unsigned char* cursor = der.data();
  ossl::X509Cert certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!certificate || cursor != der.data() + der.size()) {
    ossl::fail("not a DER certificate", ErrorCode::Malformed);
  }
  Certificate decoded(std::move(certificate));
  decoded_certificates().keep(der, decoded);
  return decoded;
}

Certificate Certificate::from_pem(std::string_view pem) {
  auto bio = ossl::memory_reader(pem.data(), pem.size());
  ossl::X509Cert certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!certificate) {
    ossl::fail("not a PEM certificate", ErrorCode::Malformed);
  }
  return Certificate(std::move(certificate));
}

std::vector<Certificate> Certificate::read_all(ByteView data) {
  std::string_view text = as_string_view(data);
  std::vector<Certificate> out;
  if (text.find(kPemCertificate) != std::string_view::npos) {
    auto bio = ossl::memory_reader(data.data(), data.size());
    while (out.size() < kMaxCertificates) {
      ossl::X509Cert certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (!certificate) {
        break;
      }
      out.emplace_back(std::move(certificate));
    }
    ossl::take_errors();  // the end of the PEM stream reports "no start line"
  } else if (text.find(kPemPkcs7) != std::string_view::npos) {
    auto bio = ossl::memory_reader(data.data(), data.size());
    ossl::Pkcs7 pkcs7(PEM_read_bio_PKCS7(bio.get(), nullptr, nullptr, nullptr));
    if (!pkcs7) {
      ossl::fail("damaged PEM PKCS#7 certificate bundle", ErrorCode::Malformed);
    }
    out = certificates_of_pkcs7(pkcs7.get());
  } else {
    // DER: a certificate, or a PKCS#7 certs-only structure.
    const unsigned char* cursor = data.data();
    ossl::X509Cert certificate(d2i_X509(nullptr, &cursor, static_cast<long>(data.size())));
    if (certificate && cursor == data.data() + data.size()) {
      out.emplace_back(std::move(certificate));
    } else {
      ossl::take_errors();
      cursor = data.data();
      ossl::Pkcs7 pkcs7(d2i_PKCS7(nullptr, &cursor, static_cast<long>(data.size())));
      if (pkcs7 && cursor == data.data() + data.size()) {
        out = certificates_of_pkcs7(pkcs7.get());
      }
      ossl::take_errors();
    }
  }
  if (out.empty()) {
    throw Error(ErrorCode::Malformed, "no certificate found (expected PEM, DER or a PKCS#7 .p7c bundle)");
  }
  return out;
}

Bytes Certificate::der() const {
  unsigned char* out = nullptr;
  int length = i2d_X509(certificate_.get(), &out);
  ossl::check(length, "cannot encode a certificate");
  ossl::OpensslBytes owned(out);
  return Bytes(out, out + length);
}

Bytes certs_only_pkcs7(const std::vector<Certificate>& certificates) {
  ossl::Pkcs7 pkcs7(PKCS7_new());
  if (!pkcs7)
    ossl::fail("cannot make a PKCS#7 structure");
  ossl::check(PKCS7_set_type(pkcs7.get(), NID_pkcs7_signed), "cannot make a PKCS#7 structure");
  ossl::check(PKCS7_content_new(pkcs7.get(), NID_pkcs7_data), "cannot make a PKCS#7 structure");
  for (const auto& certificate : certificates)
    ossl::check(PKCS7_add_certificate(pkcs7.get(), certificate.native()), "cannot add a certificate to PKCS#7");
  unsigned char* out = nullptr;
  int length = i2d_PKCS7(pkcs7.get(), &out);
  ossl::check(length, "cannot encode a PKCS#7 structure");
  ossl::OpensslBytes owned(out);
  return Bytes(out, out + length);
}

std::string Certificate::pem() const {
  auto bio = ossl::memory_writer();
  ossl::check(PEM_write_bio_X509(bio.get(), certificate_.get()), "cannot encode a certificate");
  return std::string(ossl::memory_contents(bio.get()));
}

std::string Certificate::subject() const {
  return name_to_string(X509_get_subject_name(certificate_.get()));
}

std::string Certificate::issuer() const {
  return name_to_string(X509_get_issuer_name(certificate_.get()));
}

std::string Certificate::common_name() const {
  const X509_NAME* name = X509_get_subject_name(certificate_.get());
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return {};
  }
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) {
    ossl::take_errors();
    return {};
  }
  ossl::OpensslBytes owned(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
}

std::string Certificate::serial_hex() const {
  ossl::Bignum serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate_.get()), nullptr));
  if (!serial) {
    ossl::fail("certificate has an unreadable serial number", ErrorCode::Malformed);
  }
  ossl::OpensslString hex(ossl::check_ptr(BN_bn2hex(serial.get()), "cannot format a serial number"));
  return std::string(hex.get());
}

Bytes Certificate::serial_der_content() const {
  // The INTEGER's content octets: the DER minus its tag and length.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(certificate_.get());
  int length = i2d_ASN1_INTEGER(serial, nullptr);
  ossl::check(length, "cannot encode a serial number");
  Bytes der(static_cast<std::size_t>(length));
  unsigned char* cursor = der.data();
  ossl::check(i2d_ASN1_INTEGER(serial, &cursor), "cannot encode a serial number");
  std::size_t header = 2;
  if (der.size() > 1 && (der[1] & 0x80) != 0)
    header += der[1] & 0x7f;
  if (header > der.size())
    throw Error(ErrorCode::Malformed, "the certificate's serial number does not encode");
  return Bytes(der.begin() + static_cast<std::ptrdiff_t>(header), der.end());
}

Bytes Certificate::issuer_name_der() const {
  const X509_NAME* issuer = X509_get_issuer_name(certificate_.get());
  int length = i2d_X509_NAME(issuer, nullptr);
  ossl::check(length, "cannot encode the issuer name");
  Bytes der(static_cast<std::size_t>(length));
  unsigned char* cursor = der.data();
  ossl::check(i2d_X509_NAME(issuer, &cursor), "cannot encode the issuer name");
  return der;
}

TimePoint Certificate::not_before() const {
  return to_time_point(X509_get0_notBefore(certificate_.get()));
}

TimePoint Certificate::not_after() const {
  return to_time_point(X509_get0_notAfter(certificate_.get()));
}

std::vector<EmailAddress> Certificate::email_addresses() const {
  std::vector<EmailAddress> out;
  auto add = [&](std::string_view text) {
    if (!EmailAddress::is_valid(text)) {
      return;
    }
    EmailAddress address = EmailAddress::parse(text);
    if (std::find(out.begin(), out.end(), address) == out.end()) {
      out.push_back(std::move(address));
    }
  };
  ossl::GeneralNames names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate_.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_EMAIL) {
      const ASN1_IA5STRING* email = name->d.rfc822Name;
      add(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(email)),
                           static_cast<std::size_t>(ASN1_STRING_length(email))));
    }
  }
  const X509_NAME* subject = X509_get_subject_name(certificate_.get());
  for (int index = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, -1); index >= 0;
       index = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, index)) {
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    add(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                         static_cast<std::size_t>(ASN1_STRING_length(value))));
  }
  ossl::take_errors();
  return out;
}

bool Certificate::names_address(const EmailAddress& address) const {
  auto addresses = email_addresses();
  return std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

PublicKey Certificate::public_key() const {
  ossl::Pkey key(X509_get_pubkey(certificate_.get()));
  if (!key) {
    ossl::fail("certificate has an unsupported public key", ErrorCode::Unsupported);
  }
  return PublicKey(std::move(key));
}

udf::Fingerprint Certificate::fingerprint() const {
  return udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, udf::content_type::kPkixCert, der());
}

udf::Fingerprint Certificate::key_fingerprint() const {
  // Encoding the key is slow in OpenSSL 3.0 (the encoder framework), and
  // trust evaluation asks for the same certificates' fingerprints often.
  std::call_once(derived_->key_fingerprint_once, [this] { derived_->key_fingerprint = public_key().fingerprint(); });
  return *derived_->key_fingerprint;
}

std::optional<Bytes> Certificate::smime_capabilities() const {
  int index = X509_get_ext_by_NID(certificate_.get(), NID_SMIMECapabilities, -1);
  if (index < 0)
    return std::nullopt;
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(certificate_.get(), index));
  if (value == nullptr)
    return std::nullopt;
  const auto* data = ASN1_STRING_get0_data(value);
  return Bytes(data, data + ASN1_STRING_length(value));
}

bool Certificate::is_ca() const {
  return X509_check_ca(certificate_.get()) > 0;
}

bool Certificate::is_self_issued() const {
  return X509_NAME_cmp(X509_get_subject_name(certificate_.get()), X509_get_issuer_name(certificate_.get())) == 0;
}

KeyUsage Certificate::key_usage() const {
  KeyUsage usage;
  std::uint32_t bits = X509_get_key_usage(certificate_.get());
  usage.present = (X509_get_extension_flags(certificate_.get()) & EXFLAG_KUSAGE) != 0;
  usage.digital_signature = (bits & KU_DIGITAL_SIGNATURE) != 0;
  usage.non_repudiation = (bits & KU_NON_REPUDIATION) != 0;
  usage.key_encipherment = (bits & KU_KEY_ENCIPHERMENT) != 0;
  usage.key_agreement = (bits & KU_KEY_AGREEMENT) != 0;
  usage.key_cert_sign = (bits & KU_KEY_CERT_SIGN) != 0;
  return usage;
}

bool Certificate::allows_email_protection() const {
  if ((X509_get_extension_flags(certificate_.get()) & EXFLAG_XKUSAGE) == 0) {
    return true;
  }
  return (X509_get_extended_key_usage(certificate_.get()) & (XKU_SMIME | XKU_ANYEKU)) != 0;
}

bool Certificate::can_sign_mail() const {
  KeyUsage usage = key_usage();
  return allows_email_protection() && (!usage.present || usage.digital_signature || usage.non_repudiation);
}

bool Certificate::can_encrypt_mail() const {
  KeyUsage usage = key_usage();
  if (!allows_email_protection()) {
    return false;
  }
  if (!usage.present) {
    return true;
  }
  return public_key().family() == KeyFamily::Rsa ? usage.key_encipherment : usage.key_agreement;
}

bool Certificate::is_issued_by(const Certificate& issuer) const {
  const auto& subject_digest = derived_->der_digest_of(certificate_.get());
  const auto& issuer_digest = issuer.derived_->der_digest_of(issuer.native());
  if (!subject_digest || !issuer_digest) {
    return verify_issued_by(certificate_.get(), issuer.native());
  }
  const internal::Issuance issuance{*subject_digest, *issuer_digest};
  auto& memo = internal::verified_issuances();
  if (memo.contains(issuance)) {
    return true;
  }
  if (!verify_issued_by(certificate_.get(), issuer.native())) {
    return false;
  }
  memo.remember(issuance);
  return true;
}

bool Certificate::operator==(const Certificate& other) const {
  return X509_cmp(certificate_.get(), other.certificate_.get()) == 0;
}

}  // namespace mailseal::crypto
