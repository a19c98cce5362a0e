#include "mailseal/contacts/contacts.h"

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"

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
                                               std::int64_t seen_at) {
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

bool looks_like_message(ByteView data) {
  std::string_view text = as_string_view(data.subspan(0, std::min<std::size_t>(data.size(), 4096)));
  auto colon = text.find(':');
  auto line_end = text.find('\n');
  return colon != std::string_view::npos && (line_end == std::string_view::npos || colon < line_end) &&
         text.find("-----BEGIN") == std::string_view::npos;
}

}  // namespace

std::vector<ImportedContact> record_signature(store::LocalStore& store, const smime::SignatureReport& report,
                                              std::string_view source, std::int64_t seen_at) {
  if (!report.valid || !report.signer) {
    throw Error(ErrorCode::BadSignature, "an invalid signature is no source of keys");
  }
  for (const auto& certificate : report.certificates) {
    if (certificate.is_ca())
      store.add_contact_chain_certificate(certificate.der());
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

std::vector<ImportedContact> import_file(store::LocalStore& store, ByteView data, const smime::Policy& policy) {
  const std::int64_t now = policy.now.time_since_epoch().count();
  std::vector<crypto::Certificate> certificates;
  try {
    certificates = crypto::Certificate::read_all(data);
  } catch (const Error&) {
    if (!looks_like_message(data))
      throw;
    smime::ReadResult result = smime::read_message(data, {}, policy);
    if (!result.signature) {
      throw Error(ErrorCode::Malformed, "the message is not signed, so it carries no certificate to import");
    }
    if (!result.signature->valid) {
      throw Error(
          ErrorCode::BadSignature,
          fmt::format("the message's signature is not valid ({}), so its certificate is not imported",
                      escape_for_terminal(result.signature->problems.empty() ? "unknown problem"
                                                                             : result.signature->problems.front())));
    }
    return record_signature(store, *result.signature, "message", now);
  }
  std::vector<ImportedContact> out;
  for (const auto& certificate : certificates) {
    if (certificate.is_ca()) {
      store.add_contact_chain_certificate(certificate.der());
      continue;
    }
    if (!is_mail_certificate(certificate))
      continue;
    auto stored = store_certificate(store, certificate, capabilities_of(certificate), "import", now);
    out.insert(out.end(), stored.begin(), stored.end());
  }
  if (out.empty()) {
    throw Error(ErrorCode::Malformed, "none of the certificates names an email address it may be used with");
  }
  return out;
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

std::optional<Contact> encryption_certificate(store::LocalStore& store, const EmailAddress& address,
                                              crypto::TimePoint now) {
  std::optional<Contact> best;
  for (const auto& record : store.contact_certificates(address)) {
    crypto::Certificate certificate = crypto::Certificate::from_der(record.certificate);
    if (!certificate.can_encrypt_mail() || !certificate.names_address(address) || certificate.not_before() > now ||
        certificate.not_after() < now) {
      continue;
    }
    if (!best || certificate.not_before() > best->certificate.not_before()) {
      auto capabilities = smime::Capabilities::parse(record.capabilities);
      if (!capabilities.advertised)
        capabilities = capabilities_of(certificate);
      best = Contact{address, certificate, capabilities, record.source, record.first_seen, record.last_seen};
    }
  }
  return best;
}

}  // namespace mailseal::contacts
