// The incremental BER reader and the streaming envelope reader (issue 15) on
// untrusted bytes: a CMS structure as DER or BER, or a message whose body is
// one (base64 or not). Properties: nothing crashes or reads out of bounds;
// how the bytes arrive (all at once, or a few at a time) changes nothing,
// neither what is extracted nor the error; decryption with throw-away keys
// succeeds only on a structure the reader takes apart whole.

#include <cstdlib>
#include <string>

#include "drip_source.h"
#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/mime/mime.h"
#include "mailseal/smime/smime.h"
#include "smime/internal/envelope_reader.h"
#include "smime/internal/reading.h"

namespace mailseal::fuzz {

namespace {

struct Keys {
  crypto::PrivateKey ec_key;
  crypto::Certificate ec_certificate;
  crypto::PrivateKey rsa_key;
  crypto::Certificate rsa_certificate;
};

const Keys& keys() {
  static const Keys value = [] {
    std::string directory = MAILSEAL_FUZZ_DATA_DIR;
    auto key = [&](const char* name) {
      Bytes pem = read_file(directory + "/" + name);
      return crypto::PrivateKey::from_pkcs8_pem(as_string_view(pem), nullptr);
    };
    auto certificate = [&](const char* name) {
      Bytes pem = read_file(directory + "/" + name);
      return crypto::Certificate::from_pem(as_string_view(pem));
    };
    return Keys{key("fuzz-key.pem"), certificate("fuzz-cert.pem"), key("fuzz-rsa-key.pem"),
                certificate("fuzz-rsa-cert.pem")};
  }();
  return value;
}

// The structure itself, or the decoded body of a message that carries one.
Bytes structure_of(std::span<const std::uint8_t> input) {
  if (!input.empty() && input[0] == 0x30)
    return Bytes(input.begin(), input.end());
  try {
    return mime::decode_body(mime::Entity::parse(as_string_view(input)));
  } catch (const Error&) {
    return Bytes(input.begin(), input.end());
  }
}

// What the reader makes of `der` read `step` bytes at a time: the parts, or
// the error's text.
std::string extract(ByteView der, std::size_t step) {
  DripSource source(der, step);
  try {
    smime::internal::EnvelopeContents contents = smime::internal::read_envelope(source, der.size());
    const auto& head = contents.head;
    if (head.recipient_count == 0 || head.recipient_infos.empty() || head.algorithm.empty())
      std::abort();  // read_envelope_head refuses these
    return to_hex(contents.type) + to_hex(head.version) + to_hex(head.originator_info) +
           to_hex(head.recipient_infos) + to_hex(head.content_type) + to_hex(head.algorithm) + "|" +
           to_hex(contents.ciphertext) + "|" + to_hex(contents.tail.unprotected_attributes) +
           to_hex(contents.tail.auth_attributes) + to_hex(contents.tail.mac);
  } catch (const Error& error) {
    return std::string("error: ") + error.what();
  }
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  const Bytes der = structure_of(input);
  const std::string whole = extract(der, der.size() + 1);
  const std::string dripped = extract(der, 1 + input.size() % 7);
  if (whole != dripped)
    std::abort();  // how the bytes arrive must not matter
  const Keys& fuzz = keys();
  std::vector<smime::DecryptionKey> decryption = {{&fuzz.ec_key, fuzz.ec_certificate},
                                                  {&fuzz.rsa_key, fuzz.rsa_certificate}};
  try {
    smime::internal::Decryption result = smime::internal::decrypt_envelope(der, decryption);
    if (whole.rfind("error: ", 0) == 0)
      std::abort();  // decrypted what the reader refuses
    if (result.cipher.empty())
      std::abort();
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
