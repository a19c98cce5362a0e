// The key service's API on untrusted requests: the input is
//   METHOD \n TARGET \n CONTENT-TYPE \n AUTHORIZATION \n BODY
// answered by one Api over a throw-away database, one that verifies
// addresses (its challenge mails kept, never sent), or, when METHOD starts
// with '~', one that lists them unverified, or with '!', one whose rate
// limits are tiny. With '@' first, the line after METHOD is a forwarding
// header as a trusted proxy sends it (the request's client is what
// client_address makes of it, read as X-Forwarded-For and as Forwarded),
// and CONTENT-TYPE is also read as a --limit. Property: nothing crashes,
// every answer is a JSON object, a page for people on a page's path (HTML
// with its Content-Security-Policy, no script or image whatever the query)
// or a certificate download, every refusal is a 4xx with an error,
// every rate limit says when to retry, no page confirms an address, and a client
// address is the peer, a canonical IP address or an opaque hop.

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/service/api.h"
#include "mailseal/service/limits.h"

namespace mailseal::fuzz {

namespace {

// The service's database for one fuzzing process, removed (with SQLite's
// journal files) when the process ends, after the Api that uses it.
struct ScratchDatabase {
  std::filesystem::path path;
  explicit ScratchDatabase(std::string_view name)
      : path(std::filesystem::temp_directory_path() /
             ("mailseal-fuzz-service-" + std::string(name) + "-" + std::to_string(::getpid()) + ".db")) {
    remove_files();
  }
  ~ScratchDatabase() { remove_files(); }
  void remove_files() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::filesystem::remove(std::filesystem::path(path.string() + suffix), ignored);
    }
  }
};

// No limits: one fuzzing process sends millions of requests at one time.
service::RateLimits unlimited() {
  service::RateLimits rates;
  for (auto name : service::rate_limit_names())
    service::set_rate_limit(rates, std::string(name) + "=0/1s");
  return rates;
}

service::Api& verifying_api() {
  static const ScratchDatabase database("verified");
  static service::Api instance(database.path, service::ServiceSettings{service::Verification::Mail,
                                                                       "https://keys.test",
                                                                       "keys@keys.test",
                                                                       {},
                                                                       [](const service::OutgoingMail&) {},
                                                                       unlimited(),
                                                                       {}});
  return instance;
}

service::Api& unverified_api() {
  static const ScratchDatabase database("unverified");
  static service::Api instance(database.path, service::ServiceSettings{service::Verification::None, "", "", {}, {},
                                                                       unlimited(), {}});
  return instance;
}

service::Api& limited_api() {
  static const ScratchDatabase database("limited");
  service::RateLimits rates;
  for (auto name : service::rate_limit_names())
    service::set_rate_limit(rates, std::string(name) + "=1/1d");
  static service::Api instance(database.path,
                               service::ServiceSettings{service::Verification::None, "", "", {}, {}, rates, {}});
  return instance;
}

// The client a trusted proxy names: the peer, a canonical IP address, or
// what the proxy wrote that is none ("hop:", at most 64 printable bytes).
std::string forwarded_client(const std::string& forwarded) {
  const std::string peer = "10.0.0.1";
  std::string client;
  for (auto header : {service::ForwardingHeader::XForwardedFor, service::ForwardingHeader::Forwarded}) {
    client = service::client_address(peer, forwarded, header, {peer, "10.0.0.2"});
    const bool opaque = client.starts_with("hop:") && client.size() <= 68 &&
                        std::all_of(client.begin(), client.end(), [](char c) { return c > ' ' && c < 0x7f; });
    if (client != peer && service::canonical_ip(client) != client && !opaque)
      std::abort();
    if (service::client_key(client).empty())
      std::abort();
  }
  return client;
}

bool has_header(const service::HttpResponse& response, std::string_view name) {
  for (const auto& [field, value] : response.headers) {
    if (field == name && !value.empty())
      return true;
  }
  return false;
}

std::string next_line(std::string_view& rest) {
  auto end = rest.find('\n');
  std::string line(rest.substr(0, end));
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  return line;
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  std::string_view rest(reinterpret_cast<const char*>(input.data()), input.size());
  service::HttpRequest request;
  request.method = next_line(rest);
  if (request.method.starts_with('@')) {
    request.method.erase(0, 1);
    request.client = forwarded_client(next_line(rest));
  }
  service::Api& api = request.method.starts_with('~')   ? unverified_api()
                      : request.method.starts_with('!') ? limited_api()
                                                        : verifying_api();
  if (request.method.starts_with('~') || request.method.starts_with('!'))
    request.method.erase(0, 1);
  request.target = next_line(rest);
  request.content_type = next_line(rest);
  try {
    service::RateLimits rates;
    service::set_rate_limit(rates, request.content_type);
  } catch (const Error&) {
  }
  request.authorization = next_line(rest);
  request.body = std::string(rest);
  service::HttpResponse response = api.handle(request, from_unix_seconds(1800000000));
  const std::string path = request.target.substr(0, request.target.find('?'));
  // A method the path does not take: 405 naming the ones it does.
  if (response.status == 405 && !has_header(response, "Allow"))
    std::abort();
  if (response.content_type.starts_with("application/x-pem-file") ||
      response.content_type.starts_with("application/pkcs7-mime")) {
    // A download of a profile's certificates, only from its own path.
    if (!path.starts_with("/certificates/") || response.status != 200 ||
        !has_header(response, "Content-Disposition"))
      std::abort();
    return;
  }
  if (response.content_type != "application/json") {
    // A page for people (docs/service.md, "Pages"): only on their paths,
    // always with its policy, never with a script (everything from the
    // request is escaped), and (the fuzzer knows no token) never a
    // confirmation.
    const bool page_path = path == "/" || path == "/about" || path == "/lookup" || path.starts_with("/verify/") ||
                           path.starts_with("/certificates/");
    if (!page_path || !response.body.starts_with("<!DOCTYPE html>") ||
        !has_header(response, "Content-Security-Policy") || response.body.find("<script") != std::string::npos ||
        response.body.find("<img") != std::string::npos ||
        (path.starts_with("/verify/") && response.status == 200 && request.method == "POST"))
      std::abort();
    return;
  }
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    std::abort();
  if (response.status >= 400 && response.status < 500 && !document.contains("error"))
    std::abort();
  if (response.status == 429 && document["error"].value("code", "") == "rate_limited" &&
      !has_header(response, "Retry-After"))
    std::abort();
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
