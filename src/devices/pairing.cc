#include "mailseal/devices/pairing.h"

#include <openssl/crypto.h>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/udf/base32.h"
#include "mailseal/udf/udf.h"

namespace mailseal::devices {

namespace {

constexpr std::string_view kWitnessType = "application/mailseal-witness";
constexpr std::string_view kPinIdType = "application/mailseal-pin-id";
constexpr std::string_view kPinKeyType = "application/mailseal-pin-key";
constexpr std::size_t kPinCharacters = kPinBits / 5;
// The purposes of the two PIN MACs (each its own content type).
constexpr std::string_view kJoinPurpose = "join";
constexpr std::string_view kBundlePurpose = "bundle";

// Each field is length-prefixed, so that no two field lists serialise alike.
Bytes length_prefixed(std::initializer_list<ByteView> fields) {
  Bytes out;
  for (ByteView field : fields) {
    std::string length = fmt::format("{}:", field.size());
    out.insert(out.end(), length.begin(), length.end());
    out.insert(out.end(), field.begin(), field.end());
  }
  return out;
}

}  // namespace

std::string compute_witness(const Identity& profile, ByteView signature_key, ByteView agreement_key,
                            std::string_view device_nonce, std::string_view service_nonce) {
  Bytes data = length_prefixed(
      {as_bytes(profile.str()), signature_key, agreement_key, as_bytes(device_nonce), as_bytes(service_nonce)});
  return udf::Fingerprint::of_content(udf::DigestAlgorithm::Sha2_512, kWitnessType, data).to_string(kWitnessBits);
}

bool witness_matches(std::string_view typed, std::string_view witness) {
  std::string given = udf::strip_presentation(typed);
  std::string expected = udf::strip_presentation(witness);
  return given.size() * 5 >= 100 && given.size() <= expected.size() && expected.starts_with(given);
}

std::string new_pin() {
  Bytes random = crypto::random_bytes((kPinBits + 7) / 8);
  return udf::group_characters(udf::base32_encode(random, kPinBits));
}

std::string canonical_pin(std::string_view typed) {
  std::string stripped = udf::strip_presentation(typed);
  if (stripped.size() != kPinCharacters) {
    throw Error(ErrorCode::Usage, fmt::format("a PIN has {} letters and digits", kPinCharacters));
  }
  try {
    (void)udf::base32_decode(stripped);
  } catch (const Error&) {
    throw Error(ErrorCode::Usage, "a PIN holds only the letters A-Z and the digits 2-7");
  }
  return udf::group_characters(stripped);
}

std::string pin_id(std::string_view pin) {
  return udf::Fingerprint::authenticator(udf::DigestAlgorithm::Sha2_512, canonical_pin(pin), kPinIdType, {})
      .to_string(200);
}

SecretBytes pin_mac_key(std::string_view pin) {
  udf::Fingerprint key =
      udf::Fingerprint::authenticator(udf::DigestAlgorithm::Sha2_512, canonical_pin(pin), kPinKeyType, {});
  ByteView binary = key.binary();
  return SecretBytes(binary.begin() + 1, binary.end());  // without the type byte
}

std::string pin_mac(ByteView mac_key, std::string_view purpose, ByteView data) {
  std::string key = to_hex(mac_key);
  std::string mac = udf::Fingerprint::authenticator(udf::DigestAlgorithm::Sha2_512, key,
                                                    fmt::format("application/mailseal-{}", purpose), data)
                        .to_string(200);
  secure_wipe(key.data(), key.size());
  return mac;
}

std::string join_pin_mac(ByteView mac_key, const Identity& profile, ByteView signature_key, ByteView agreement_key,
                         std::string_view device_nonce, std::string_view device_name) {
  Bytes data = length_prefixed(
      {as_bytes(profile.str()), signature_key, agreement_key, as_bytes(device_nonce), as_bytes(device_name)});
  return pin_mac(mac_key, kJoinPurpose, data);
}

std::string bundle_pin_proof(ByteView mac_key, const Identity& profile, const DeviceId& device,
                             const RequestId& request) {
  return pin_mac(mac_key, kBundlePurpose,
                 length_prefixed({as_bytes(profile.str()), as_bytes(device.str()), as_bytes(request.str())}));
}

bool pin_mac_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mailseal::devices
