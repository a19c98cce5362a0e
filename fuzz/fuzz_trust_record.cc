// Trust records (src/devices/internal/records.h): the record decoder that
// runs on what a device of the profile sealed (a removed device still holds
// an old records key), and the sealed record's framing.
// Property: whatever decodes re-encodes to something that decodes to the same.

#include <cstdlib>

#include "devices/internal/records.h"
#include "fuzz.h"
#include "mailseal/common/error.h"

namespace mailseal::fuzz {

void run(std::span<const std::uint8_t> input) {
  using namespace devices::internal;
  try {
    TrustRecord record = decode_record(input);
    std::string again = encode_record(record);
    if (!(decode_record(as_bytes(again)) == record))
      std::abort();
    // What the store keeps of a record's decisions reads back the same.
    if (decode_changes(encode_changes(record.changes)) != record.changes)
      std::abort();
  } catch (const Error&) {
  }
  try {
    decode_changes(as_string_view(input));
  } catch (const Error&) {
  }
  try {
    // The framing before decryption (GCM refuses anything else).
    if (sealed_key_id(input).size() != kRecordsKeyIdBytes)
      std::abort();
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
