// Checking one signature layer (RFC 5652 section 5, RFC 8551 section 3.5).

#include <cstdlib>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "smime/internal/cms.h"
#include "smime/internal/reading.h"

namespace mailseal::smime::internal {

namespace {

std::string digest_name(int nid) {
  switch (nid) {
    case NID_sha256:
      return "SHA-256";
    case NID_sha384:
      return "SHA-384";
    case NID_sha512:
      return "SHA-512";
    case NID_sha224:
      return "SHA-224";
    case NID_sha1:
      return "SHA-1";
    case NID_md5:
      return "MD5";
    default:
      return OBJ_nid2sn(nid) ? OBJ_nid2sn(nid) : "unknown";
  }
}

bool acceptable_digest(int nid, const Policy& policy) {
  return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512 || (policy.accept_sha1 && nid == NID_sha1);
}

std::optional<std::int64_t> signing_time(CMS_SignerInfo* info) {
  int index = CMS_signed_get_attr_by_NID(info, NID_pkcs9_signingTime, -1);
  if (index < 0)
    return std::nullopt;
  X509_ATTRIBUTE* attribute = CMS_signed_get_attr(info, index);
  ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attribute, 0);
  if (value == nullptr || (value->type != V_ASN1_UTCTIME && value->type != V_ASN1_GENERALIZEDTIME)) {
    return std::nullopt;
  }
  struct tm broken_down {};
  if (ASN1_TIME_to_tm(value->value.generalizedtime, &broken_down) != 1) {
    ossl::take_errors();
    return std::nullopt;
  }
  return static_cast<std::int64_t>(timegm(&broken_down));
}

Capabilities signed_capabilities(CMS_SignerInfo* info) {
  int index = CMS_signed_get_attr_by_NID(info, NID_SMIMECapabilities, -1);
  if (index < 0)
    return {};
  ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(info, index), 0);
  if (value == nullptr || value->type != V_ASN1_SEQUENCE)
    return {};
  return Capabilities::from_der(ByteView(ASN1_STRING_get0_data(value->value.sequence),
                                         static_cast<std::size_t>(ASN1_STRING_length(value->value.sequence))));
}

std::string format_hours(std::int64_t seconds) {
  return seconds >= 7200 ? fmt::format("{} hours", seconds / 3600) : fmt::format("{} minutes", seconds / 60);
}

}  // namespace

SignatureCheck check_signature(ByteView der, std::optional<std::string_view> detached_content,
                               const SignatureContext& context) {
  const Policy& policy = *context.policy;
  ossl::Cms cms = read_cms(der);
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    throw Error(ErrorCode::Malformed, "the signature is not a CMS signed-data structure");
  }
  SignatureCheck check;
  SignatureReport& report = check.report;
  auto& problems = report.problems;
  report.form = detached_content ? SignatureForm::Detached : SignatureForm::Opaque;

  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  bool embedded = content != nullptr && *content != nullptr;
  if (detached_content) {
    check.content = std::string(*detached_content);
    if (embedded) {
      problems.push_back("the detached signature carries content of its own (eContent) besides the signed part");
    }
  } else if (embedded) {
    check.content.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
                         static_cast<std::size_t>(ASN1_STRING_length(*content)));
  } else {
    problems.push_back("the signature carries no content");
  }
  if (OBJ_obj2nid(CMS_get0_eContentType(cms.get())) != NID_pkcs7_data) {
    problems.push_back("the signed content is not of type id-data");
  }

  ossl::X509Stack certificates(CMS_get1_certs(cms.get()));
  for (int i = 0; certificates && i < sk_X509_num(certificates.get()); ++i) {
    X509* certificate = sk_X509_value(certificates.get(), i);
    X509_up_ref(certificate);
    report.certificates.emplace_back(crypto::X509Handle(certificate));
  }

  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms.get());
  int signer_count = signers ? sk_CMS_SignerInfo_num(signers) : 0;
  if (signer_count != 1) {
    problems.push_back(signer_count == 0
                           ? "the signature has no signer"
                           : fmt::format("the signature has {} signers; exactly one is accepted", signer_count));
  }
  if (signer_count == 0) {
    report.valid = false;
    return check;
  }
  CMS_set1_signers_certs(cms.get(), nullptr, 0);
  ossl::take_errors();
  CMS_SignerInfo* info = sk_CMS_SignerInfo_value(signers, 0);
  EVP_PKEY* public_key = nullptr;
  X509* signer = nullptr;
  X509_ALGOR* digest = nullptr;
  X509_ALGOR* algorithm = nullptr;
  CMS_SignerInfo_get0_algs(info, &public_key, &signer, &digest, &algorithm);
  int digest_nid = NID_undef;
  if (digest != nullptr) {
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, digest);
    digest_nid = OBJ_obj2nid(oid);
  }
  report.digest = digest_name(digest_nid);
  if (!acceptable_digest(digest_nid, policy)) {
    problems.push_back(fmt::format("the {} digest is not accepted (SHA-256, SHA-384 or SHA-512 are)", report.digest));
  }
  if (signer == nullptr) {
    problems.push_back("the signer's certificate is not in the message");
  } else {
    X509_up_ref(signer);
    report.signer.emplace(crypto::X509Handle(signer));
  }

  // Signature and content digest, without PKIX path validation: whom to
  // believe is the trust engine's question, not this one's.
  ossl::Bio data;
  if (detached_content) {
    data = ossl::memory_reader(detached_content->data(), detached_content->size());
  }
  unsigned int flags = CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY;
  if (CMS_verify(cms.get(), nullptr, nullptr, data.get(), nullptr, flags) != 1) {
    check.content_mismatch = true;
    std::string detail = ossl::take_errors();
    problems.push_back(detail.empty() ? "the signature does not match the message"
                                      : fmt::format("the signature does not match the message ({})", detail));
  }

  report.signing_time = signing_time(info);
  report.capabilities = signed_capabilities(info);
  const std::int64_t now = policy.now.time_since_epoch().count();
  if (report.signing_time) {
    if (*report.signing_time > now + policy.clock_skew.count()) {
      problems.push_back("the signing time is in the future");
    }
    if (context.date && std::llabs(*context.date - *report.signing_time) > policy.date_tolerance.count()) {
      problems.push_back(fmt::format("the Date header and the signing time differ by {}",
                                     format_hours(std::llabs(*context.date - *report.signing_time))));
    }
  }
  if (report.signer) {
    const crypto::Certificate& certificate = *report.signer;
    const std::int64_t at = report.signing_time.value_or(now);
    if (at + policy.clock_skew.count() < certificate.not_before().time_since_epoch().count() ||
        at > certificate.not_after().time_since_epoch().count()) {
      problems.push_back("the signer's certificate was not valid at the signing time");
    }
    if (!certificate.can_sign_mail()) {
      problems.push_back("the signer's certificate is not for signing email");
    }
    auto key = certificate.public_key();
    if (key.family() == crypto::KeyFamily::Rsa && key.bits() < policy.min_rsa_bits) {
      problems.push_back(
          fmt::format("the signer's RSA key has {} bits; at least {} are accepted", key.bits(), policy.min_rsa_bits));
    }
    if (context.from.size() == 1) {
      report.from_matches = certificate.names_address(context.from.front());
      if (!report.from_matches && context.check_from) {
        auto addresses = certificate.email_addresses();
        problems.push_back(fmt::format("signed by {}, but the message is from {}",
                                       addresses.empty() ? certificate.subject() : addresses.front().str(),
                                       context.from.front().str()));
      }
    } else if (context.check_from) {
      problems.push_back(fmt::format("the message has {} From addresses; exactly one is needed", context.from.size()));
    }
  }
  report.valid = problems.empty();
  return check;
}

}  // namespace mailseal::smime::internal
