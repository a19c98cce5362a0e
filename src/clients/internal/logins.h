#pragma once
// Thunderbird's saved passwords (logins.json; Mozilla's
// toolkit/components/passwordmgr, LoginStore.sys.mjs and
// storage-json.sys.mjs): the document as mailseal reads, changes and
// writes it, over a LoginCipher (sdr.h).

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "clients/internal/sdr.h"
#include "mailseal/common/time.h"

namespace mailseal::clients::internal {

// The origin and HTTP realm under which Thunderbird looks up the password
// of an outgoing server: "smtp://" and the host name, without user name or
// port, an IPv6 address in brackets (SmtpServer.sys.mjs,
// _getServerURISpec() and _getPasswordWithoutUI()).
std::string smtp_login_origin(std::string_view host);

// logins.json's text as a document Thunderbird would load: an object whose
// "logins" (if any) is an array of objects and whose "nextId" (if any) is a
// non-negative integer; Error(Malformed) naming `file` otherwise, with a
// hint.
nlohmann::json parse_logins(std::string_view text, const std::filesystem::path& file);

// A new document, as Thunderbird writes one.
nlohmann::json empty_logins();

struct ServerLogin {
  std::string origin;  // also the HTTP realm
  std::string user;
  const Passphrase* password = nullptr;
};

// What store_login did.
struct StoredLogin {
  bool replaced = false;      // an entry for the origin and user was there (its id and guid are kept)
  int duplicates_removed = 0;  // further entries for the same origin and user
};

// Stores `login` in `logins`: the entry with its origin, realm and user
// name (the user name decrypted with `cipher`) gets the new encrypted
// password, further such entries are removed, other entries are kept as
// they are (unknown fields too); without one, a new entry is added with the
// next id and a random guid. `now` is the change's time.
StoredLogin store_login(nlohmann::json& logins, const ServerLogin& login, LoginCipher& cipher, TimePoint now);

}  // namespace mailseal::clients::internal
