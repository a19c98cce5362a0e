#include "mailseal/contacts/contacts.h"

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/error.h"

namespace mailseal::contacts {

namespace {

smime::Capabilities capabilities_of(const crypto::Certificate& certificate) {
  auto extension = certificate.smime_capabilities();
  return extension ? smime::Capabilities::from_der(*extension) : smime::Capabilities{};
}

bool is_mail_certificate(const crypto::Certificate& certificate) {
  return !certificate.is_ca() && !certificate.email_addresses().empty() &&
         (certificate.can_sign_mail() || certificate.can_encrypt_mail());
}

std::vector<ImportedContact> store_certificate(store::LocalStore& store, const crypto::Certificate& certificate,
                                               const smime::Capabilities& capabilities, std::string_view source,
                                               TimePoint seen_at) {
  std::vector<ImportedContact> out;
  for (const auto& address : certificate.email_addresses()) {
    store::ContactCertificateRecord record{0,
                                           address,
                                           certificate.der(),
                                           certificate.fingerprint().to_string(udf::kFullBits),
                                           certificate.key_fingerprint().to_string(udf::kFullBits),
                                           capabilities.to_string(),
                                           std::string(source),
                                           seen_at,
                                           seen_at};
    bool is_new = store.upsert_contact_certificate(record);
    out.push_back({Contact{address, certificate, capabilities, std::string(source), seen_at, seen_at}, is_new});
  }
  return out;
}

}  // namespace

std::vector<ImportedContact> record_signature(store::LocalStore& store, const smime::SignatureReport& report,
                                              std::string_view source, TimePoint seen_at) {
  if (!report.valid || !report.signer) {
    throw Error(ErrorCode::BadSignature, "an invalid signature is no source of keys");
  }
  // Issuers a chain may end at; a self-issued one only when its own key
  // signed it (a copy of a root's name and key is forged).
  for (const auto& certificate : report.certificates) {
    if (certificate.is_ca() && (!certificate.is_self_issued() || certificate.is_issued_by(certificate)))
      store.add_contact_chain_certificate(certificate.der(), seen_at);
  }
  // The signing certificate, with what the signature says the sender reads;
  // any other certificate of the sender carried along (its encryption one).
  auto out = store_certificate(store, *report.signer, report.capabilities, source, seen_at);
  for (const auto& certificate : report.certificates) {
    if (certificate == *report.signer || !is_mail_certificate(certificate))
      continue;
    bool same_person = false;
    for (const auto& address : certificate.email_addresses()) {
      same_person = same_person || report.signer->names_address(address);
    }
    if (!same_person)
      continue;
    auto extension = capabilities_of(certificate);
    auto more =
        store_certificate(store, certificate, extension.advertised ? extension : report.capabilities, source, seen_at);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

std::vector<ImportedContact> add_certificate(store::LocalStore& store, const crypto::Certificate& certificate,
                                             std::string_view source, TimePoint seen_at) {
  if (!is_mail_certificate(certificate))
    return {};
  return store_certificate(store, certificate, capabilities_of(certificate), source, seen_at);
}

std::vector<Contact> list(store::LocalStore& store) {
  std::vector<Contact> out;
  for (const auto& record : store.contact_certificates()) {
    out.push_back({record.address, crypto::Certificate::from_der(record.certificate),
                   smime::Capabilities::parse(record.capabilities), record.source, record.first_seen,
                   record.last_seen});
  }
  return out;
}

std::vector<Contact> encryption_candidates(store::LocalStore& store, const EmailAddress& address, TimePoint now) {
  std::vector<Contact> out;
  for (const auto& record : store.contact_certificates(address)) {
    crypto::Certificate certificate = crypto::Certificate::from_der(record.certificate);
    if (!certificate.can_encrypt_mail() || !certificate.names_address(address) || certificate.not_before() > now ||
        certificate.not_after() < now) {
      continue;
    }
    auto capabilities = smime::Capabilities::parse(record.capabilities);
    if (!capabilities.advertised)
      capabilities = capabilities_of(certificate);
    out.push_back(Contact{address, certificate, capabilities, record.source, record.first_seen, record.last_seen});
  }
  // Newest first. Certificates issued within the same second (a re-issue
  // right after a rotation) tie on not_before: then the one recorded last
  // wins, which is why the store's order (first seen, oldest first) is
  // reversed before the stable sort.
  std::reverse(out.begin(), out.end());
  std::stable_sort(out.begin(), out.end(), [](const Contact& a, const Contact& b) {
    return a.certificate.not_before() > b.certificate.not_before();
  });
  return out;
}

std::optional<Contact> encryption_certificate(store::LocalStore& store, const EmailAddress& address, TimePoint now) {
  auto candidates = encryption_candidates(store, address, now);
  if (candidates.empty())
    return std::nullopt;
  return candidates.front();
}

}  // namespace mailseal::contacts
