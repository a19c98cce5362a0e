#pragma once
// The verified certificates of a domain as DNS records (RFC 8162, SMIMEA),
// for a domain that wants its senders' correspondents to find them in DNS
// too: `mailseal service smimea --domain DOMAIN` (docs/service.md, "SMIMEA").

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/bytes.h"

namespace mailseal::service {

// The owner name of an address's SMIMEA records (RFC 8162 section 3): the
// SHA2-256 digest of the local part (UTF-8, as the service keeps it: lower
// case) truncated to 28 octets, in hex, then "._smimecert." and the
// domain, absolute (with the final dot).
std::string smimea_owner(std::string_view local_part, std::string_view domain);

// One record: an end-entity mail certificate of a verified address.
struct SmimeaRecord {
  std::string address;
  std::string owner;  // smimea_owner
  Bytes certificate;  // DER
};

// The records of every verified address at `domain` (ASCII case ignored) in
// the service's database (a SQLite file or a PostgreSQL URI): each mail
// certificate of the profile served for it that names the address and
// allows email protection. Ordered by address. Only verified addresses: a
// listed one (an unverified service) was never proved. Error(Usage) for a
// domain that is not a host name.
std::vector<SmimeaRecord> smimea_records(const std::string& database, std::string_view domain);

// The record as a zone-file line: usage 3 (DANE-EE: the certificate
// itself), selector 0 (the full certificate), matching type 0 (exact: the
// certificate's DER, in hex), RFC 8162 section 2 and RFC 6698 section 2.1.
std::string smimea_zone_line(const SmimeaRecord& record, std::chrono::seconds ttl);

}  // namespace mailseal::service
