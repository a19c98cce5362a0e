#pragma once
// ASN.1 times (X.509 validity, CRL lastUpdate) as time points.

#include <openssl/asn1.h>

#include "mailseal/common/time.h"

namespace mailseal::crypto::internal {

// Error(Malformed) when the time cannot be read.
TimePoint to_time_point(const ASN1_TIME* time);

}  // namespace mailseal::crypto::internal
