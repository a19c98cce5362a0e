// NSS's secret decoder ring on a Thunderbird profile's database (sdr.h).

#include "clients/internal/sdr.h"

#include <cstring>

#include <fmt/format.h>
#include <prerror.h>
#include <secport.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"

namespace mailseal::clients::internal {

namespace {

namespace fs = std::filesystem;

// DER tags and the algorithm identifiers' encoded OIDs (RFC 3565 section
// 4.1: aes256-CBC 2.16.840.1.101.3.4.1.42; RFC 8018 appendix B.2.2:
// des-EDE3-CBC 1.2.840.113549.3.7).
constexpr std::uint8_t kSequence = 0x30;
constexpr std::uint8_t kOctetString = 0x04;
constexpr std::uint8_t kObjectIdentifier = 0x06;
constexpr std::uint8_t kAes256CbcOid[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A};
constexpr std::uint8_t kTripleDesCbcOid[] = {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x03, 0x07};

std::size_t block_size(SdrCipher cipher) {
  return cipher == SdrCipher::Aes256Cbc ? 16 : 8;
}

ByteView oid_of(SdrCipher cipher) {
  return cipher == SdrCipher::Aes256Cbc ? ByteView(kAes256CbcOid) : ByteView(kTripleDesCbcOid);
}

void put_element(Bytes& out, std::uint8_t tag, ByteView content) {
  out.push_back(tag);
  const std::size_t length = content.size();
  if (length < 0x80) {
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    Bytes digits;
    for (std::size_t rest = length; rest > 0; rest >>= 8)
      digits.insert(digits.begin(), static_cast<std::uint8_t>(rest & 0xff));
    out.push_back(static_cast<std::uint8_t>(0x80 | digits.size()));
    out.insert(out.end(), digits.begin(), digits.end());
  }
  out.insert(out.end(), content.begin(), content.end());
}

// One DER element of `tag` at the front of `in` (definite, minimal length);
// its content, with `in` moved past it.
std::optional<ByteView> take_element(ByteView& in, std::uint8_t tag) {
  if (in.size() < 2 || in[0] != tag)
    return std::nullopt;
  std::size_t length = in[1];
  std::size_t header = 2;
  if (length >= 0x80) {
    const std::size_t digits = length & 0x7f;
    if (digits == 0 || digits > 4 || in.size() < 2 + digits || in[2] == 0)
      return std::nullopt;
    length = 0;
    for (std::size_t i = 0; i < digits; ++i)
      length = (length << 8) | in[2 + i];
    if (length < 0x80)
      return std::nullopt;  // not the shortest form
    header += digits;
  }
  if (in.size() - header < length)
    return std::nullopt;
  ByteView content = in.subspan(header, length);
  in = in.subspan(header + length);
  return content;
}

std::string nss_error() {
  const PRErrorCode code = PR_GetError();
  const char* name = PR_ErrorToName(code);
  return fmt::format("NSS error {} ({})", name ? name : "unknown", code);
}

// NSS asks for the database's password through this (PK11_SetPasswordFunc),
// with the `wincx` of the call that needs it: once; a retry means the
// password was wrong, and no answer makes NSS give up.
char* give_password(PK11SlotInfo*, PRBool retry, void* argument) {
  const auto* password = static_cast<const Passphrase*>(argument);
  if (retry || password == nullptr)
    return nullptr;
  const std::string_view text = password->view();
  auto* out = static_cast<char*>(PORT_Alloc(text.size() + 1));  // NSS frees it
  if (out == nullptr)
    return nullptr;
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

CK_MECHANISM_TYPE mechanism_of(SdrCipher cipher) {
  return cipher == SdrCipher::Aes256Cbc ? CKM_AES_CBC_PAD : CKM_DES3_CBC_PAD;
}

SECItem item_of(ByteView bytes) {
  return {siBuffer, const_cast<unsigned char*>(bytes.data()), static_cast<unsigned int>(bytes.size())};
}

}  // namespace

Bytes encode_sdr_envelope(const SdrEnvelope& envelope) {
  Bytes algorithm;
  put_element(algorithm, kObjectIdentifier, oid_of(envelope.cipher));
  put_element(algorithm, kOctetString, envelope.iv);
  Bytes body;
  put_element(body, kOctetString, envelope.key_id);
  put_element(body, kSequence, algorithm);
  put_element(body, kOctetString, envelope.ciphertext);
  Bytes out;
  put_element(out, kSequence, body);
  return out;
}

std::optional<SdrEnvelope> decode_sdr_envelope(ByteView der) {
  auto body = take_element(der, kSequence);
  if (!body || !der.empty())
    return std::nullopt;
  auto key_id = take_element(*body, kOctetString);
  auto algorithm = take_element(*body, kSequence);
  auto ciphertext = take_element(*body, kOctetString);
  if (!key_id || !algorithm || !ciphertext || !body->empty())
    return std::nullopt;
  auto oid = take_element(*algorithm, kObjectIdentifier);
  auto iv = take_element(*algorithm, kOctetString);
  if (!oid || !iv || !algorithm->empty())
    return std::nullopt;
  SdrEnvelope out;
  if (std::equal(oid->begin(), oid->end(), std::begin(kAes256CbcOid), std::end(kAes256CbcOid)))
    out.cipher = SdrCipher::Aes256Cbc;
  else if (std::equal(oid->begin(), oid->end(), std::begin(kTripleDesCbcOid), std::end(kTripleDesCbcOid)))
    out.cipher = SdrCipher::TripleDesCbc;
  else
    return std::nullopt;
  const std::size_t block = block_size(out.cipher);
  if (iv->size() != block || ciphertext->empty() || ciphertext->size() % block != 0)
    return std::nullopt;
  out.key_id.assign(key_id->begin(), key_id->end());
  out.iv.assign(iv->begin(), iv->end());
  out.ciphertext.assign(ciphertext->begin(), ciphertext->end());
  return out;
}

ProfileSdr::ProfileSdr(const fs::path& directory, const Passphrase* database_password)
    : directory_(directory), has_password_(database_password != nullptr) {
  if (database_password)
    password_ = *database_password;
  PK11_SetPasswordFunc(give_password);
  const std::string configuration = "sql:" + directory.string();
  // No module database (pkcs11.txt stays Thunderbird's) and no root
  // certificates: only the profile's own certificate and key databases.
  context_.reset(NSS_InitContext(configuration.c_str(), "", "", "", nullptr, NSS_INIT_NOMODDB | NSS_INIT_NOROOTINIT));
  if (!context_)
    throw Error(ErrorCode::Io,
                fmt::format("cannot open the NSS database in {}: {}", directory.string(), nss_error()));
  slot_.reset(PK11_GetInternalKeySlot());
  if (!slot_)
    throw Error(ErrorCode::Internal, fmt::format("NSS has no key slot: {}", nss_error()));
  if (PK11_NeedUserInit(slot_.get())) {
    std::string initial(has_password_ ? password_.view() : std::string_view{});
    const SECStatus status = PK11_InitPin(slot_.get(), "", initial.c_str());
    secure_wipe(initial.data(), initial.size());
    if (status != SECSuccess)
      throw Error(ErrorCode::Io, fmt::format("cannot initialise the NSS database in {}: {}", directory.string(),
                                             nss_error()));
  }
  void* request = has_password_ ? &password_ : nullptr;
  if (PK11_NeedLogin(slot_.get()) && !PK11_IsLoggedIn(slot_.get(), request)) {
    if (!has_password_)
      throw Error(ErrorCode::BadPassword,
                  fmt::format("Thunderbird's key database in {} has a primary password", directory.string()),
                  "give it in a file with --database-password-file FILE");
    if (PK11_Authenticate(slot_.get(), PR_TRUE, request) != SECSuccess)
      throw Error(ErrorCode::BadPassword,
                  fmt::format("the primary password of Thunderbird's key database in {} is wrong", directory.string()),
                  "check the file given with --database-password-file");
  }
}

ProfileSdr::~ProfileSdr() = default;

nss::SymKey ProfileSdr::find_key(ByteView key_id, SdrCipher& cipher) {
  SECItem id = item_of(key_id);
  nss::SymKey key(PK11_FindFixedKey(slot_.get(), CKM_AES_CBC, &id, has_password_ ? &password_ : nullptr));
  if (!key)
    return key;
  nss::ItemData type;
  if (PK11_ReadRawAttribute(PK11_TypeSymKey, key.get(), CKA_KEY_TYPE, type.get()) != SECSuccess ||
      type.item().len != sizeof(CK_KEY_TYPE))
    throw Error(ErrorCode::Internal, fmt::format("cannot read the type of an SDR key: {}", nss_error()));
  CK_KEY_TYPE key_type = 0;
  std::memcpy(&key_type, type.item().data, sizeof key_type);
  if (key_type == CKK_AES)
    cipher = SdrCipher::Aes256Cbc;
  else if (key_type == CKK_DES3)
    cipher = SdrCipher::TripleDesCbc;
  else
    throw Error(ErrorCode::Unsupported,
                fmt::format("the SDR key of the NSS database in {} is of a type Thunderbird does not use ({})",
                            directory_.string(), key_type));
  return key;
}

std::string ProfileSdr::encrypt(std::string_view text) {
  SdrEnvelope envelope;
  envelope.key_id.assign(std::begin(kSdrDefaultKeyId), std::end(kSdrDefaultKeyId));
  void* request = has_password_ ? &password_ : nullptr;
  nss::SymKey key = find_key(envelope.key_id, envelope.cipher);
  if (!key) {
    // As NSS's SDR does on its first use, with the cipher Thunderbird uses.
    SECItem id = item_of(envelope.key_id);
    key.reset(PK11_TokenKeyGen(slot_.get(), CKM_AES_KEY_GEN, nullptr, 32, &id, PR_TRUE, request));
    envelope.cipher = SdrCipher::Aes256Cbc;
    if (!key)
      throw Error(ErrorCode::Io, fmt::format("cannot make an SDR key in the NSS database in {}: {}",
                                             directory_.string(), nss_error()));
  }
  envelope.iv.resize(block_size(envelope.cipher));
  if (PK11_GenerateRandom(envelope.iv.data(), static_cast<int>(envelope.iv.size())) != SECSuccess)
    throw Error(ErrorCode::Internal, fmt::format("NSS gave no random bytes: {}", nss_error()));
  SECItem iv = item_of(envelope.iv);
  envelope.ciphertext.resize(text.size() + block_size(envelope.cipher));
  unsigned int length = 0;
  if (PK11_Encrypt(key.get(), mechanism_of(envelope.cipher), &iv, envelope.ciphertext.data(), &length,
                   static_cast<unsigned int>(envelope.ciphertext.size()),
                   reinterpret_cast<const unsigned char*>(text.data()),
                   static_cast<unsigned int>(text.size())) != SECSuccess)
    throw Error(ErrorCode::Internal, fmt::format("NSS could not encrypt with the SDR key: {}", nss_error()));
  envelope.ciphertext.resize(length);
  return encode_base64(encode_sdr_envelope(envelope));
}

std::optional<std::string> ProfileSdr::decrypt(std::string_view base64) {
  Bytes der;
  try {
    der = decode_base64(base64);
  } catch (const Error&) {
    return std::nullopt;
  }
  auto envelope = decode_sdr_envelope(der);
  if (!envelope)
    return std::nullopt;
  SdrCipher key_cipher = envelope->cipher;
  nss::SymKey key = find_key(envelope->key_id, key_cipher);
  if (!key || key_cipher != envelope->cipher)
    return std::nullopt;
  SECItem iv = item_of(envelope->iv);
  SecretBytes out(envelope->ciphertext.size());
  unsigned int length = 0;
  if (PK11_Decrypt(key.get(), mechanism_of(envelope->cipher), &iv, out.data(), &length,
                   static_cast<unsigned int>(out.size()), envelope->ciphertext.data(),
                   static_cast<unsigned int>(envelope->ciphertext.size())) != SECSuccess)
    return std::nullopt;
  return std::string(out.begin(), out.begin() + length);
}

}  // namespace mailseal::clients::internal
