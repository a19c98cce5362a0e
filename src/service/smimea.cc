#include "mailseal/service/smimea.h"

#include <openssl/evp.h>

#include <algorithm>

#include <fmt/format.h>

#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/keyservice/documents.h"
#include "service/storage.h"

namespace mailseal::service {

namespace {

// RFC 8162 section 3: the digest truncated to 28 octets, and the label
// after it.
constexpr std::size_t kOwnerDigestBytes = 28;
constexpr std::string_view kSmimeaLabel = "._smimecert.";
// RFC 6698 section 2.1 (SMIMEA's RDATA is TLSA's): DANE-EE, full
// certificate, exact match.
constexpr int kUsageDaneEe = 3;
constexpr int kSelectorFullCertificate = 0;
constexpr int kMatchingExact = 0;

// A host name: labels of letters, digits and hyphens, 1 to 63 each, at
// most 253 in all; anything else would not be a name in a zone file.
bool is_host_name(std::string_view domain) {
  if (domain.empty() || domain.size() > 253)
    return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= domain.size(); ++i) {
    if (i == domain.size() || domain[i] == '.') {
      if (label == 0 || label > 63 || domain[i - 1] == '-' || domain[i - label] == '-')
        return false;
      label = 0;
      continue;
    }
    const char c = domain[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return false;
    ++label;
  }
  return true;
}

}  // namespace

std::string smimea_owner(std::string_view local_part, std::string_view domain) {
  Bytes digest(32);
  unsigned int length = 0;
  if (EVP_Digest(local_part.data(), local_part.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != digest.size())
    throw Error(ErrorCode::Internal, "SHA2-256 failed");
  digest.resize(kOwnerDigestBytes);
  return fmt::format("{}{}{}.", to_hex(digest), kSmimeaLabel, ascii_lower(domain));
}

std::vector<SmimeaRecord> smimea_records(const std::string& database, std::string_view domain) {
  if (!is_host_name(domain))
    throw Error(ErrorCode::Usage, fmt::format("'{}' is not a domain name", domain), "give --domain example.org");
  const std::string wanted = ascii_lower(domain);
  ServiceStore store(database);
  std::vector<SmimeaRecord> out;
  for (const Claim& claim : store.verified_claims()) {
    const EmailAddress address = EmailAddress::parse(claim.address);
    if (ascii_lower(address.domain()) != wanted)
      continue;
    std::optional<AccountRecord> account = store.account(claim.account);
    if (!account)
      continue;
    auto parsed = keyservice::PublishedProfile::parse(account->document);
    if (!std::holds_alternative<keyservice::PublishedProfile>(parsed))
      throw Error(ErrorCode::Internal, "a profile the service stored does not read");
    for (const auto& certificate : std::get<keyservice::PublishedProfile>(parsed).certificates) {
      const auto named = certificate.email_addresses();
      if (certificate.allows_email_protection() && std::find(named.begin(), named.end(), address) != named.end())
        out.push_back({address.str(), smimea_owner(address.local_part(), address.domain()), certificate.der()});
    }
  }
  return out;
}

std::string smimea_zone_line(const SmimeaRecord& record, std::chrono::seconds ttl) {
  return fmt::format("{} {} IN SMIMEA {} {} {} {}", record.owner, ttl.count(), kUsageDaneEe, kSelectorFullCertificate,
                     kMatchingExact, to_hex(record.certificate));
}

}  // namespace mailseal::service
