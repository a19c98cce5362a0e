// The streaming signed-data reader (issue 15, verify of large messages) on
// untrusted bytes: a CMS structure as DER or BER, or a message whose body is
// one (base64 or not), or a multipart/signed's signature. Properties: nothing
// crashes, leaks or reads out of bounds; how the bytes arrive (all at once,
// or a few at a time) changes nothing, neither what is extracted nor the
// error; where OpenSSL's parser reads the structure too, the content is the
// same, and the signature check over what the reader extracted gives the
// verdict the check over the structure read whole gives.

#include <openssl/cms.h>
#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "common/openssl.h"
#include "drip_source.h"
#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/smime.h"
#include "signature_problems.h"
#include "smime/internal/reading.h"
#include "smime/internal/signed_reader.h"

namespace mailseal::fuzz {

namespace {

// The structure itself, the decoded body of a message that carries one, or
// a multipart/signed's signature.
Bytes structure_of(std::span<const std::uint8_t> input) {
  if (!input.empty() && input[0] == 0x30)
    return Bytes(input.begin(), input.end());
  try {
    const mime::Entity top = mime::Entity::parse(as_string_view(input));
    auto boundary = top.content_type.parameter("boundary");
    if (top.content_type.is("multipart", "signed") && boundary) {
      mime::MultipartBody body = mime::split_multipart(top.body, *boundary);
      if (body.parts.size() == 2)
        return mime::decode_body(mime::Entity::parse(body.parts[1]));
    }
    return mime::decode_body(top);
  } catch (const Error&) {
    return Bytes(input.begin(), input.end());
  }
}

struct Extracted {
  std::string summary;  // the parts, or the error's text
  std::optional<smime::internal::StreamedSignedData> streamed;
  std::string content;
};

Extracted extract(ByteView der, std::size_t step) {
  DripSource source(der, step);
  smime::StringSink content;
  Extracted out;
  try {
    out.streamed = smime::internal::read_signed_stream(source, der.size(), content);
    const auto& streamed = *out.streamed;
    if (streamed.content_size != content.text().size())
      std::abort();  // the size counts what was passed on
    out.summary = to_hex(streamed.detached_info) + "|" + to_hex(streamed.digests.value(NID_sha256)) + "|" +
                  std::to_string(streamed.has_content) + std::to_string(streamed.data_content);
    out.content = content.take();
  } catch (const Error& error) {
    out.summary = std::string("error: ") + error.what();
  }
  return out;
}

// The verdicts of the two checks, or "threw".
std::string verdict(const std::function<smime::internal::SignatureCheck()>& check) {
  try {
    smime::internal::SignatureCheck result = check();
    std::string text = result.report.valid ? "valid" : "invalid";
    for (const auto& problem : result.report.problems)
      text += "; " + without_openssl_detail(problem);
    return text + (result.content_mismatch ? " (mismatch)" : "");
  } catch (const Error&) {
    return "threw";
  }
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  const Bytes der = structure_of(input);
  const Extracted whole = extract(der, der.size() + 1);
  const Extracted dripped = extract(der, 1 + input.size() % 7);
  if (whole.summary != dripped.summary || whole.content != dripped.content)
    std::abort();  // how the bytes arrive must not matter
  if (!whole.streamed)
    return;
  const unsigned char* cursor = der.data();
  ossl::Cms cms(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(der.size())));
  ERR_clear_error();
  if (!cms || cursor != der.data() + der.size())
    return;  // OpenSSL refuses it: nothing to compare with
  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  if (content != nullptr && *content != nullptr) {
    const std::string expected(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
                               static_cast<std::size_t>(ASN1_STRING_length(*content)));
    if (expected != whole.content)
      std::abort();  // a content other than OpenSSL's
  }
  const smime::Policy policy = smime::Policy::standard(mailseal::now());
  smime::internal::SignatureContext context{{}, std::nullopt, true, &policy};
  const std::string in_memory = verdict([&] { return smime::internal::check_signature(der, std::nullopt, context); });
  const std::string streamed =
      verdict([&] { return smime::internal::check_streamed_signature(*whole.streamed, whole.content, context); });
  if (in_memory != streamed) {
    std::fprintf(stderr, "in memory: %s\nstreamed:  %s\n", in_memory.c_str(), streamed.c_str());
    std::abort();  // the streamed check judged otherwise
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
