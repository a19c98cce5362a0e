#include "mailseal/crypto/endorsement.h"

#include <openssl/pem.h>

#include <fmt/format.h>

#include "common/openssl.h"
#include "crypto/internal/asn1_time.h"
#include "crypto/internal/extensions.h"
#include "mailseal/common/error.h"

namespace mailseal::crypto {

namespace {

using Asn1ObjectPtr = ossl::Asn1Object;

// DER of EndorsementInfo ::= SEQUENCE { kind INTEGER (0 endorsement, 1 rotation),
// amount INTEGER, depth INTEGER, exportable BOOLEAN }.
void append_integer(Bytes& out, int value) {
  std::uint8_t high = static_cast<std::uint8_t>((value >> 8) & 0xff);
  std::uint8_t low = static_cast<std::uint8_t>(value & 0xff);
  if (value < 0x80) {
    out.insert(out.end(), {0x02, 0x01, low});
  } else if (value < 0x8000) {
    out.insert(out.end(), {0x02, 0x02, high, low});
  } else {
    throw Error(ErrorCode::Usage, "endorsement value out of range");
  }
}

Bytes encode_terms(const EndorsementTerms& terms) {
  Bytes body;
  append_integer(body, terms.kind == EndorsementTerms::Kind::Rotation ? 1 : 0);
  append_integer(body, terms.amount);
  append_integer(body, terms.depth);
  body.insert(body.end(), {0x01, 0x01, static_cast<std::uint8_t>(terms.exportable ? 0xff : 0x00)});
  Bytes out = {0x30, static_cast<std::uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Strict reader for the small structure above.
class DerReader {
 public:
  explicit DerReader(ByteView data) : data_(data) {}
  ByteView element(std::uint8_t tag) {
    if (position_ + 2 > data_.size() || data_[position_] != tag || data_[position_ + 1] >= 0x80)
      fail();
    std::size_t length = data_[position_ + 1];
    if (position_ + 2 + length > data_.size())
      fail();
    ByteView content = data_.subspan(position_ + 2, length);
    position_ += 2 + length;
    return content;
  }
  int integer() {
    ByteView content = element(0x02);
    if (content.empty() || content.size() > 2 || (content[0] & 0x80) != 0)
      fail();
    int value = 0;
    for (std::uint8_t byte : content)
      value = value << 8 | byte;
    return value;
  }
  bool boolean() {
    ByteView content = element(0x01);
    if (content.size() != 1)
      fail();
    return content[0] != 0;
  }
  bool at_end() const { return position_ == data_.size(); }
  [[noreturn]] static void fail() { throw Error(ErrorCode::Malformed, "damaged mailseal endorsement extension"); }

 private:
  ByteView data_;
  std::size_t position_ = 0;
};

int endorsement_nid() {
  static const int nid = [] {
    int existing = OBJ_txt2nid(kEndorsementExtensionOid);
    if (existing != NID_undef)
      return existing;
    return OBJ_create(kEndorsementExtensionOid, "mailsealEndorsement", "mailseal endorsement");
  }();
  return nid;
}

}  // namespace

Certificate issue_endorsement(const Certificate& subject, const PrivateKey& issuer_key, const Certificate& issuer,
                              const EndorsementTerms& terms, TimePoint not_before, TimePoint not_after) {
  if (terms.amount < 1 || terms.amount > 120) {
    throw Error(ErrorCode::Usage, fmt::format("an endorsement's amount is 1 to 120, not {}", terms.amount));
  }
  if (terms.depth < 0 || terms.depth > 255) {
    throw Error(ErrorCode::Usage, fmt::format("an endorsement's depth is 0 to 255, not {}", terms.depth));
  }
  ossl::X509Cert certificate(ossl::check_ptr(X509_new(), "cannot allocate a certificate"));
  X509* cert = certificate.get();
  ossl::check(X509_set_version(cert, X509_VERSION_3), "cannot set the version");
  internal::set_random_serial(cert);
  ossl::check_ptr(ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(not_before.time_since_epoch().count())),
                  "cannot set the validity");
  ossl::check_ptr(ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(not_after.time_since_epoch().count())),
                  "cannot set the validity");
  // The same subject and key as the endorsed certificate: a cross-certificate.
  ossl::check(X509_set_subject_name(cert, X509_get_subject_name(subject.native())), "cannot set the subject");
  ossl::check(X509_set_issuer_name(cert, X509_get_subject_name(issuer.native())), "cannot set the issuer");
  ossl::check(X509_set_pubkey(cert, X509_get0_pubkey(subject.native())), "cannot set the key");
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer.native(), cert, nullptr, nullptr, 0);
  const bool introducer = subject.is_ca();
  internal::add_extension_text(cert, &context, NID_basic_constraints,
                               introducer ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (introducer) {
    internal::add_extension_text(cert, &context, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  }
  internal::add_extension_text(cert, &context, NID_subject_key_identifier, "hash");
  internal::add_extension_text(cert, &context, NID_authority_key_identifier, "keyid:always");
  if (!terms.addresses.empty()) {
    internal::add_subject_alt_names(cert, terms.addresses);
  }
  if (!terms.scope.empty() && introducer) {
    // Non-critical, as on profile roots (crypto/internal/extensions.h says why).
    internal::add_email_name_constraints(cert, terms.scope);
  }
  internal::add_raw_extension(cert, OBJ_nid2obj(endorsement_nid()), encode_terms(terms), false);
  if (X509_sign(cert, issuer_key.native(), EVP_sha256()) <= 0) {
    ossl::fail("cannot sign the endorsement");
  }
  return Certificate(std::move(certificate));
}

std::optional<EndorsementTerms> read_endorsement(const Certificate& certificate) {
  int index = X509_get_ext_by_NID(certificate.native(), endorsement_nid(), -1);
  if (index < 0)
    return std::nullopt;
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(certificate.native(), index));
  ByteView der(ASN1_STRING_get0_data(value), static_cast<std::size_t>(ASN1_STRING_length(value)));
  DerReader outer(der);
  ByteView body = outer.element(0x30);
  if (!outer.at_end())
    DerReader::fail();
  DerReader reader(body);
  EndorsementTerms terms;
  int kind = reader.integer();
  if (kind != 0 && kind != 1)
    DerReader::fail();
  terms.kind = kind == 1 ? EndorsementTerms::Kind::Rotation : EndorsementTerms::Kind::Endorsement;
  terms.amount = reader.integer();
  terms.depth = reader.integer();
  terms.exportable = reader.boolean();
  if (!reader.at_end())
    DerReader::fail();
  terms.scope = permitted_email_constraints(certificate);
  terms.addresses = certificate.email_addresses();
  return terms;
}

bool is_endorsement(const Certificate& certificate) {
  return X509_get_ext_by_NID(certificate.native(), endorsement_nid(), -1) >= 0;
}

std::vector<std::string> permitted_email_constraints(const Certificate& certificate) {
  std::vector<std::string> out;
  ossl::NameConstraints constraints(
      static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(certificate.native(), NID_name_constraints, nullptr, nullptr)));
  ossl::take_errors();
  if (!constraints || constraints->permittedSubtrees == nullptr)
    return out;
  for (int i = 0; i < sk_GENERAL_SUBTREE_num(constraints->permittedSubtrees); ++i) {
    const GENERAL_SUBTREE* subtree = sk_GENERAL_SUBTREE_value(constraints->permittedSubtrees, i);
    if (subtree->base != nullptr && subtree->base->type == GEN_EMAIL) {
      const ASN1_IA5STRING* text = subtree->base->d.rfc822Name;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                       static_cast<std::size_t>(ASN1_STRING_length(text)));
    }
  }
  return out;
}

struct RevocationList::Impl {
  ossl::X509Crl crl;
};

RevocationList::RevocationList(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RevocationList::~RevocationList() = default;
RevocationList::RevocationList(RevocationList&&) noexcept = default;
RevocationList& RevocationList::operator=(RevocationList&&) noexcept = default;

RevocationList RevocationList::read(ByteView data) {
  auto impl = std::make_unique<Impl>();
  std::string_view text = as_string_view(data);
  if (text.find("-----BEGIN X509 CRL-----") != std::string_view::npos) {
    auto bio = ossl::memory_reader(data.data(), data.size());
    impl->crl.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* cursor = data.data();
    impl->crl.reset(d2i_X509_CRL(nullptr, &cursor, static_cast<long>(data.size())));
    if (impl->crl && cursor != data.data() + data.size())
      impl->crl.reset();
  }
  if (!impl->crl) {
    ossl::take_errors();
    throw Error(ErrorCode::Malformed, "not a certificate revocation list");
  }
  return RevocationList(std::move(impl));
}

bool RevocationList::is_issued_by(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_CRL_get_issuer(impl_->crl.get()), X509_get_subject_name(issuer.native())) != 0)
    return false;
  EVP_PKEY* key = X509_get0_pubkey(issuer.native());
  bool verified = key != nullptr && X509_CRL_verify(impl_->crl.get(), key) == 1;
  ossl::take_errors();
  return verified;
}

std::string RevocationList::issuer() const {
  char name[256];
  X509_NAME_oneline(X509_CRL_get_issuer(impl_->crl.get()), name, sizeof name);
  return name;
}

TimePoint RevocationList::last_update() const {
  return internal::to_time_point(X509_CRL_get0_lastUpdate(impl_->crl.get()));
}

std::vector<std::string> RevocationList::revoked_serials() const {
  std::vector<std::string> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(impl_->crl.get());
  for (int i = 0; revoked != nullptr && i < sk_X509_REVOKED_num(revoked); ++i) {
    const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i));
    ossl::Bignum number(ASN1_INTEGER_to_BN(serial, nullptr));
    if (!number)
      continue;
    ossl::OpensslString hex(BN_bn2hex(number.get()));
    if (hex)
      out.emplace_back(hex.get());
  }
  ossl::take_errors();
  return out;
}

Bytes RevocationList::der() const {
  unsigned char* out = nullptr;
  int length = i2d_X509_CRL(impl_->crl.get(), &out);
  ossl::check(length, "cannot encode a CRL");
  ossl::OpensslBytes owned(out);
  return Bytes(out, out + length);
}

std::string RevocationList::pem() const {
  auto bio = ossl::memory_writer();
  ossl::check(PEM_write_bio_X509_CRL(bio.get(), impl_->crl.get()), "cannot encode a CRL");
  return std::string(ossl::memory_contents(bio.get()));
}

RevocationList issue_revocation_list(const PrivateKey& issuer_key, const Certificate& issuer,
                                     const std::vector<std::string>& serials, TimePoint now) {
  auto impl = std::make_unique<RevocationList::Impl>();
  impl->crl.reset(ossl::check_ptr(X509_CRL_new(), "cannot allocate a CRL"));
  X509_CRL* crl = impl->crl.get();
  ossl::check(X509_CRL_set_version(crl, X509_CRL_VERSION_2), "cannot set the CRL version");
  ossl::check(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.native())), "cannot set the CRL issuer");
  ossl::Asn1Time when(ossl::check_ptr(ASN1_TIME_set(nullptr, static_cast<time_t>(now.time_since_epoch().count())),
                                      "cannot set a time"));
  ossl::check(X509_CRL_set1_lastUpdate(crl, when.get()), "cannot set the CRL time");
  for (const auto& hex : serials) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, hex.c_str()) == 0) {
      throw Error(ErrorCode::Usage, fmt::format("'{}' is not a hexadecimal serial number", hex));
    }
    ossl::Bignum number(raw);
    ossl::Asn1Integer serial(ossl::check_ptr(BN_to_ASN1_INTEGER(number.get(), nullptr), "cannot set a serial"));
    ossl::X509Revoked entry(ossl::check_ptr(X509_REVOKED_new(), "cannot allocate a CRL entry"));
    ossl::check(X509_REVOKED_set_serialNumber(entry.get(), serial.get()), "cannot set a CRL entry");
    ossl::check(X509_REVOKED_set_revocationDate(entry.get(), when.get()), "cannot set a CRL entry");
    ossl::check(X509_CRL_add0_revoked(crl, entry.get()), "cannot add a CRL entry");
    entry.release();
  }
  ossl::check(X509_CRL_sort(crl), "cannot sort the CRL");
  if (X509_CRL_sign(crl, issuer_key.native(), EVP_sha256()) <= 0) {
    ossl::fail("cannot sign the CRL");
  }
  return RevocationList(std::move(impl));
}

}  // namespace mailseal::crypto
