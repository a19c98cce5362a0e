// Thunderbird's saved passwords (src/clients/internal/logins.h, sdr.h): the
// SDR envelope decoder that reads logins.json's encrypted fields, and
// logins.json itself as `setup gateway --thunderbird` reads and changes it
// (with a stand-in cipher: no NSS database here).
// Properties: an envelope that decodes re-encodes to the same bytes; a
// document that parses takes the login, holds it once afterwards, and keeps
// every other entry.

#include <algorithm>
#include <cstdlib>

#include "clients/internal/logins.h"
#include "clients/internal/sdr.h"
#include "fuzz.h"
#include "mailseal/common/error.h"
#include "stand_in_cipher.h"

namespace mailseal::fuzz {

namespace {

bool is_string(const nlohmann::json& entry, const char* name, std::string_view value) {
  const auto found = entry.find(name);
  return found != entry.end() && found->is_string() && found->get_ref<const std::string&>() == value;
}

// An entry store_login counts as the login's: live, its origin and realm,
// the user name (the stand-in's "encryption").
bool is_ours(const nlohmann::json& entry) {
  const auto deleted = entry.find("deleted");
  if (deleted != entry.end() && !(deleted->is_boolean() && !deleted->get<bool>()))
    return false;
  return is_string(entry, "hostname", "smtp://127.0.0.1") && is_string(entry, "httpRealm", "smtp://127.0.0.1") &&
         is_string(entry, "encryptedUsername", "enc:thunderbird");
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  using namespace clients::internal;
  if (auto envelope = decode_sdr_envelope(input)) {
    const Bytes again = encode_sdr_envelope(*envelope);
    if (!std::equal(again.begin(), again.end(), input.begin(), input.end()))
      std::abort();
  }
  nlohmann::json logins;
  try {
    logins = parse_logins(as_string_view(input), "logins.json");
  } catch (const Error&) {
    return;
  }
  const std::size_t before = logins.contains("logins") ? logins["logins"].size() : 0;
  StandInCipher cipher;
  const Passphrase secret("fuzz");
  const ServerLogin login{"smtp://127.0.0.1", "thunderbird", &secret};
  const StoredLogin stored = store_login(logins, login, cipher, from_unix_seconds(1700000000));
  std::size_t ours = 0;
  for (const auto& entry : logins["logins"])
    ours += is_ours(entry) ? 1 : 0;
  const std::size_t after = logins["logins"].size();
  if (ours != 1 || after != before + (stored.replaced ? 0 : 1) - stored.duplicates_removed)
    std::abort();
  (void)logins.dump();  // what is written back serialises
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
