// Thunderbird's saved passwords, logins.json (logins.h).

#include "clients/internal/logins.h"

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::clients::internal {

namespace {

using nlohmann::json;

// LoginStore.sys.mjs: the data version it writes, and the encType of
// entries encrypted with the SDR (nsILoginManagerCrypto.ENCTYPE_SDR).
constexpr int kLoginsVersion = 3;
constexpr int kEncTypeSdr = 1;
// The largest id JavaScript holds exactly (Number.MAX_SAFE_INTEGER).
constexpr std::int64_t kLargestId = (std::int64_t{1} << 53) - 1;

std::string random_guid() {
  Bytes bytes = crypto::random_bytes(16);
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);  // RFC 9562 section 5.4: version 4
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);  // the variant
  const std::string hex = to_hex(bytes);
  return fmt::format("{{{}-{}-{}-{}-{}}}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4), hex.substr(16, 4),
                     hex.substr(20));
}

std::int64_t milliseconds(TimePoint now) {
  return to_unix_seconds(now) * 1000;
}

bool is_string(const json& entry, const char* name, std::string_view value) {
  const auto found = entry.find(name);
  return found != entry.end() && found->is_string() && found->get_ref<const std::string&>() == value;
}

// Whether `entry` is the saved password of `login`: a live entry (not a
// sync tombstone) with its origin and realm whose user name decrypts to it.
bool is_login_of(const json& entry, const ServerLogin& login, LoginCipher& cipher) {
  const auto deleted = entry.find("deleted");
  if (deleted != entry.end() && !(deleted->is_boolean() && !deleted->get<bool>()))
    return false;
  if (!entry.is_object() || !is_string(entry, "hostname", login.origin) ||
      !is_string(entry, "httpRealm", login.origin))
    return false;
  const auto user = entry.find("encryptedUsername");
  if (user == entry.end() || !user->is_string())
    return false;
  const auto decrypted = cipher.decrypt(user->get_ref<const std::string&>());
  return decrypted && *decrypted == login.user;
}

std::int64_t next_id(const json& logins) {
  std::int64_t next = logins.contains("nextId") ? logins["nextId"].get<std::int64_t>() : 1;
  for (const auto& entry : logins["logins"]) {
    const auto id = entry.find("id");
    if (id == entry.end() || !id->is_number_integer())
      continue;
    const std::int64_t value = id->get<std::int64_t>();  // one past INT64_MAX reads negative
    if (value >= 0 && value < kLargestId)
      next = std::max(next, value + 1);
  }
  return next;
}

}  // namespace

std::string smtp_login_origin(std::string_view host) {
  if (host.find(':') != std::string_view::npos)
    return fmt::format("smtp://[{}]", host);
  return fmt::format("smtp://{}", host);
}

json parse_logins(std::string_view text, const std::filesystem::path& file) {
  const std::string hint =
      "Thunderbird cannot read it either: look at it, or move it aside to start with no saved passwords "
      "(Thunderbird then asks for each one once); nothing was changed";
  json logins = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (logins.is_discarded())
    throw Error(ErrorCode::Malformed, fmt::format("{} is not JSON", file.string()), hint);
  if (!logins.is_object())
    throw Error(ErrorCode::Malformed, fmt::format("{} is not a JSON object", file.string()), hint);
  if (logins.contains("logins") &&
      (!logins["logins"].is_array() ||
       std::any_of(logins["logins"].begin(), logins["logins"].end(), [](const json& e) { return !e.is_object(); })))
    throw Error(ErrorCode::Malformed, fmt::format("{}: \"logins\" is not an array of objects", file.string()), hint);
  if (logins.contains("nextId") &&
      (!logins["nextId"].is_number_unsigned() || logins["nextId"].get<std::uint64_t>() > kLargestId))
    throw Error(ErrorCode::Malformed, fmt::format("{}: \"nextId\" is not an id", file.string()), hint);
  return logins;
}

json empty_logins() {
  return {{"nextId", 1},
          {"logins", json::array()},
          {"potentiallyVulnerablePasswords", json::array()},
          {"dismissedBreachAlertsByLoginGUID", json::object()},
          {"version", kLoginsVersion}};
}

StoredLogin store_login(json& logins, const ServerLogin& login, LoginCipher& cipher, TimePoint now) {
  if (!logins.contains("logins"))
    logins["logins"] = json::array();
  const std::string password = cipher.encrypt(login.password->view());
  const std::string user = cipher.encrypt(login.user);
  const std::int64_t time = milliseconds(now);
  const std::int64_t id = next_id(logins);  // before the entries move into `kept`
  // A new entry takes `id` and leaves nextId one past it: at the largest id
  // that would write 2^53, which Thunderbird's JavaScript does not hold
  // exactly and the next run refuses. Refused before anything changes.
  if (id >= kLargestId && std::none_of(logins["logins"].begin(), logins["logins"].end(),
                                       [&](const json& entry) { return is_login_of(entry, login, cipher); })) {
    throw Error(ErrorCode::Unsupported,
                fmt::format("logins.json has given out every id Thunderbird can hold (its next id would be {}, past "
                            "2^53 - 1); the password was not saved",
                            id + 1),
                "Thunderbird cannot add a saved password to it either: move logins.json aside (Thunderbird then "
                "asks for each password once) and run the command again; nothing was changed");
  }
  StoredLogin stored;
  json kept = json::array();
  for (auto& entry : logins["logins"]) {
    if (!is_login_of(entry, login, cipher)) {
      kept.push_back(std::move(entry));
      continue;
    }
    if (stored.replaced) {
      ++stored.duplicates_removed;
      continue;
    }
    // As storage-json's modifyLogin: the same id and guid, a new password.
    entry["encryptedUsername"] = user;
    entry["encryptedPassword"] = password;
    entry["encType"] = kEncTypeSdr;
    entry["timePasswordChanged"] = time;
    stored.replaced = true;
    kept.push_back(std::move(entry));
  }
  if (!stored.replaced) {
    kept.push_back({{"id", id},
                    {"hostname", login.origin},
                    {"httpRealm", login.origin},
                    {"formSubmitURL", nullptr},
                    {"usernameField", ""},
                    {"passwordField", ""},
                    {"encryptedUsername", user},
                    {"encryptedPassword", password},
                    {"guid", random_guid()},
                    {"encType", kEncTypeSdr},
                    {"timeCreated", time},
                    {"timeLastUsed", time},
                    {"timePasswordChanged", time},
                    {"timesUsed", 1}});
    logins["nextId"] = id + 1;
  }
  logins["logins"] = std::move(kept);
  if (!logins.contains("version"))
    logins["version"] = kLoginsVersion;
  return stored;
}

}  // namespace mailseal::clients::internal
