// Checking one signature layer (RFC 5652 section 5, RFC 8551 section 3.5).

#include <cstdlib>
#include <functional>

#include <fmt/format.h>
#include <openssl/err.h>

#include "mailseal/common/error.h"
#include "smime/internal/cms.h"
#include "smime/internal/reading.h"
#include "smime/internal/signed_reader.h"

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

std::optional<TimePoint> signing_time(CMS_SignerInfo* info) {
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
  return from_unix_seconds(timegm(&broken_down));
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

std::string format_hours(std::chrono::seconds duration) {
  const std::int64_t seconds = duration.count();
  return seconds >= 7200 ? fmt::format("{} hours", seconds / 3600) : fmt::format("{} minutes", seconds / 60);
}

// The signed content: the detached part, else the eContent (RFC 5652
// section 5.2); a problem when there is none or both.
void take_content(CMS_ContentInfo* cms, std::optional<std::string_view> detached_content, SignatureCheck& check) {
  auto& problems = check.report.problems;
  ASN1_OCTET_STRING** content = CMS_get0_content(cms);
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
  if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
    problems.push_back("the signed content is not of type id-data");
  }
}

// The one signerInfo accepted; nullptr (with a problem) when there are none
// or several.
CMS_SignerInfo* only_signer(CMS_ContentInfo* cms, SignatureReport& report) {
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms);
  int signer_count = signers ? sk_CMS_SignerInfo_num(signers) : 0;
  if (signer_count != 1) {
    report.problems.push_back(signer_count == 0
                                  ? "the signature has no signer"
                                  : fmt::format("the signature has {} signers; exactly one is accepted", signer_count));
  }
  if (signer_count == 0)
    return nullptr;
  return sk_CMS_SignerInfo_value(signers, 0);
}

// The signer's digest algorithm must be listed (signer_digest_listed); a
// problem when it is not.
bool digest_listed(ByteView der, CMS_SignerInfo* info, SignatureReport& report) {
  if (signer_digest_listed(der, info))
    return true;
  report.problems.push_back(
      listed_digest_algorithms(der).empty()
          ? "the signature lists no digest algorithm (its digestAlgorithms set is empty)"
          : fmt::format("the signer's {} digest is not among the digest algorithms the signature lists",
                        digest_name(signer_digest(info))));
  return false;
}

// The signer's digest algorithm (against the policy) and certificate.
void read_signer(CMS_ContentInfo* cms, CMS_SignerInfo* info, const Policy& policy, SignatureReport& report) {
  CMS_set1_signers_certs(cms, nullptr, 0);
  ossl::take_errors();
  X509* signer = nullptr;
  CMS_SignerInfo_get0_algs(info, nullptr, &signer, nullptr, nullptr);
  const int digest_nid = signer_digest(info);
  report.digest = digest_name(digest_nid);
  if (!acceptable_digest(digest_nid, policy)) {
    report.problems.push_back(
        fmt::format("the {} digest is not accepted (SHA-256, SHA-384 or SHA-512 are)", report.digest));
  }
  if (signer == nullptr) {
    report.problems.push_back("the signer's certificate is not in the message");
  } else {
    report.signer.emplace(ossl::add_reference(signer));
  }
}

void record_mismatch(SignatureCheck& check) {
  check.content_mismatch = true;
  std::string detail = ossl::take_errors();
  check.report.problems.push_back(detail.empty()
                                      ? "the signature does not match the message"
                                      : fmt::format("the signature does not match the message ({})", detail));
}

// Signature and content digest, without PKIX path validation: whom to
// believe is the trust engine's question, not this one's.
void verify_signature(CMS_ContentInfo* cms, std::optional<std::string_view> detached_content, SignatureCheck& check) {
  ossl::Bio data;
  if (detached_content) {
    data = ossl::memory_reader(detached_content->data(), detached_content->size());
  }
  unsigned int flags = CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY;
  if (CMS_verify(cms, nullptr, nullptr, data.get(), nullptr, flags) != 1)
    record_mismatch(check);
}

// What CMS_verify does with the flags above, steps in its order, for content
// digested as it streamed (RFC 5652 section 5.4: the signed attributes'
// message-digest is the content's digest, section 5.6: the signature over the
// DER of the signed attributes, or over the digest when there are none):
// every signer has its certificate, each signature over signed attributes
// holds, then each signer's digest matches the content.
bool verify_streamed_signers(CMS_ContentInfo* cms, const ContentDigests& digests) {
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms);
  const int count = signers ? sk_CMS_SignerInfo_num(signers) : 0;
  for (int i = 0; i < count; ++i) {
    X509* signer = nullptr;
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(signers, i), nullptr, &signer, nullptr, nullptr);
    if (signer == nullptr) {
      ERR_raise(ERR_LIB_CMS, CMS_R_SIGNER_CERTIFICATE_NOT_FOUND);
      return false;
    }
  }
  for (int i = 0; i < count; ++i) {
    CMS_SignerInfo* info = sk_CMS_SignerInfo_value(signers, i);
    if (CMS_signed_get_attr_count(info) >= 0 && CMS_SignerInfo_verify(info) <= 0)
      return false;
  }
  if (digests.has_unknown()) {
    ERR_raise(ERR_LIB_CMS, CMS_R_UNKNOWN_DIGEST_ALGORITHM);
    return false;
  }
  ossl::Bio chain = digests.chain();
  for (int i = 0; i < count; ++i) {
    if (CMS_SignerInfo_verify_content(sk_CMS_SignerInfo_value(signers, i), chain.get()) <= 0) {
      ERR_raise(ERR_LIB_CMS, CMS_R_CONTENT_VERIFY_ERROR);
      return false;
    }
  }
  return true;
}

// The signing time against the clock and the Date header.
void check_signing_time(const SignatureContext& context, SignatureReport& report) {
  const Policy& policy = *context.policy;
  if (!report.signing_time)
    return;
  if (*report.signing_time > policy.now + policy.clock_skew) {
    report.problems.push_back("the signing time is in the future");
  }
  if (context.date && std::chrono::abs(*context.date - *report.signing_time) > policy.date_tolerance) {
    report.problems.push_back(fmt::format("the Date header and the signing time differ by {}",
                                          format_hours(std::chrono::abs(*context.date - *report.signing_time))));
  }
}

// The signer's certificate: valid at the signing time, for signing mail,
// with a key the policy accepts, naming the From address (RFC 8551 section 3.5).
void check_signer_certificate(const SignatureContext& context, SignatureReport& report) {
  const Policy& policy = *context.policy;
  const crypto::Certificate& certificate = *report.signer;
  auto& problems = report.problems;
  const TimePoint at = report.signing_time.value_or(policy.now);
  if (at + policy.clock_skew < certificate.not_before() || at > certificate.not_after()) {
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
    if (!report.from_matches && context.check_from)
      problems.push_back(signer_mismatch(certificate, context.from.front()));
  } else if (context.check_from) {
    problems.push_back(fmt::format("the message has {} From addresses; exactly one is needed", context.from.size()));
  }
}

ossl::Cms read_signed_cms(ByteView der) {
  ossl::Cms cms = read_cms(der);
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    throw Error(ErrorCode::Malformed, "the signature is not a CMS signed-data structure");
  }
  return cms;
}

// The signer, its digest and certificate, the signature (by `verify`), the
// signing time: the same checks whichever way the content was read.
SignatureCheck check_signers(CMS_ContentInfo* cms, ByteView der, SignatureCheck check, const SignatureContext& context,
                             const std::function<void(CMS_ContentInfo*, SignatureCheck&)>& verify) {
  SignatureReport& report = check.report;
  report.certificates = carried_certificates(cms);
  CMS_SignerInfo* info = only_signer(cms, report);
  if (info == nullptr) {
    report.valid = false;
    return check;
  }
  read_signer(cms, info, *context.policy, report);
  if (digest_listed(der, info, report))
    verify(cms, check);
  else
    check.content_mismatch = true;
  report.signing_time = signing_time(info);
  report.capabilities = signed_capabilities(info);
  check_signing_time(context, report);
  if (report.signer)
    check_signer_certificate(context, report);
  report.valid = report.problems.empty();
  return check;
}

}  // namespace

std::string signer_mismatch(const crypto::Certificate& signer, const EmailAddress& from) {
  auto addresses = signer.email_addresses();
  return fmt::format("signed by {}, but the message is from {}",
                     addresses.empty() ? signer.subject() : addresses.front().str(), from.str());
}

SignatureCheck check_signature(ByteView der, std::optional<std::string_view> detached_content,
                               const SignatureContext& context) {
  ossl::Cms cms = read_signed_cms(der);
  SignatureCheck check;
  check.report.form = detached_content ? SignatureForm::Detached : SignatureForm::Opaque;
  take_content(cms.get(), detached_content, check);
  return check_signers(cms.get(), der, std::move(check), context,
                       [&](CMS_ContentInfo* parsed, SignatureCheck& result) {
                         verify_signature(parsed, detached_content, result);
                       });
}

SignatureCheck check_streamed_signature(const StreamedSignedData& streamed, std::string content,
                                        const SignatureContext& context, DigestsOf digests_of) {
  ossl::Cms cms = read_signed_cms(streamed.detached_info);
  SignatureCheck check;
  SignatureReport& report = check.report;
  report.form = streamed.detached ? SignatureForm::Detached : SignatureForm::Opaque;
  // As take_content says of the same structure read whole.
  if (streamed.detached && streamed.has_content)
    report.problems.push_back("the detached signature carries content of its own (eContent) besides the signed part");
  if (!streamed.detached && !streamed.has_content)
    report.problems.push_back("the signature carries no content");
  check.content = std::move(content);
  if (!streamed.data_content)
    report.problems.push_back("the signed content is not of type id-data");
  const ContentDigests& digests =
      digests_of == DigestsOf::Exact && streamed.exact_digests ? *streamed.exact_digests : streamed.digests;
  const bool has_content = streamed.detached || streamed.has_content;
  return check_signers(cms.get(), streamed.detached_info, std::move(check), context,
                       [&](CMS_ContentInfo* parsed, SignatureCheck& result) {
                         if (!has_content) {
                           ERR_raise(ERR_LIB_CMS, CMS_R_NO_CONTENT);  // as CMS_verify says
                           record_mismatch(result);
                         } else if (!verify_streamed_signers(parsed, digests)) {
                           record_mismatch(result);
                         }
                       });
}

}  // namespace mailseal::smime::internal
