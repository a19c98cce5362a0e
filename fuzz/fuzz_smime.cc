// The S/MIME reader on untrusted messages: signatures (detached, opaque,
// nested), encryption (with a throw-away key, so decryption runs too).
// Properties: nothing crashes; a result that claims a valid signature has a
// signer certificate; identity problems (From fields that disagree) never
// leave a signature valid; content is never released under an identity
// problem, a bad signature, or unsigned unauthenticated (CBC) encryption.

#include <cstdlib>
#include <string>

#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/smime/smime.h"

namespace mailseal::fuzz {

namespace {

struct Identity {
  crypto::PrivateKey ec_key;
  crypto::Certificate ec_certificate;
  crypto::PrivateKey rsa_key;
  crypto::Certificate rsa_certificate;
};

const Identity& identity() {
  static const Identity value = [] {
    std::string directory = MAILSEAL_FUZZ_DATA_DIR;
    auto load_key = [&](const char* name) {
      Bytes pem = read_file(directory + "/" + name);
      return crypto::PrivateKey::from_pkcs8_pem(as_string_view(pem), nullptr);
    };
    auto load_certificate = [&](const char* name) {
      Bytes pem = read_file(directory + "/" + name);
      return crypto::Certificate::from_pem(as_string_view(pem));
    };
    return Identity{load_key("fuzz-key.pem"), load_certificate("fuzz-cert.pem"), load_key("fuzz-rsa-key.pem"),
                    load_certificate("fuzz-rsa-cert.pem")};
  }();
  return value;
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  const Identity& keys = identity();
  std::vector<smime::DecryptionKey> decryption = {{&keys.ec_key, keys.ec_certificate},
                                                  {&keys.rsa_key, keys.rsa_certificate}};
  smime::Policy policy = smime::Policy::standard(mailseal::now());
  policy.reader_addresses = {EmailAddress::parse("bob@example.org")};
  try {
    smime::ReadResult result = smime::read_message(input, decryption, policy);
    if (result.signature && result.signature->valid && !result.signature->signer)
      std::abort();
    // An identity problem never leaves a signature valid nor content released.
    if (!result.identity_problems.empty() && result.signature && result.signature->valid)
      std::abort();
    const bool identity_problem = !result.identity_problems.empty();
    const bool unauthenticated = result.decrypted && !result.authenticated_encryption && !result.signature;
    smime::Release release = smime::Release::of_decrypted(result, smime::BadSignature::Withhold);
    if (release.released() && (identity_problem || unauthenticated || result.has_bad_signature()))
      std::abort();
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
