// The gateway's credentials: made, listed, removed and checked here; the
// store only keeps them.

#include "mailseal/gateway/credentials.h"

#include <openssl/evp.h>

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/profile/profile.h"
#include "mailseal/store/local_store.h"

namespace mailseal::gateway {

namespace {

constexpr std::size_t kSecretBytes = 32;  // 256 bits
constexpr std::size_t kMaxNameLength = 64;

Bytes sha256(std::string_view text) {
  Bytes digest(32);
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 || length != 32)
    throw Error(ErrorCode::Internal, "SHA-256 failed");
  return digest;
}

std::string base64url(ByteView bytes) {
  std::string text = encode_base64(bytes);
  text.erase(std::remove(text.begin(), text.end(), '='), text.end());
  std::replace(text.begin(), text.end(), '+', '-');
  std::replace(text.begin(), text.end(), '/', '_');
  return text;
}

CredentialInfo info_of(const store::GatewayCredentialRecord& record) {
  return CredentialInfo{record.name, record.addresses, record.created_at};
}

}  // namespace

bool CredentialInfo::allows(const EmailAddress& address) const {
  return addresses.empty() || std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

bool is_valid_credential_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

NewCredential create_credential(profile::Profile& profile, std::string_view name,
                                const std::vector<EmailAddress>& addresses, TimePoint now, bool replace) {
  if (!is_valid_credential_name(name))
    throw Error(ErrorCode::Usage, "a credential name is 1 to 64 letters, digits, '.', '_' or '-'",
                "for example: mutt, thunderbird, laptop");
  std::vector<EmailAddress> allowed;
  for (const auto& address : addresses) {
    if (!profile.has_address(address))
      throw Error(ErrorCode::Usage, fmt::format("{} is not an address of this profile", address.str()),
                  "give only addresses that 'mailseal status' lists");
    if (std::find(allowed.begin(), allowed.end(), address) == allowed.end())
      allowed.push_back(address);
  }
  NewCredential made{CredentialInfo{std::string(name), allowed, now}, base64url(crypto::random_bytes(kSecretBytes))};
  store::GatewayCredentialRecord record{made.info.name, sha256(made.secret), allowed, now};
  if (replace)
    profile.store().replace_gateway_credential(record);
  else
    profile.store().add_gateway_credential(record);
  return made;
}

std::vector<CredentialInfo> list_credentials(profile::Profile& profile) {
  std::vector<CredentialInfo> out;
  for (const auto& record : profile.store().gateway_credentials())
    out.push_back(info_of(record));
  return out;
}

void remove_credential(profile::Profile& profile, std::string_view name) {
  if (!profile.store().remove_gateway_credential(name))
    throw Error(ErrorCode::NotFound, fmt::format("there is no gateway credential named '{}'", name),
                "'mailseal gateway credential list' shows them");
}

std::optional<ProvenCredential> check_credential(profile::Profile& profile, std::string_view name,
                                                 std::string_view secret) {
  Bytes offered = sha256(secret);
  std::optional<ProvenCredential> found;
  for (const auto& record : profile.store().gateway_credentials()) {
    // Every hash is compared, in constant time, whatever the name.
    bool same = constant_time_equal(offered, record.secret_hash);
    if (same && record.name == name)
      found = ProvenCredential{info_of(record), offered};
  }
  return found;
}

bool still_valid(profile::Profile& profile, const ProvenCredential& proven) {
  const auto records = profile.store().gateway_credentials();
  return std::any_of(records.begin(), records.end(), [&](const store::GatewayCredentialRecord& record) {
    return record.name == proven.info.name && constant_time_equal(proven.secret_hash, record.secret_hash);
  });
}

}  // namespace mailseal::gateway
