// The differential test of the streaming CMS reader (issue 15): for every
// message of ../shared/corpora (skipped when absent) and of the project's own
// (the fuzz seeds, and messages made here in DER and re-encoded in BER), the
// content type, the recipient infos, the algorithm and the encrypted content
// as BerReader and read_envelope take them apart, against OpenSSL's parser
// (d2i_CMS_ContentInfo): the same content type, the same number of recipient
// infos, the same encrypted content, and the structure put together again
// from the reader's parts re-encodes (i2d) to the same DER as the original.
// For signed-data, read_signed_stream against the same parser: the same
// content and digests, the same signer infos (the structure put together
// without its content re-encodes as the original made detached), and
// check_streamed_signature gives the verdict check_signature gives.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>

#include "common/openssl.h"
#include "fuzz/signature_problems.h"
#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/smime.h"
#include "smime/internal/cms.h"
#include "smime/internal/envelope_reader.h"
#include "smime/internal/reading.h"
#include "smime/internal/signed_reader.h"
#include "test_identities.h"

namespace mailseal::smime {
namespace {

namespace fs = std::filesystem;
using internal::EnvelopeContents;

Bytes read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// The CMS structures a file holds: itself when it is DER/BER, else the
// S/MIME parts of the message it is (the whole body, or a multipart/signed's
// signature).
std::vector<Bytes> structures_in(ByteView file) {
  if (!file.empty() && file[0] == 0x30)
    return {Bytes(file.begin(), file.end())};
  std::vector<Bytes> out;
  try {
    const mime::Entity top = mime::Entity::parse(as_string_view(file));
    const mime::ContentType& type = top.content_type;
    if (type.media_type == "application" && type.subtype.find("pkcs7") != std::string::npos) {
      out.push_back(mime::decode_body(top));
    } else if (type.is("multipart", "signed") && type.parameter("boundary")) {
      mime::MultipartBody body = mime::split_multipart(top.body, *type.parameter("boundary"));
      if (body.parts.size() == 2)
        out.push_back(mime::decode_body(mime::Entity::parse(body.parts[1])));
    }
  } catch (const std::exception&) {
    // not a message (a key, a certificate, a seed of another parser)
  }
  return out;
}

// DER definite-length element.
void append_der(Bytes& out, std::uint8_t identifier, ByteView contents) {
  out.push_back(identifier);
  if (contents.size() < 0x80) {
    out.push_back(static_cast<std::uint8_t>(contents.size()));
  } else {
    int octets = 0;
    for (std::size_t rest = contents.size(); rest > 0; rest >>= 8)
      ++octets;
    out.push_back(static_cast<std::uint8_t>(0x80 | octets));
    for (int i = octets - 1; i >= 0; --i)
      out.push_back(static_cast<std::uint8_t>(contents.size() >> (8 * i)));
  }
  out.insert(out.end(), contents.begin(), contents.end());
}

void append(Bytes& out, ByteView bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

// The ContentInfo put together again from the reader's parts.
Bytes reassemble(const EnvelopeContents& parts) {
  Bytes encrypted_info;
  append(encrypted_info, parts.head.content_type);
  append(encrypted_info, parts.head.algorithm);
  append_der(encrypted_info, 0x80, parts.ciphertext);  // [0] IMPLICIT OCTET STRING
  Bytes envelope;
  append(envelope, parts.head.version);
  append(envelope, parts.head.originator_info);
  append(envelope, parts.head.recipient_infos);
  append_der(envelope, 0x30, encrypted_info);
  append(envelope, parts.tail.unprotected_attributes);
  append(envelope, parts.tail.auth_attributes);
  if (parts.head.type == NID_id_smime_ct_authEnvelopedData)
    append_der(envelope, 0x04, parts.tail.mac);
  Bytes sequence;
  append_der(sequence, 0x30, envelope);
  Bytes explicit_content;
  append_der(explicit_content, 0xA0, sequence);
  Bytes info;
  append(info, parts.type);
  append(info, explicit_content);
  Bytes out;
  append_der(out, 0x30, info);
  return out;
}

ossl::Cms openssl_parse(ByteView der) {
  const unsigned char* cursor = der.data();
  ossl::Cms cms(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(der.size())));
  ERR_clear_error();
  return cms;
}

Bytes openssl_encode(CMS_ContentInfo* cms) {
  unsigned char* out = nullptr;
  int length = i2d_CMS_ContentInfo(cms, &out);
  ossl::OpensslString owner(reinterpret_cast<char*>(out));
  return length > 0 ? Bytes(out, out + length) : Bytes();
}

struct Tally {
  std::size_t structures = 0;  // both parsers read the content type
  std::size_t envelopes = 0;   // both took an envelope apart
  std::size_t signed_data = 0;  // both took a signed-data apart
  std::vector<std::string> refused_by_reader_only;
};

// A digest of `bytes` with the algorithm `nid` (empty when OpenSSL has none).
Bytes digest_of(int nid, ByteView bytes) {
  const EVP_MD* md = EVP_get_digestbynid(nid);
  if (md == nullptr)
    return {};
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), out.data(), &size, md, nullptr), 1);
  out.resize(size);
  return out;
}

// The signature verdict of check_signature over the structure whole and of
// check_streamed_signature over what the streaming reader took from it.
void compare_verdicts(ByteView der, const internal::StreamedSignedData& streamed, const std::string& content,
                      const std::string& name) {
  const Policy policy = Policy::standard(mailseal::now());
  internal::SignatureContext context{{}, std::nullopt, true, &policy};
  std::optional<internal::SignatureCheck> whole, parts;
  try {
    whole = internal::check_signature(der, std::nullopt, context);
  } catch (const Error&) {
  }
  try {
    parts = internal::check_streamed_signature(streamed, content, context);
  } catch (const Error&) {
  }
  ASSERT_EQ(whole.has_value(), parts.has_value()) << name << ": one check threw, the other did not";
  if (!whole)
    return;
  EXPECT_EQ(whole->report.valid, parts->report.valid) << name;
  std::vector<std::string> whole_problems, streamed_problems;
  for (const auto& problem : whole->report.problems)
    whole_problems.push_back(fuzz::without_openssl_detail(problem));
  for (const auto& problem : parts->report.problems)
    streamed_problems.push_back(fuzz::without_openssl_detail(problem));
  EXPECT_EQ(whole_problems, streamed_problems) << name;
  EXPECT_EQ(whole->report.digest, parts->report.digest) << name;
  EXPECT_EQ(whole->report.certificates.size(), parts->report.certificates.size()) << name;
  EXPECT_EQ(whole->content_mismatch, parts->content_mismatch) << name;
  EXPECT_EQ(whole->content, parts->content) << name;
}

// The streaming reader of signed-data against OpenSSL's parser: the same
// content and digests, the same signer infos and certificates (the
// structure put together without its content re-encodes as the original
// made detached does), the same verdict.
void compare_signed(ByteView der, CMS_ContentInfo* cms, const std::string& name, Tally& tally) {
  internal::StreamedSignedData streamed;
  StringSink content;
  try {
    MemorySource source(der);
    streamed = internal::read_signed_stream(source, der.size(), content);
  } catch (const Error& error) {
    tally.refused_by_reader_only.push_back(name + ": " + error.what());
    return;
  }
  ++tally.signed_data;
  ASN1_OCTET_STRING** embedded = CMS_get0_content(cms);
  const bool has_content = embedded != nullptr && *embedded != nullptr;
  EXPECT_EQ(streamed.has_content, has_content) << name;
  const std::string openssl_content =
      has_content ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(*embedded)),
                                static_cast<std::size_t>(ASN1_STRING_length(*embedded)))
                  : std::string();
  EXPECT_EQ(content.text(), openssl_content) << name << ": the content";
  EXPECT_EQ(streamed.signer_count, static_cast<std::size_t>(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms))))
      << name << ": the signer infos";
  for (int nid : internal::listed_digest_algorithms(der)) {
    Bytes expected = digest_of(nid, as_bytes(openssl_content));
    if (!expected.empty()) {
      EXPECT_EQ(streamed.digests.value(nid), expected) << name << ": the " << OBJ_nid2sn(nid) << " digest";
    }
  }
  ossl::Cms detached = openssl_parse(streamed.detached_info);
  ASSERT_TRUE(detached) << name << ": OpenSSL cannot read what the reader took apart";
  ossl::Cms original = openssl_parse(der);
  ASSERT_EQ(CMS_set_detached(original.get(), 1), 1);
  EXPECT_EQ(openssl_encode(detached.get()), openssl_encode(original.get()))
      << name << ": digest algorithms, certificates, CRLs or signer infos differ";
  compare_verdicts(der, streamed, content.text(), name);
}

// Compares the two parsers on one structure; `name` for the messages.
void compare(ByteView der, const std::string& name, Tally& tally) {
  ossl::Cms cms = openssl_parse(der);
  int reader_type = NID_undef;
  try {
    MemorySource source(der);
    internal::BerReader reader(source, der.size());
    reader_type = internal::read_content_info_type(reader);
  } catch (const Error&) {
  }
  if (!cms)
    return;  // OpenSSL refuses it: nothing to compare with
  ++tally.structures;
  const int openssl_type = OBJ_obj2nid(CMS_get0_type(cms.get()));
  EXPECT_EQ(reader_type, openssl_type) << name << ": the content type";
  if (openssl_type == NID_pkcs7_signed) {
    compare_signed(der, cms.get(), name, tally);
    return;
  }
  if (openssl_type != NID_pkcs7_enveloped && openssl_type != NID_id_smime_ct_authEnvelopedData)
    return;
  EnvelopeContents parts;
  try {
    MemorySource source(der);
    parts = internal::read_envelope(source, der.size());
  } catch (const Error& error) {
    tally.refused_by_reader_only.push_back(name + ": " + error.what());
    return;
  }
  ++tally.envelopes;
  EXPECT_EQ(parts.head.recipient_count,
            static_cast<std::size_t>(sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms.get()))))
      << name << ": the recipient infos";
  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  ASSERT_TRUE(content != nullptr && *content != nullptr) << name;
  EXPECT_EQ(parts.ciphertext, Bytes(ASN1_STRING_get0_data(*content),
                                    ASN1_STRING_get0_data(*content) + ASN1_STRING_length(*content)))
      << name << ": the encrypted content";
  ossl::Cms again = openssl_parse(reassemble(parts));
  ASSERT_TRUE(again) << name << ": OpenSSL cannot read what the reader took apart";
  EXPECT_EQ(openssl_encode(again.get()), openssl_encode(cms.get()))
      << name << ": recipient infos, algorithm, attributes or tag differ";
}

void compare_files(const fs::path& folder, Tally& tally) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file())
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    for (const Bytes& der : structures_in(read_all(path)))
      compare(der, path.string(), tally);
  }
}

TEST(Differential, TheReaderAgreesWithOpenSslOnTheSharedCorpora) {
  const fs::path corpora = MAILSEAL_CORPORA_DIR;
  if (!fs::is_directory(corpora))
    GTEST_SKIP() << corpora << " is absent";
  Tally tally;
  compare_files(corpora, tally);
  std::cout << "compared " << tally.structures << " CMS structures, " << tally.envelopes << " envelopes, "
            << tally.signed_data << " signed-data\n";
  for (const auto& refused : tally.refused_by_reader_only)
    std::cout << "refused by the streaming reader only: " << refused << "\n";
  EXPECT_GE(tally.structures, 60u);
  EXPECT_GE(tally.envelopes, 15u);
  EXPECT_GE(tally.signed_data, 20u);
  EXPECT_TRUE(tally.refused_by_reader_only.empty());
}

TEST(Differential, TheReaderAgreesWithOpenSslOnTheProjectsOwnMessages) {
  Tally tally;
  compare_files(MAILSEAL_FUZZ_CORPUS_DIR, tally);
  // And messages made here: both ciphers, to two recipients.
  for (ContentCipher cipher : {ContentCipher::Aes256Gcm, ContentCipher::Aes256Cbc}) {
    const std::string message = "From: alice@example.com\r\nTo: bob@example.org\r\n\r\nhello\r\n";
    MemorySource source(as_bytes(message));
    OutgoingMessage outgoing = OutgoingMessage::read(source);
    StringSink out;
    EncryptOptions options{{test::bob().encryption, test::alice().encryption}, nullptr, {cipher, false}};
    encrypt_message(outgoing, out, options, mailseal::now());
    for (const Bytes& der : structures_in(as_bytes(out.text())))
      compare(der, std::string(to_string(cipher)), tally);
  }
  // Signed both ways.
  for (SignatureForm form : {SignatureForm::Opaque, SignatureForm::Detached}) {
    const std::string message = "From: alice@example.com\r\nTo: bob@example.org\r\n\r\nhello\r\n";
    MemorySource source(as_bytes(message));
    OutgoingMessage outgoing = OutgoingMessage::read(source);
    StringSink out;
    sign_message(outgoing, out, test::alice().signer(), form, mailseal::now());
    for (const Bytes& der : structures_in(as_bytes(out.text())))
      compare(der, std::string(to_string(form)), tally);
  }
  EXPECT_GE(tally.envelopes, 10u);
  EXPECT_GE(tally.signed_data, 4u);
  EXPECT_TRUE(tally.refused_by_reader_only.empty()) << tally.refused_by_reader_only.front();
}

}  // namespace
}  // namespace mailseal::smime
