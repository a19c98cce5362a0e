#pragma once
// Pairing a new device with a profile (DESIGN.md section 6): the witness
// both screens show, and the one-time PIN an admin device hands out. Both
// bind the new device's keys so that a key service substituting its own is
// caught.

#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/secret.h"

namespace mailseal::devices {

// Precision of the witness (at least 100 bits: a service would need a second
// preimage of 112 bits to show the same one for its own key).
inline constexpr int kWitnessBits = 120;
// Entropy of a PIN (at least 80 bits; here 100, twenty Base32 characters).
inline constexpr int kPinBits = 100;

// UDF content digest over the profile's fingerprint, both device keys and
// the nonces of the device and of the service, presented at kWitnessBits.
std::string compute_witness(const Identity& profile, ByteView signature_key, ByteView agreement_key,
                            std::string_view device_nonce, std::string_view service_nonce);

// True if `typed` is the witness (any case, dashes optional, at least 100
// bits of it).
bool witness_matches(std::string_view typed, std::string_view witness);

// A fresh PIN: "ABCD-EFGH-IJKL-MNOP-QRST".
std::string new_pin();
// The PIN in canonical form; Error(Usage) unless it is one.
std::string canonical_pin(std::string_view typed);

// What the service sees of a PIN: an identifier it cannot reverse.
std::string pin_id(std::string_view pin);
// The key the PIN's MACs are made with (the admin device keeps this, not
// the PIN).
SecretBytes pin_mac_key(std::string_view pin);
// MAC over `purpose` and `data` with a PIN MAC key, as a UDF presentation.
std::string pin_mac(ByteView mac_key, std::string_view purpose, ByteView data);
// The MAC a device joining with a PIN sends: over the profile's fingerprint,
// both its keys (SubjectPublicKeyInfo DER), its nonce and its name.
std::string join_pin_mac(ByteView mac_key, const Identity& profile, ByteView signature_key, ByteView agreement_key,
                         std::string_view device_nonce, std::string_view device_name);
// The proof in a PIN join's key bundle that it comes from whoever made the
// PIN: a MAC over the profile's fingerprint, the device id and the request id.
std::string bundle_pin_proof(ByteView mac_key, const Identity& profile, const DeviceId& device,
                             const RequestId& request);
// Constant-time comparison of two MACs.
bool pin_mac_equal(std::string_view a, std::string_view b);

}  // namespace mailseal::devices
