#pragma once
// S/MIME capabilities: what a correspondent can decrypt. Advertised in the
// SMIMECapabilities signed attribute (RFC 8551 section 2.5.2) and in the
// certificate extension of RFC 4262 (same OID, 1.2.840.113549.1.9.15).

#include <optional>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"

namespace mailseal::smime {

struct Capabilities {
  bool advertised = false;  // a list was seen at all
  bool aes256_gcm = false;
  bool aes128_gcm = false;
  bool aes256_cbc = false;
  bool aes128_cbc = false;
  bool rsaes_oaep = false;

  // What mailseal itself decrypts, in order of preference.
  static Capabilities mailseal();
  // What clients without AES-GCM and RSA-OAEP read: NSS (Thunderbird),
  // gpgsm, Outlook. Advertised by a profile whose keys are also used there.
  static Capabilities cbc_only();
  // The capabilities a certificate's RFC 4262 extension advertises, if any.
  static Capabilities of_certificate_extension(const std::optional<Bytes>& extension);
  // DER SMIMECapabilities (SEQUENCE OF SMIMECapability).
  static Capabilities from_der(ByteView der);
  Bytes to_der() const;
  // Compact text for storage: "aes256-gcm,aes256-cbc,..."; parse is its inverse.
  std::string to_string() const;
  static Capabilities parse(std::string_view text);

  bool operator==(const Capabilities&) const = default;
};

}  // namespace mailseal::smime
