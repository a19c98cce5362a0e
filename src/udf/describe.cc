#include "mailseal/udf/describe.h"

#include "mailseal/common/error.h"
#include "mailseal/common/secret.h"
#include "mailseal/udf/shamir.h"
#include "mailseal/udf/strong_address.h"

namespace mailseal::udf {

namespace {

UdfDescription of_fingerprint(const Fingerprint& fingerprint) {
  UdfDescription description;
  description.type = static_cast<std::uint8_t>(fingerprint.type());
  description.kind = type_kind(description.type);
  description.fingerprint = fingerprint;
  return description;
}

UdfDescription of_fixed(std::string_view text, FixedUdf fixed) {
  UdfDescription description;
  description.type = static_cast<std::uint8_t>(fixed.type);
  description.kind = type_kind(description.type);
  description.bytes = fixed.data.size();
  if (fixed.type == TypeId::ShamirShare) {
    Share share = Share::parse(text);
    description.quorum = share.quorum;
    description.share = share.x;
  }
  secure_wipe(fixed.data.data(), fixed.data.size());
  return description;
}

}  // namespace

UdfDescription describe(std::string_view text) {
  if (StrongAddress::looks_strong(text)) {
    StrongAddress strong = StrongAddress::parse(text);
    UdfDescription description = of_fingerprint(strong.fingerprint);
    description.kind = "strong address";
    description.address = strong.address;
    return description;
  }
  try {
    return of_fingerprint(Fingerprint::parse(text));
  } catch (const Error& fingerprint_error) {
    FixedUdf fixed;
    try {
      fixed = parse_fixed(text);
    } catch (const Error&) {
      throw fingerprint_error;
    }
    return of_fixed(text, std::move(fixed));
  }
}

}  // namespace mailseal::udf
