#pragma once
// The key service's HTTP API (docs/service.md) as plain functions over
// request and response values, so that the HTTP server, the tests and the
// fuzzer drive the same code. It stores only public data and ciphertext:
// published profiles, device requests, invitations by PIN id, key bundles
// and escrow sealed to devices or to the profile's own root secret.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mailseal/common/time.h"
#include "mailseal/service/claims.h"
#include "mailseal/service/limits.h"

namespace mailseal::service {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query, percent-encoded
  std::string content_type;
  std::string authorization;
  std::string body;
  // The client's address (the TCP peer's, or a trusted proxy's forwarded
  // one): what its rate limits are kept by. Empty: one unnamed client.
  std::string client;
};

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON, or a page (content_type)
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // more header fields
};

// A challenge mail (docs/service.md, "Verified addresses"), whole, for the
// relay.
struct OutgoingMail {
  std::string reverse_path;
  std::string recipient;
  std::string message;  // CRLF line endings
};

// How the service treats addresses.
struct ServiceSettings {
  Verification verification = Verification::None;
  // The base of the links in challenge mails ("https://keys.example.org"),
  // and the From of those mails.
  std::string public_url;
  std::string mail_from;
  ClaimLifetimes lifetimes;
  // Sends a challenge mail; throws when it cannot (the publication that
  // made it stands, its claim pending; docs/service.md, "the outbox").
  // Called after the publication committed, with no database connection
  // held, possibly from several threads at once. Needed with
  // Verification::Mail.
  std::function<void(const OutgoingMail&)> send_mail;
  // Abuse (docs/service.md): rate limits per client, profile and address;
  // what a profile may keep; the join queue's rules.
  RateLimits rates;
  Quotas quotas;
};

// The service's database as it may be shown (a log line): a PostgreSQL URI
// without its password (user:PASSWORD@ or password=), a SQLite path as is.
std::string database_for_display(const std::string& database);

class ServiceStore;
class RenderedProfiles;

class Api {
 public:
  // Opens (creating if needed, upgrading if older) the service database:
  // `database` is a SQLite file, or a PostgreSQL connection URI
  // (postgresql://... or postgres://..., docs/service.md "Back ends") that
  // other processes may share. Error(Usage) for mail verification without a public URL, a
  // From address or a way to send mail.
  explicit Api(const std::filesystem::path& database, ServiceSettings settings = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Answers one request at time `now` (the server's clock; tests pass their
  // own). Never throws: every
  // failure is a 4xx or 5xx JSON error {"error": {"code", "message"}}, and a
  // refused request changes nothing.
  HttpResponse handle(const HttpRequest& request, TimePoint now);

 private:
  struct Backend;  // the database's connections, the rate limits' buckets
  std::unique_ptr<Backend> backend_;
  ServiceSettings settings_;
  std::unique_ptr<RenderedProfiles> rendered_;  // lookups' answers, memoized (api.cc)
};

}  // namespace mailseal::service
