// Apple configuration profiles (.mobileconfig, XML property lists) for
// iPhone, iPad and macOS Mail.

#include <algorithm>

#include <fmt/format.h>

#include "clients/internal/cbc.h"
#include "mailseal/clients/mail_clients.h"
#include "mailseal/common/base64.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/text.h"
#include "mailseal/crypto/keys.h"

namespace mailseal::clients {

namespace {

std::string random_uuid() {
  Bytes bytes = crypto::random_bytes(16);
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string hex = ascii_upper(to_hex(bytes));
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4), hex.substr(16, 4),
                     hex.substr(20));
}

// One <dict> of a payload; values are already-formatted plist elements.
class PlistDict {
 public:
  void string(std::string_view key, std::string_view value) {
    add(key, fmt::format("<string>{}</string>", escape_markup(value)));
  }
  void integer(std::string_view key, long value) { add(key, fmt::format("<integer>{}</integer>", value)); }
  void data(std::string_view key, ByteView value) {
    std::string encoded = encode_base64(value);
    std::string lines;
    for (std::size_t i = 0; i < encoded.size(); i += 64)
      lines += "\t" + encoded.substr(i, 64) + "\n";
    add(key, "<data>\n" + lines + "</data>");
  }
  void raw(std::string_view key, std::string element) { add(key, std::move(element)); }
  std::string str() const { return "<dict>\n" + body_ + "</dict>"; }

 private:
  void add(std::string_view key, const std::string& element) {
    body_ += fmt::format("<key>{}</key>\n{}\n", escape_markup(key), element);
  }
  std::string body_;
};

}  // namespace

AppleProfile apple_configuration_profile(profile::Profile& profile, const Passphrase& password, bool include_password,
                                         const KeyAccess& key_access, TimePoint now) {
  // Apple Mail's S/MIME is not known to read AES-GCM: senders are asked for
  // CBC before the certificates go into the profile.
  CbcReaders cbc = internal::ask_senders_for_cbc(profile, key_access, now);
  const std::string identifier = "org.mailseal.profile." + profile.fingerprint().to_string(100);
  std::string payloads;
  crypto::Certificate root = profile.root_certificate();
  {
    PlistDict root_payload;
    root_payload.string("PayloadCertificateFileName", "mailseal-root.cer");
    root_payload.data("PayloadContent", root.der());
    root_payload.string("PayloadDescription", "The root of your mailseal profile: it issues your mail certificates");
    root_payload.string("PayloadDisplayName", "mailseal root " + root.common_name());
    root_payload.string("PayloadIdentifier", identifier + ".root");
    root_payload.string("PayloadType", "com.apple.security.root");
    root_payload.string("PayloadUUID", random_uuid());
    root_payload.integer("PayloadVersion", 1);
    payloads += root_payload.str() + "\n";
  }
  // Apple reads one identity per PKCS#12; the legacy protection (3DES,
  // SHA-1 MAC) is what every iOS and macOS version imports.
  for (const auto& exported : profile.export_pkcs12_per_key(password, crypto::Pkcs12Protection::Legacy, key_access)) {
    PlistDict identity;
    if (include_password)
      identity.string("Password", password.view());
    identity.string("PayloadCertificateFileName",
                    fmt::format("{}-{}.p12", exported.address.str(), store::to_string(exported.purpose)));
    identity.data("PayloadContent", exported.data);
    identity.string("PayloadDescription",
                    fmt::format("Your S/MIME key for {} ({})", exported.address.str(), exported.friendly_name));
    identity.string("PayloadDisplayName", exported.friendly_name);
    identity.string("PayloadIdentifier",
                    fmt::format("{}.{}.{}", identifier, exported.address.str(), store::to_string(exported.purpose)));
    identity.string("PayloadType", "com.apple.security.pkcs12");
    identity.string("PayloadUUID", random_uuid());
    identity.integer("PayloadVersion", 1);
    payloads += identity.str() + "\n";
  }
  std::string addresses;
  for (const auto& address : profile.addresses())
    addresses += (addresses.empty() ? "" : ", ") + address.str();
  PlistDict top;
  top.raw("PayloadContent", "<array>\n" + payloads + "</array>");
  top.string("PayloadDescription", "S/MIME keys and certificates for " + addresses + ", made by mailseal");
  top.string("PayloadDisplayName", "mailseal: " + addresses);
  top.string("PayloadIdentifier", identifier);
  top.string("PayloadType", "Configuration");
  top.string("PayloadUUID", random_uuid());
  top.integer("PayloadVersion", 1);
  std::string document =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
      "<plist version=\"1.0\">\n" +
      top.str() + "\n</plist>\n";
  return AppleProfile{std::move(document), std::move(cbc)};
}

}  // namespace mailseal::clients
