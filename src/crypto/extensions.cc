#include "crypto/internal/extensions.h"

#include <utility>

#include <fmt/format.h>

#include "mailseal/crypto/keys.h"

namespace mailseal::crypto::internal {

namespace {

constexpr int kSerialBytes = 16;

void add_extension(X509* certificate, int nid, void* value, bool critical) {
  // X509_add1_ext_i2d encodes a copy: `value` stays with its owner.
  ossl::check(X509_add1_ext_i2d(certificate, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE),
              fmt::format("cannot add the {} extension", OBJ_nid2sn(nid)));
}

}  // namespace

void set_random_serial(X509* certificate) {
  Bytes random = random_bytes(kSerialBytes);
  random[0] &= 0x7f;  // positive
  random[0] |= 0x40;  // and exactly 16 bytes long
  ossl::Bignum serial(ossl::check_ptr(BN_bin2bn(random.data(), kSerialBytes, nullptr), "cannot make a serial"));
  ossl::check_ptr(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)), "cannot set a serial");
}

ossl::GeneralName email_name(std::string_view text) {
  ossl::GeneralName name(ossl::check_ptr(GENERAL_NAME_new(), "cannot allocate a name"));
  ossl::Asn1Ia5String value(ossl::check_ptr(ASN1_IA5STRING_new(), "cannot allocate a name"));
  ossl::check(ASN1_STRING_set(value.get(), text.data(), static_cast<int>(text.size())), "cannot set a name");
  GENERAL_NAME_set0_value(name.get(), GEN_EMAIL, value.release());
  return name;
}

void add_extension_text(X509* certificate, X509V3_CTX* context, int nid, const char* value) {
  ossl::X509Extension extension(ossl::check_ptr(X509V3_EXT_conf_nid(nullptr, context, nid, value),
                                                fmt::format("cannot build the {} extension", OBJ_nid2sn(nid))));
  ossl::check(X509_add_ext(certificate, extension.get(), -1), "cannot add an extension");
}

void add_raw_extension(X509* certificate, const ASN1_OBJECT* oid, ByteView value, bool critical) {
  ossl::Asn1OctetString data(ossl::check_ptr(ASN1_OCTET_STRING_new(), "cannot allocate an extension"));
  ossl::check(ASN1_OCTET_STRING_set(data.get(), value.data(), static_cast<int>(value.size())),
              "cannot set an extension");
  ossl::X509Extension extension(ossl::check_ptr(
      X509_EXTENSION_create_by_OBJ(nullptr, oid, critical ? 1 : 0, data.get()), "cannot build an extension"));
  ossl::check(X509_add_ext(certificate, extension.get(), -1), "cannot add an extension");
}

void add_subject_alt_names(X509* certificate, const std::vector<EmailAddress>& addresses) {
  ossl::GeneralNames names(ossl::check_ptr(GENERAL_NAMES_new(), "cannot allocate names"));
  for (const auto& address : addresses) {
    ossl::GeneralName name = email_name(address.str());
    ossl::check(sk_GENERAL_NAME_push(names.get(), name.get()), "cannot add a name");
    name.release();  // the stack holds it now
  }
  add_extension(certificate, NID_subject_alt_name, names.get(), false);
}

void add_email_name_constraints(X509* certificate, const std::vector<std::string>& permitted) {
  ossl::NameConstraints constraints(ossl::check_ptr(NAME_CONSTRAINTS_new(), "cannot allocate name constraints"));
  constraints->permittedSubtrees = ossl::check_ptr(sk_GENERAL_SUBTREE_new_null(), "cannot allocate name constraints");
  for (const auto& rule : permitted) {
    ossl::GeneralSubtree subtree(ossl::check_ptr(GENERAL_SUBTREE_new(), "cannot allocate a subtree"));
    // GENERAL_SUBTREE_new allocates an empty base; the previous one goes with its owner.
    ossl::GeneralName previous_base(std::exchange(subtree->base, email_name(rule).release()));
    ossl::check(sk_GENERAL_SUBTREE_push(constraints->permittedSubtrees, subtree.get()), "cannot add a subtree");
    subtree.release();  // the stack holds it now
  }
  add_extension(certificate, NID_name_constraints, constraints.get(), false);
}

}  // namespace mailseal::crypto::internal
