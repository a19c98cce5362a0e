// What a hostile key service can hand a client: every typed document of the
// protocol (keyservice/documents.h), the published profile a lookup reads
// (checked against the address asked for), and the JSON inside a key bundle
// or escrow once it is opened. Properties: a Fault, an Error or a result,
// nothing else escapes, nothing crashes; a document that reads writes a
// JSON text that reads back to the same text.

#include <cstdlib>

#include "devices/internal/bundle.h"
#include "fuzz.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/devices/connect.h"
#include "mailseal/keyservice/documents.h"

namespace mailseal::fuzz {

namespace {

template <typename Document>
void round_trip(std::string_view text) {
  keyservice::Parsed<Document> parsed = Document::parse(text);
  if (const Document* document = std::get_if<Document>(&parsed)) {
    std::string written = document->to_json();
    if (keyservice::read<Document>(written, "the written document").to_json() != written)
      std::abort();
  }
}

template <typename... Documents>
void round_trip_all(std::string_view text) {
  (round_trip<Documents>(text), ...);
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  using namespace keyservice;
  round_trip_all<Health, ErrorDocument, Publication, PublishReceipt, PublishedProfile, EscrowAnswer, Invitation,
                 JoinRequest, JoinReceipt, PendingRequest, PendingRequests, Decision, DecisionReceipt, RequestStatus,
                 BundleEnvelope, BundleReceipt, DeviceBundle, RecordUpload, RecordReceipt, RecordBatch>(text);
  if (auto after = parse_records_query(text)) {
    if (parse_records_query(records_query(*after)) != after)
      std::abort();
  }
  static const EmailAddress alice = EmailAddress::parse("alice@example.com");
  try {
    keyservice::PublishedProfile profile = devices::read_published_profile(text, alice);
    for (const auto& certificate : profile.certificates)
      (void)certificate.email_addresses();
  } catch (const Error&) {
  }
  try {
    devices::internal::KeyBundle bundle = devices::internal::decode_bundle(input);
    (void)bundle.keys.size();
  } catch (const Error&) {
  }
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
