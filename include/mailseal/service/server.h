#pragma once
// `mailseal serve`: the key service's API over HTTP or HTTPS (cpp-httplib),
// one SQLite database, a thread pool for concurrent clients.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mailseal/service/claims.h"
#include "mailseal/smtp/relay.h"

namespace mailseal::service {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  std::filesystem::path database = "mailseal-service.db";
  std::optional<std::filesystem::path> tls_certificate;
  std::optional<std::filesystem::path> tls_key;
  // Verified addresses (docs/service.md): with a relay, every address is
  // served only once its challenge mail was answered; without one, whoever
  // publishes first is listed.
  std::optional<smtp::RelayOptions> smtp;
  std::string public_url;  // the base of links in mails; empty: url()
  std::string mail_from;   // the From of challenge mails; empty: keys@ the public URL's host
  ClaimLifetimes lifetimes;
};

// What `mailseal serve` takes from its command line, as given.
struct ServeSettings {
  std::string listen = "127.0.0.1:8080";
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
};

// Checks the settings and builds the options. Error(Usage) naming what is
// wrong: --smtp with --unverified; neither, on an address other than
// loopback (a service for the internet verifies addresses; one on
// loopback, for tests and demonstrations, may list them unverified);
// --public-url or --mail-from without --smtp; a public URL that is not
// http(s)://; lifetimes below an hour, or a link that outlives its claim;
// and the relay's settings as smtp::set_relay_account checks them.
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
