#include "mailseal/keyservice/client.h"

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "mailseal/common/error.h"
#include "mailseal/keyservice/protocol.h"

namespace mailseal::keyservice {

namespace {

constexpr std::size_t kMaxAnswerBytes = 32 * 1024 * 1024;
constexpr std::string_view kAnswerSource = "the key service's answer";

// How often a watchdog past its deadline shuts the connection down again: a
// shutdown that came before cpp-httplib opened the connection (it connects
// holding the lock that stop() takes) ends nothing, so it is repeated until
// the request returns.
constexpr std::chrono::milliseconds kStopRepeat{100};

// The largest deadline $MAILSEAL_SERVICE_TIMEOUT may set (an hour).
constexpr long kMaxDeadlineSeconds = 3600;

ErrorCode code_for(int status) {
  switch (status) {
    case 404:
      return ErrorCode::NotFound;
    case 401:
    case 403:
    case 409:
    case 410:
    case 429:
      return ErrorCode::RejectedByPolicy;
    default:
      return status >= 500 ? ErrorCode::Io : ErrorCode::Malformed;
  }
}

std::string account_path(const Identity& profile) {
  return "/v1/accounts/" + path_segment(profile.str());
}

std::string bundle_path(const Identity& profile, const DeviceId& device) {
  return account_path(profile) + "/devices/" + path_segment(device.str()) + "/bundle";
}

}  // namespace

std::string path_segment(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

namespace {

// kDefaultRequestDeadline, or the deadline $MAILSEAL_SERVICE_TIMEOUT sets.
std::chrono::seconds request_deadline_from_environment() {
  const char* text = std::getenv(std::string(kServiceTimeoutVariable).c_str());
  if (text == nullptr || *text == '\0')
    return kDefaultRequestDeadline;
  char* end = nullptr;
  const long seconds = std::strtol(text, &end, 10);
  if (*end != '\0' || seconds < 1 || seconds > kMaxDeadlineSeconds) {
    throw Error(ErrorCode::Usage, fmt::format("${} is '{}', not a number of seconds from 1 to {}",
                                              kServiceTimeoutVariable, text, kMaxDeadlineSeconds));
  }
  return std::chrono::seconds(seconds);
}

// Why a watchdog ended a request, if it did.
enum class Ended { No, Deadline, Cancelled };

}  // namespace

struct Client::Impl {
  httplib::Client http;
  std::chrono::seconds deadline;
  std::mutex lock;
  std::condition_variable wake;
  bool cancelled = false;  // under lock
  Impl(const std::string& url, std::chrono::seconds request_deadline) : http(url), deadline(request_deadline) {}
  class Watchdog;
};

// Watches one request for as long as it lives: at the deadline, or as soon
// as the client is cancelled, it shuts the request's connection down
// (httplib::Client::stop(), the one call cpp-httplib allows from another
// thread), so that the request fails at once. cpp-httplib's own timeouts are
// per read: a service that trickles a byte a second would hold a request
// forever without this.
class Client::Impl::Watchdog {
 public:
  explicit Watchdog(Client::Impl& impl) : impl_(impl), thread_([this] { watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard guard(impl_.lock);
      done_ = true;
    }
    impl_.wake.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Call once the request returned, before the destructor.
  Ended ended() {
    std::lock_guard guard(impl_.lock);
    done_ = true;
    return ended_;
  }

 private:
  void watch() {
    std::unique_lock guard(impl_.lock);
    const bool woken = impl_.wake.wait_for(guard, impl_.deadline, [this] { return done_ || impl_.cancelled; });
    if (done_)
      return;
    ended_ = woken ? Ended::Cancelled : Ended::Deadline;
    while (!done_) {
      guard.unlock();
      impl_.http.stop();
      guard.lock();
      impl_.wake.wait_for(guard, kStopRepeat, [this] { return done_; });
    }
  }

  Client::Impl& impl_;
  bool done_ = false;  // under impl_.lock
  Ended ended_ = Ended::No;
  std::thread thread_;
};

struct Client::Answer {
  int status = 0;
  std::string body;
  // The service's refusal as an error: its message, and a code by status.
  Error refusal() const {
    std::string message = "no reason given";
    auto parsed = ErrorDocument::parse(body);
    if (const ErrorDocument* error = std::get_if<ErrorDocument>(&parsed))
      message = error->message;
    return Error(code_for(status), fmt::format("the key service refused: {} (HTTP {})", message, status));
  }
  std::string refusal_code() const {
    auto parsed = ErrorDocument::parse(body);
    const ErrorDocument* error = std::get_if<ErrorDocument>(&parsed);
    return error != nullptr ? error->code : std::string();
  }
};

Client::Client(std::string url) : url_(std::move(url)) {
  while (!url_.empty() && url_.back() == '/')
    url_.pop_back();
  if (!url_.starts_with("http://") && !url_.starts_with("https://")) {
    throw Error(ErrorCode::Usage,
                fmt::format("'{}' is not a key service URL (http://HOST:PORT or https://HOST:PORT)", url_));
  }
  impl_ = std::make_unique<Impl>(url_, request_deadline_from_environment());
  impl_->http.set_connection_timeout(10, 0);
  impl_->http.set_read_timeout(30, 0);
  impl_->http.set_write_timeout(30, 0);
  if (url_.starts_with("https://")) {
    if (const char* ca = std::getenv("MAILSEAL_SERVICE_CA"); ca != nullptr && *ca != '\0')
      impl_->http.set_ca_cert_path(ca);
    impl_->http.enable_server_certificate_verification(true);
  }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::cancel() {
  {
    std::lock_guard guard(impl_->lock);
    impl_->cancelled = true;
  }
  impl_->wake.notify_all();
}

bool Client::cancelled() const {
  std::lock_guard guard(impl_->lock);
  return impl_->cancelled;
}

std::chrono::seconds Client::request_deadline() const noexcept {
  return impl_->deadline;
}

Client::Answer Client::call(std::string_view method, const std::string& path, const std::string& body,
                            const RequestSigner* signer) {
  {
    std::lock_guard guard(impl_->lock);
    if (impl_->cancelled)
      throw Error(ErrorCode::Io, fmt::format("the request to the key service at {} was cancelled", url_));
  }
  httplib::Headers headers;
  if (signer != nullptr) {
    headers.emplace("Authorization", authorize(*signer->key, signer->key_id, method, path, as_bytes(body), signer->at));
  }
  auto perform = [&]() -> httplib::Result {
    if (method == "GET")
      return impl_->http.Get(path, headers);
    if (method == "POST")
      return impl_->http.Post(path, headers, body, "application/json");
    if (method == "PUT")
      return impl_->http.Put(path, headers, body, "application/json");
    if (method == "DELETE")
      return impl_->http.Delete(path, headers);
    throw Error(ErrorCode::Internal, "unsupported HTTP method");
  };
  Ended ended = Ended::No;
  httplib::Result result = [&] {
    Impl::Watchdog watchdog(*impl_);
    httplib::Result done = perform();
    ended = watchdog.ended();
    return done;
  }();
  if (ended == Ended::Cancelled)
    throw Error(ErrorCode::Io, fmt::format("the request to the key service at {} was cancelled", url_));
  if (ended == Ended::Deadline && !result) {
    throw Error(ErrorCode::Io,
                fmt::format("the key service at {} did not answer within {} s", url_, impl_->deadline.count()),
                fmt::format("is the service overloaded or hostile? ${} sets the deadline in seconds",
                            kServiceTimeoutVariable));
  }
  if (!result) {
    throw Error(ErrorCode::Io,
                fmt::format("cannot reach the key service at {} ({})", url_, httplib::to_string(result.error())),
                "is the service running? 'mailseal serve --listen HOST:PORT' starts one");
  }
  if (result->body.size() > kMaxAnswerBytes) {
    throw Error(ErrorCode::Malformed, "the key service's answer is larger than mailseal accepts");
  }
  return Answer{result->status, std::move(result->body)};
}

template <typename Document>
Document Client::answer(std::string_view method, const std::string& path, const std::string& body,
                        const RequestSigner* signer) {
  Answer reply = call(method, path, body, signer);
  if (reply.status >= 300)
    throw reply.refusal();
  return read<Document>(reply.body, kAnswerSource);
}

PublishedProfile Client::profile_for(const EmailAddress& address) {
  return answer<PublishedProfile>("GET", "/v1/addresses/" + path_segment(address.str()), "", nullptr);
}

EscrowAnswer Client::escrow(std::string_view escrow_id) {
  return answer<EscrowAnswer>("GET", "/v1/escrow/" + path_segment(escrow_id), "", nullptr);
}

PublishReceipt Client::publish(const Identity& profile, const Publication& publication, const RequestSigner& root) {
  return answer<PublishReceipt>("PUT", account_path(profile), publication.to_json(), &root);
}

Invitation Client::invite(const Identity& profile, const Invitation& invitation, const RequestSigner& root) {
  return answer<Invitation>("POST", account_path(profile) + "/invites", invitation.to_json(), &root);
}

PendingRequests Client::pending_requests(const Identity& profile, const RequestSigner& root) {
  return answer<PendingRequests>("GET", account_path(profile) + "/requests", "", &root);
}

DecisionReceipt Client::decide(const Identity& profile, const RequestId& request, const Decision& decision,
                               const RequestSigner& root) {
  return answer<DecisionReceipt>("POST", account_path(profile) + "/requests/" + path_segment(request.str()),
                                 decision.to_json(), &root);
}

Rejections Client::reject_all(const Identity& profile, const RequestSigner& root) {
  return answer<Rejections>("DELETE", account_path(profile) + "/requests", "", &root);
}

BundleReceipt Client::put_bundle(const Identity& profile, const DeviceId& device, const BundleEnvelope& bundle,
                                 const RequestSigner& root) {
  return answer<BundleReceipt>("PUT", bundle_path(profile, device), bundle.to_json(), &root);
}

AddressClaim Client::confirm_address(const Identity& profile, const Confirmation& confirmation,
                                     const RequestSigner& root) {
  return answer<AddressClaim>("POST", account_path(profile) + "/confirmations", confirmation.to_json(), &root);
}

AddressClaim Client::withdraw_address(const Identity& profile, const EmailAddress& address, const RequestSigner& root) {
  return answer<AddressClaim>("DELETE", account_path(profile) + "/addresses/" + path_segment(address.str()), "", &root);
}

JoinReceipt Client::join(const Identity& profile, const JoinRequest& request, const RequestSigner& device) {
  return answer<JoinReceipt>("POST", account_path(profile) + "/requests", request.to_json(), &device);
}

std::optional<RequestStatus> Client::request_status(const RequestId& request, const RequestSigner& device) {
  Answer reply = call("GET", "/v1/requests/" + path_segment(request.str()), "", &device);
  if (reply.status == 404 && reply.refusal_code() == kUnknownRequestCode)
    return std::nullopt;
  if (reply.status >= 300)
    throw reply.refusal();
  return read<RequestStatus>(reply.body, kAnswerSource);
}

FetchedBundle Client::bundle(const Identity& profile, const DeviceId& device_id, const RequestSigner& device) {
  Answer reply = call("GET", bundle_path(profile, device_id), "", &device);
  if (reply.status == 404)
    return FetchedBundle{BundleState::NoneSent, {}};
  if (reply.status == 403 && reply.refusal_code() == kDeviceRemovedCode)
    return FetchedBundle{BundleState::DeviceRemoved, {}};
  if (reply.status >= 300)
    throw reply.refusal();
  return FetchedBundle{BundleState::Sent, read<DeviceBundle>(reply.body, kAnswerSource).bundle};
}

RecordReceipt Client::put_record(const Identity& profile, const RecordUpload& record, const RequestSigner& device) {
  return answer<RecordReceipt>("POST", account_path(profile) + "/records", record.to_json(), &device);
}

RecordBatch Client::records(const Identity& profile, const std::vector<std::pair<DeviceId, std::int64_t>>& after,
                            const RequestSigner& device) {
  std::string path = account_path(profile) + "/records";
  if (!after.empty())
    path += "?after=" + path_segment(records_query(after));
  return answer<RecordBatch>("GET", path, "", &device);
}

}  // namespace mailseal::keyservice
