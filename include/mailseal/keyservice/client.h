#pragma once
// A client of the key service: its API (docs/service.md) over HTTP(S), one
// method a request, typed documents in and out (documents.h), requests
// signed as protocol.h describes. Refusals become errors carrying the
// service's message (raw text: escape it before printing).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mailseal/common/email_address.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/keyservice/documents.h"

namespace mailseal::keyservice {

// Who signs a request, and when: the key, the name the service knows it by
// (kRootKey, a device id, or kJoiningDeviceKey), and the time the signature
// carries, the caller's now (the service refuses one too far from its own
// clock, protocol.h).
struct RequestSigner {
  const crypto::PrivateKey* key = nullptr;
  std::string key_id;
  TimePoint at{};
};

// The longest a request to a key service may take, from connecting to the
// last byte of the answer (docs/service.md "Deadlines"): generous for a
// service that answers (it takes well under a second, or up to its relay
// timeout of 20 s for a publication that mails a challenge), short enough
// that a command, a sync or a gateway stop does not hang on a service that
// trickles bytes or never answers.
inline constexpr std::chrono::seconds kDefaultRequestDeadline{30};
// The environment variable that sets another deadline, in seconds (1 to 3600).
inline constexpr std::string_view kServiceTimeoutVariable = "MAILSEAL_SERVICE_TIMEOUT";

// Percent-encodes one path segment (an address, a fingerprint).
std::string path_segment(std::string_view text);

// What a device finds when it asks for its key bundle.
enum class BundleState {
  Sent,          // the bundle is there
  NoneSent,      // nothing was sent to the device since it joined
  DeviceRemoved  // the device was removed from the profile
};
struct FetchedBundle {
  BundleState state = BundleState::NoneSent;
  Bytes bundle;  // Sent only
};

class Client {
 public:
  // "http://host:port" or "https://host:port" (with $MAILSEAL_SERVICE_CA, a
  // PEM file of the CA to trust, for a service with its own CA).
  // Error(Usage) for anything else.
  explicit Client(std::string url);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const std::string& url() const noexcept { return url_; }

  // Each request ends with Error(Io) naming the service once it took longer
  // than this (kDefaultRequestDeadline, or $MAILSEAL_SERVICE_TIMEOUT).
  std::chrono::seconds request_deadline() const noexcept;
  // From any thread: ends the request under way, and every later one, with
  // Error(Io) at once (a gateway that stops does not wait for a sync).
  void cancel();
  // Whether cancel() was called.
  bool cancelled() const;

  // Every call: Error(Io) when the service cannot be reached; Error(NotFound)
  // for 404; Error(RejectedByPolicy) for 401/403/409/429; Error(Malformed)
  // for other refusals and for answers that do not read strictly.

  // Public: the profile published for an address, read but not judged.
  PublishedProfile profile_for(const EmailAddress& address);
  // Public: the sealed escrow kept under an id.
  EscrowAnswer escrow(std::string_view escrow_id);

  // Signed with the profile root; `profile` is the profile's fingerprint.
  PublishReceipt publish(const Identity& profile, const Publication& publication, const RequestSigner& root);
  Invitation invite(const Identity& profile, const Invitation& invitation, const RequestSigner& root);
  PendingRequests pending_requests(const Identity& profile, const RequestSigner& root);
  DecisionReceipt decide(const Identity& profile, const RequestId& request, const Decision& decision,
                         const RequestSigner& root);
  // Rejects every pending request to join the profile at once.
  Rejections reject_all(const Identity& profile, const RequestSigner& root);
  BundleReceipt put_bundle(const Identity& profile, const DeviceId& device, const BundleEnvelope& bundle,
                           const RequestSigner& root);
  // Answers a challenge mail with its token instead of the link: the
  // address becomes verified for the profile. Error(NotFound) for a token
  // not issued to this profile; Error(RejectedByPolicy) for one used or
  // expired.
  AddressClaim confirm_address(const Identity& profile, const Confirmation& confirmation, const RequestSigner& root);
  // The service stops serving (and forgets the claim to) the address.
  AddressClaim withdraw_address(const Identity& profile, const EmailAddress& address, const RequestSigner& root);

  // Signed with a joining device's own signature key.
  JoinReceipt join(const Identity& profile, const JoinRequest& request, const RequestSigner& device);
  // std::nullopt when the service holds no such request (kUnknownRequestCode:
  // it deleted the request, rejected or expired, after its join retention).
  std::optional<RequestStatus> request_status(const RequestId& request, const RequestSigner& device);

  // Signed by the device the bundle is for.
  FetchedBundle bundle(const Identity& profile, const DeviceId& device_id, const RequestSigner& device);

  // Trust records, signed by an active device of the profile: the next
  // record of its log (Error(RejectedByPolicy) for one out of order, or a
  // removed device), and the records after `after` (documents.h).
  RecordReceipt put_record(const Identity& profile, const RecordUpload& record, const RequestSigner& device);
  RecordBatch records(const Identity& profile, const std::vector<std::pair<DeviceId, std::int64_t>>& after,
                      const RequestSigner& device);

 private:
  struct Answer;
  Answer call(std::string_view method, const std::string& path, const std::string& body, const RequestSigner* signer);
  template <typename Document>
  Document answer(std::string_view method, const std::string& path, const std::string& body,
                  const RequestSigner* signer);
  std::string url_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailseal::keyservice
