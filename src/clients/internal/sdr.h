#pragma once
// NSS's secret decoder ring (SDR): how Firefox and Thunderbird encrypt the
// user names and passwords of logins.json with a key kept in the profile's
// key database (key4.db).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "clients/internal/nss_handles.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/secret.h"

namespace mailseal::clients::internal {

// The ciphers an SDR envelope names: triple DES, what NSS always wrote and
// still reads, and AES-256, what Thunderbird writes now (Thunderbird 153:
// security.sdr.mechanism 1, PK11SDR_EncryptWithMechanism).
enum class SdrCipher { TripleDesCbc, Aes256Cbc };

// The DER that NSS's SDR writes (nss lib/pk11wrap/pk11sdr.c, "SDRResult"):
//   SEQUENCE { keyid OCTET STRING,
//              SEQUENCE { algorithm OBJECT IDENTIFIER, iv OCTET STRING },
//              data OCTET STRING }   -- CBC with PKCS #7 padding
struct SdrEnvelope {
  Bytes key_id;
  SdrCipher cipher = SdrCipher::Aes256Cbc;
  Bytes iv;
  Bytes ciphertext;
};
Bytes encode_sdr_envelope(const SdrEnvelope& envelope);
// The envelope, or nullopt for anything else (strict DER, an IV of the
// cipher's block size, a whole number of blocks).
std::optional<SdrEnvelope> decode_sdr_envelope(ByteView der);

// The key id NSS's SDR uses when it is given none (pk11sdr.c).
inline constexpr std::uint8_t kSdrDefaultKeyId[16] = {0xF8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// What logins.json's code needs of the SDR (a stand-in in unit tests).
class LoginCipher {
 public:
  virtual ~LoginCipher() = default;
  // base64 of the envelope, as logins.json holds it (encType 1).
  virtual std::string encrypt(std::string_view text) = 0;
  // The text, or nullopt when this database cannot decrypt it (another
  // key, not an envelope).
  virtual std::optional<std::string> decrypt(std::string_view base64) = 0;
};

// The SDR of a Thunderbird profile's NSS database (sql:DIRECTORY), opened
// with system NSS. Encrypts with the key Thunderbird uses (the default key
// id): AES-256-CBC when that key is an AES key, triple DES when it is an
// older profile's DES3 key, and, when the database has none yet, makes an
// AES-256 key under that id, as Thunderbird would on its first saved
// password. (The NSS of Debian 12, 3.87, has no AES in PK11SDR_Encrypt and
// fails on an AES key, so the envelope is made here around PK11_Encrypt; the
// key never leaves the database.)
// Opening creates the database when it is missing (with `database_password`
// as its primary password, or none) and unlocks it: Error(BadPassword) when
// it has a primary password and `database_password` is missing or wrong,
// before anything changes.
class ProfileSdr final : public LoginCipher {
 public:
  ProfileSdr(const std::filesystem::path& directory, const Passphrase* database_password);
  ProfileSdr(const ProfileSdr&) = delete;
  ProfileSdr& operator=(const ProfileSdr&) = delete;
  ~ProfileSdr() override;

  std::string encrypt(std::string_view text) override;
  std::optional<std::string> decrypt(std::string_view base64) override;

 private:
  nss::SymKey find_key(ByteView key_id, SdrCipher& cipher);

  std::filesystem::path directory_;
  Passphrase password_;
  bool has_password_ = false;
  nss::Context context_;  // declared before the slot: released after it
  nss::Slot slot_;
};

}  // namespace mailseal::clients::internal
