#include "mailseal/service/client.h"

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>
#include <httplib.h>

#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/service/protocol.h"

namespace mailseal::service {

namespace {

constexpr std::size_t kMaxAnswerBytes = 32 * 1024 * 1024;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

ErrorCode code_for(int status) {
  switch (status) {
    case 404:
      return ErrorCode::NotFound;
    case 401:
    case 403:
    case 409:
    case 429:
      return ErrorCode::RejectedByPolicy;
    default:
      return status >= 500 ? ErrorCode::Io : ErrorCode::Malformed;
  }
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

struct Client::Impl {
  httplib::Client http;
  explicit Impl(const std::string& url) : http(url) {}
};

Client::Client(std::string url) : url_(std::move(url)) {
  while (!url_.empty() && url_.back() == '/')
    url_.pop_back();
  if (!url_.starts_with("http://") && !url_.starts_with("https://")) {
    throw Error(ErrorCode::Usage, fmt::format("'{}' is not a key service URL (http://HOST:PORT or https://HOST:PORT)",
                                              escape_for_terminal(url_)));
  }
  impl_ = std::make_unique<Impl>(url_);
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

nlohmann::json Client::get(const std::string& path, const RequestSigner* signer) {
  return call("GET", path, "", signer);
}

nlohmann::json Client::send(std::string_view method, const std::string& path, const nlohmann::json& body,
                            const RequestSigner* signer) {
  return call(method, path, body.dump(), signer);
}

nlohmann::json Client::call(std::string_view method, const std::string& path, const std::string& body,
                            const RequestSigner* signer) {
  httplib::Headers headers;
  if (signer != nullptr) {
    headers.emplace("Authorization", authorize(*signer->key, signer->key_id, method, path, as_bytes(body), unix_now()));
  }
  auto perform = [&]() -> httplib::Result {
    if (method == "GET")
      return impl_->http.Get(path, headers);
    if (method == "POST")
      return impl_->http.Post(path, headers, body, "application/json");
    if (method == "PUT")
      return impl_->http.Put(path, headers, body, "application/json");
    throw Error(ErrorCode::Internal, "unsupported HTTP method");
  };
  httplib::Result result = perform();
  if (!result) {
    throw Error(ErrorCode::Io,
                fmt::format("cannot reach the key service at {} ({})", escape_for_terminal(url_),
                            httplib::to_string(result.error())),
                "is the service running? 'mailseal serve --listen HOST:PORT' starts one");
  }
  if (result->body.size() > kMaxAnswerBytes) {
    throw Error(ErrorCode::Malformed, "the key service's answer is larger than mailseal accepts");
  }
  nlohmann::json answer = nlohmann::json::parse(result->body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    throw Error(
        ErrorCode::Malformed,
        fmt::format("the key service answered HTTP {} with something that is not a JSON object", result->status));
  }
  if (result->status >= 300) {
    std::string message = "no reason given";
    if (auto error = answer.find("error"); error != answer.end() && error->is_object()) {
      if (auto text = error->find("message"); text != error->end() && text->is_string())
        message = text->get<std::string>();
    }
    throw Error(code_for(result->status),
                fmt::format("the key service refused: {} (HTTP {})", escape_for_terminal(message), result->status));
  }
  return answer;
}

}  // namespace mailseal::service
