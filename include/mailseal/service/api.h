#pragma once
// The key service's HTTP API (docs/service.md) as plain functions over
// request and response values, so that the HTTP server, the tests and the
// fuzzer drive the same code. It stores only public data and ciphertext:
// published profiles, device requests, invitations by PIN id, key bundles
// and escrow sealed to devices or to the profile's own root secret.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "mailseal/common/time.h"

namespace mailseal::service {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query, percent-encoded
  std::string content_type;
  std::string authorization;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON
};

class ServiceStore;

class Api {
 public:
  // Opens (creating if needed) the service database at `database`.
  explicit Api(const std::filesystem::path& database);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Answers one request at time `now` (the server's clock; tests pass their
  // own). Never throws: every
  // failure is a 4xx or 5xx JSON error {"error": {"code", "message"}}, and a
  // refused request changes nothing.
  HttpResponse handle(const HttpRequest& request, TimePoint now);

 private:
  std::mutex mutex_;  // one SQLite connection, one request at a time
  std::unique_ptr<ServiceStore> store_;
};

}  // namespace mailseal::service
