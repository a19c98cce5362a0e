#pragma once
// `mailseal serve`: the key service's API over HTTP or HTTPS (libmicrohttpd:
// event-driven, so a slow client holds a connection, never a thread), one
// database (SQLite, or PostgreSQL shared with other processes: api.h), the
// limits of limits.h against slow and greedy clients.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailseal/service/claims.h"
#include "mailseal/service/limits.h"
#include "mailseal/smtp/relay.h"

namespace mailseal::service {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  // SO_REUSEPORT: several `mailseal serve` processes (of the same effective
  // user; Linux refuses another's) listen on one port, the kernel spreading
  // connections among them (docs/service.md, "Several processes").
  bool reuse_port = false;
  std::filesystem::path database = "mailseal-service.db";  // or postgresql://... (Api)
  std::optional<std::filesystem::path> tls_certificate;
  std::optional<std::filesystem::path> tls_key;
  // Verified addresses (docs/service.md): with a relay, every address is
  // served only once its challenge mail was answered; without one, whoever
  // publishes first is listed.
  std::optional<smtp::RelayOptions> smtp;
  std::string public_url;  // the base of links in mails; empty: url()
  std::string mail_from;   // the From of challenge mails; empty: keys@ the public URL's host
  ClaimLifetimes lifetimes;
  ConnectionLimits connections;
  RateLimits rates;
  Quotas quotas;
  // Peers whose forwarding header names the client (a reverse proxy):
  // canonical IP addresses.
  std::vector<std::string> trusted_proxies;
  ForwardingHeader proxy_header = ForwardingHeader::XForwardedFor;
};

// What `mailseal serve` takes from its command line, as given.
struct ServeSettings {
  std::string listen = "127.0.0.1:8080";
  bool reuse_port = false;
  std::string database = "mailseal-service.db";
  std::string tls_certificate;
  std::string tls_key;
  bool unverified = false;
  std::string smtp;  // HOST:PORT of the relay
  std::string smtp_tls = "none";
  std::string smtp_ca;
  std::string smtp_user;
  std::string smtp_password_file;
  std::string public_url;
  std::string mail_from;
  long long claim_hours = kDefaultClaimLifetime.count() / 3600;
  long long token_hours = kDefaultTokenLifetime.count() / 3600;
  // Abuse (docs/service.md): "NAME=COUNT/PERIOD" each; the quotas; the
  // connection limits; the reverse proxies to believe.
  std::vector<std::string> limits;
  long long max_document_kib = static_cast<long long>(Quotas{}.document_bytes / 1024);
  long long max_addresses = static_cast<long long>(Quotas{}.addresses);
  long long max_devices = static_cast<long long>(Quotas{}.devices);
  long long max_certificates = static_cast<long long>(Quotas{}.certificates);
  long long max_waiting_joins = static_cast<long long>(Quotas{}.waiting_joins);
  long long join_minutes = Quotas{}.join_lifetime.count() / 60;
  long long join_retention_days = Quotas{}.rejected_retention.count() / (24 * 3600);
  long long workers = ConnectionLimits{}.workers;
  long long max_connections = ConnectionLimits{}.connections;
  long long max_connections_per_client = ConnectionLimits{}.connections_per_client;
  long long request_seconds = ConnectionLimits{}.request.count();
  long long idle_seconds = ConnectionLimits{}.idle.count();
  std::vector<std::string> trusted_proxies;
  std::string proxy_header = "x-forwarded-for";
};

// Checks the settings and builds the options. Error(Usage) naming what is
// wrong: --smtp with --unverified; neither, on an address other than
// loopback (a service for the internet verifies addresses; one on
// loopback, for tests and demonstrations, may list them unverified);
// --public-url or --mail-from without --smtp; a public URL that is not
// http(s)://; lifetimes below an hour, or a link that outlives its claim;
// and the relay's settings as smtp::set_relay_account checks them; limits,
// quotas and connection limits out of range; a trusted proxy that is not an
// IP address.
ServeOptions serve_options(const ServeSettings& settings);

class Server {
 public:
  explicit Server(const ServeOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds; Error(Io) if the address cannot be used. Returns the port.
  int bind();
  // Serves until stop() is called (from another thread or a signal).
  void run();
  void stop();
  std::string url() const;
  bool verifies_addresses() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailseal::service
