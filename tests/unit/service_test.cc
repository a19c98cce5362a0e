// The device protocol's pieces on their own: request signatures and their
// header, witnesses, PINs and key bundles. The end-to-end tests
// (tests/devices, tests/service) run them against a real service.

#include <gtest/gtest.h>

#include "devices/internal/bundle.h"
#include "mailseal/common/error.h"
#include "mailseal/devices/pairing.h"
#include "mailseal/keyservice/protocol.h"

namespace mailseal {
namespace {

TEST(RequestSignature, RoundTripAndEveryFieldMatters) {
  crypto::PrivateKey key = crypto::PrivateKey::generate(crypto::KeyType::P256);
  const std::string body = R"({"a": 1})";
  std::string header =
      keyservice::authorize(key, "root", "PUT", "/v1/accounts/X", as_bytes(body), from_unix_seconds(1800000000));
  keyservice::RequestAuthorization parsed = keyservice::parse_authorization(header);
  EXPECT_EQ(parsed.key, "root");
  EXPECT_EQ(parsed.time, from_unix_seconds(1800000000));
  EXPECT_NE(header.find(R"(time="1800000000")"), std::string::npos) << "Unix seconds in the header";
  EXPECT_EQ(parsed.nonce.size(), 32u);
  auto pub = key.public_key();
  EXPECT_TRUE(keyservice::verify_authorization(pub, parsed, "PUT", "/v1/accounts/X", as_bytes(body)));
  EXPECT_FALSE(keyservice::verify_authorization(pub, parsed, "POST", "/v1/accounts/X", as_bytes(body)));
  EXPECT_FALSE(keyservice::verify_authorization(pub, parsed, "PUT", "/v1/accounts/Y", as_bytes(body)));
  EXPECT_FALSE(keyservice::verify_authorization(pub, parsed, "PUT", "/v1/accounts/X", as_bytes(std::string("{}"))));
  keyservice::RequestAuthorization later = parsed;
  later.time += std::chrono::seconds(1);
  EXPECT_FALSE(keyservice::verify_authorization(pub, later, "PUT", "/v1/accounts/X", as_bytes(body)));
  EXPECT_NE(
      parsed.nonce,
      keyservice::parse_authorization(keyservice::authorize(key, "root", "PUT", "/", {}, from_unix_seconds(1))).nonce)
      << "a fresh nonce every time";
}

TEST(RequestSignature, MalformedHeadersAreRefused) {
  for (
      const char* header :
      {"", "Basic abc", "Mailseal-Signature", "Mailseal-Signature key=\"root\"",
       R"(Mailseal-Signature key="root", time="x", nonce="00112233445566778899aabbccddeeff", signature="AAAA")",
       R"(Mailseal-Signature key="root", time="1", nonce="0011", signature="AAAA")",
       R"(Mailseal-Signature key="root", key="root", time="1", nonce="00112233445566778899aabbccddeeff", signature="AAAA")",
       R"(Mailseal-Signature key="root", time="1", nonce="00112233445566778899aabbccddeeff", signature="AAAA", extra="1")",
       R"(Mailseal-Signature key="root, time="1")"}) {
    EXPECT_THROW(keyservice::parse_authorization(header), Error) << header;
  }
}

TEST(Pairing, WitnessBindsEveryInput) {
  Bytes a = {1, 2, 3}, b = {4, 5, 6};
  std::string witness = devices::compute_witness(Identity("FP"), a, b, "n1", "n2");
  EXPECT_EQ(witness.size(), 29u) << "120 bits: six groups of four";
  EXPECT_EQ(witness, devices::compute_witness(Identity("FP"), a, b, "n1", "n2"));
  EXPECT_NE(witness, devices::compute_witness(Identity("FQ"), a, b, "n1", "n2"));
  EXPECT_NE(witness, devices::compute_witness(Identity("FP"), b, a, "n1", "n2")) << "keys swapped";
  EXPECT_NE(witness, devices::compute_witness(Identity("FP"), a, b, "n1", "n3"));
  std::string lower = witness;
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(devices::witness_matches(lower, witness));
  EXPECT_TRUE(devices::witness_matches(witness.substr(0, 24), witness)) << "100 bits typed";
  EXPECT_FALSE(devices::witness_matches(witness.substr(0, 19), witness)) << "80 bits are too few";
  EXPECT_FALSE(devices::witness_matches(devices::compute_witness(Identity("FP"), a, b, "n1", "n3"), witness));
}

TEST(Pairing, PinsAreCanonicalAndTheirIdsAndMacsDiffer) {
  std::string pin = devices::new_pin();
  EXPECT_EQ(devices::canonical_pin(pin), pin);
  std::string typed = pin;
  typed.erase(std::remove(typed.begin(), typed.end(), '-'), typed.end());
  EXPECT_EQ(devices::canonical_pin(typed), pin) << "dashes optional";
  EXPECT_NE(devices::new_pin(), pin);
  EXPECT_THROW(devices::canonical_pin("1234"), Error);
  EXPECT_THROW(devices::canonical_pin("AAAA-BBBB-CCCC-DDDD-EEE1"), Error) << "1 is not Base32";
  EXPECT_EQ(devices::pin_id(pin), devices::pin_id(typed));
  EXPECT_NE(devices::pin_id(pin), devices::pin_id(devices::new_pin()));
  SecretBytes key = devices::pin_mac_key(pin);
  std::string mac = devices::pin_mac(key, "join", as_bytes(std::string_view("data")));
  EXPECT_TRUE(devices::pin_mac_equal(mac, devices::pin_mac(key, "join", as_bytes(std::string_view("data")))));
  EXPECT_FALSE(devices::pin_mac_equal(mac, devices::pin_mac(key, "bundle", as_bytes(std::string_view("data")))));
  EXPECT_FALSE(devices::pin_mac_equal(
      mac, devices::pin_mac(devices::pin_mac_key(devices::new_pin()), "join", as_bytes(std::string_view("data")))));
  EXPECT_EQ(devices::pin_id(pin).find(pin), std::string::npos);
}

TEST(Pairing, ThePinProofBindsProfileDeviceAndRequest) {
  SecretBytes key = devices::pin_mac_key(devices::new_pin());
  const Identity profile("FP");
  const DeviceId device("D1");
  const RequestId request("R1");
  std::string proof = devices::bundle_pin_proof(key, profile, device, request);
  EXPECT_EQ(proof, devices::bundle_pin_proof(key, profile, device, request));
  EXPECT_NE(proof, devices::bundle_pin_proof(key, Identity("FQ"), device, request));
  EXPECT_NE(proof, devices::bundle_pin_proof(key, profile, DeviceId("D2"), request));
  EXPECT_NE(proof, devices::bundle_pin_proof(key, profile, device, RequestId("R2")));
  // The same strings in other places make another proof (length-prefixed).
  EXPECT_NE(proof, devices::bundle_pin_proof(key, profile, DeviceId("R1"), RequestId("D1")));
}

TEST(KeyBundle, RoundTripAndRefusals) {
  devices::internal::KeyBundle bundle;
  bundle.fingerprint = Identity("FP");
  bundle.name = "Alice";
  bundle.suite = store::Suite::Modern;
  bundle.addresses = {EmailAddress::parse("alice@example.com")};
  bundle.root = {1, 2, 3};
  store::DeviceRecord device;
  device.device_id = DeviceId("D");
  device.name = "phone";
  device.role = store::DeviceRole::Read;
  device.signature_certificate = {4};
  device.agreement_certificate = {5};
  bundle.devices = {device};
  store::MailKeyRecord record{.address = EmailAddress::parse("alice@example.com")};
  record.purpose = store::KeyPurpose::Encryption;
  record.status = store::KeyStatus::Archived;
  record.certificate = {6, 7};
  record.chain = {{1, 2, 3}};
  std::string pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  bundle.keys.push_back({record, SecretBytes(pem.begin(), pem.end())});
  bundle.pin_proof = "proof";
  bundle.issued_at = from_unix_seconds(42);
  SecretBytes encoded = devices::internal::encode_bundle(bundle);
  devices::internal::KeyBundle decoded = devices::internal::decode_bundle(encoded);
  EXPECT_EQ(decoded.fingerprint.str(), "FP");
  EXPECT_EQ(decoded.devices.at(0).device_id.str(), "D");
  EXPECT_EQ(decoded.suite, store::Suite::Modern);
  ASSERT_EQ(decoded.devices.size(), 1u);
  EXPECT_EQ(decoded.devices[0].role, store::DeviceRole::Read);
  ASSERT_EQ(decoded.keys.size(), 1u);
  EXPECT_EQ(decoded.keys[0].record.status, store::KeyStatus::Archived);
  EXPECT_EQ(decoded.keys[0].record.chain, record.chain);
  EXPECT_EQ(std::string(decoded.keys[0].pem.begin(), decoded.keys[0].pem.end()), pem);
  EXPECT_EQ(decoded.pin_proof, "proof");
  EXPECT_EQ(decoded.issued_at, from_unix_seconds(42));
  EXPECT_NE(std::string(encoded.begin(), encoded.end()).find("\"issued_at\":42"), std::string::npos)
      << "Unix seconds in the JSON, as before";
  EXPECT_FALSE(decoded.root_key);
  for (std::string bad : {"", "[]", "{}", R"({"type": "mailseal-key-bundle", "version": 2})",
                          R"({"type": "mailseal-key-bundle", "version": 1, "fingerprint": 5})"}) {
    EXPECT_THROW(devices::internal::decode_bundle(as_bytes(bad)), Error) << bad;
  }
}

}  // namespace
}  // namespace mailseal
