#pragma once
// One client connection to the gateway: the SMTP server's state machine
// (RFC 5321, with RFC 1870 SIZE, 6152 8BITMIME, 2920 PIPELINING, 3207
// STARTTLS, 4954 AUTH against the gateway's own credentials, 2034 enhanced
// status codes).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mailseal/gateway/gateway.h"
#include "mailseal/profile/profile.h"
#include "mailseal/smtp/protocol.h"
#include "smtp/client.h"
#include "smtp/connection.h"

namespace mailseal::keyservice {
class Client;
}

namespace mailseal::gateway::internal {

// The SMTP protocol, connections and the relay client (src/smtp): the
// session speaks the protocol on both sides.
using namespace mailseal::smtp;
using Upstream = smtp::Client;
using UpstreamRefusal = smtp::Refusal;

// What every session shares: the options, the TLS contexts, and a lock
// around the profile's store (one message is planned at a time).
// Hands one line to GatewayOptions::log, if the caller gave one.
inline void report(const GatewayOptions& options, std::string_view line) {
  if (options.log)
    options.log(line);
}

// How many lines sessions before AUTH wrote to the log this minute.
struct UnauthenticatedLog {
  static constexpr int kLinesPerMinute = 20;
  std::mutex lock;
  std::chrono::steady_clock::time_point window_start;
  int written = 0;
  std::size_t suppressed = 0;  // since window_start
};

// The key-service clients of the deliveries under way. When the gateway
// stops it cancels them, so that a lookup that a slow or hostile service
// holds ends at once instead of at its deadline (the message is then
// refused for now: 451, the client keeps it).
class ServiceClients {
 public:
  // Keeps `client` (may be null) known while it lives; cancelled at once
  // when the gateway is stopping already.
  class Held {
   public:
    Held(ServiceClients& clients, keyservice::Client* client);
    ~Held();
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    ServiceClients& clients_;
    keyservice::Client* client_;
  };
  // Cancels every client held now and every one held later.
  void cancel_all();

 private:
  std::mutex lock_;
  bool stopping_ = false;
  std::set<keyservice::Client*> held_;
};

struct Shared {
  const GatewayOptions& options;
  SSL_CTX* client_tls = nullptr;    // STARTTLS towards mail clients, if offered
  SSL_CTX* upstream_tls = nullptr;  // verifying the upstream
  std::string hostname;
  // Sessions deliver at once, each with its own connection to the store
  // (Session::profile): its transactions (BEGIN IMMEDIATE, re-reading what they change) order
  // the writers, a renewal or a lookup, as they do between the gateway and a
  // `mailseal` command run beside it. No lock is held while a message is
  // signed and encrypted.
  LookupSchedule lookups;
  // Checks a user name and secret given with AUTH: the credential, or
  // nullopt. Unset: every AUTH fails.
  std::function<std::optional<ProvenCredential>(std::string_view name, std::string_view secret)> check_credential;
  // Told when a session's client authenticated (it is no longer one the
  // gateway may close to make room). Unset: nobody is told.
  std::function<void(const Connection&)> authenticated;
  UnauthenticatedLog unauthenticated_log;
  ServiceClients service_clients;
};

class Session {
 public:
  // `local`: the client came over loopback (or a Unix socket), where AUTH
  // is offered without TLS.
  Session(Connection& client, Shared& shared, bool local) : client_(client), shared_(shared), local_(local) {}
  // Serves the connection until QUIT, the client leaves, or an error that
  // ends the session (after telling the client, when it can).
  void run();

 private:
  struct Transaction {
    std::string reverse_path;
    std::vector<std::string> recipients;
    bool eight_bit = false;
  };

  // Each returns false when the session must end.
  bool command(const Line& line);
  bool hello(const Command& command, bool extended);
  bool start_tls(const Command& command);
  bool authenticate(const Command& command);
  // Reads one AUTH continuation line (after a 334); nullopt when the
  // exchange is over (the reply is sent); sets `end` when the session must end.
  std::optional<std::string> auth_response(bool& end);
  bool auth_offered() const noexcept { return local_ || client_.secure(); }
  // Before AUTH: false (after a 421) when the time to authenticate is over.
  bool within_auth_time();
  // One line from the client, within the time a line may take.
  Line read_line(std::size_t limit);
  void mail(const Command& command);
  bool sender_allowed(const std::string& reverse_path);
  // True (after a 530, the session unauthenticated again) when the
  // credential the session authenticated with was removed or replaced
  // since: what a credential authorised ends with it. Error when the store
  // cannot be read.
  bool credential_revoked();
  void recipient(const Command& command);
  bool data(const Command& command);
  bool deliver(std::string message);
  // The store, opened by the session's first message and kept for the
  // next ones: opening it was a sixth of the gateway's time for a small
  // message (SQLite parses the whole schema at a connection's first
  // statement; bench/smime_profile.md). Nothing goes stale: SQLite reads
  // what other connections committed at each statement, and the session
  // holds no transaction between statements. Dropped after a failure that
  // may be the connection's own, so that the next message opens it again.
  profile::Profile& profile();

  // Text in a reply is made safe by Reply::serialize (smtp_reply_text).
  void send(const Reply& answer);
  void send(int code, std::string line) { send(reply(code, std::move(line))); }
  bool ensure_upstream();
  void log(std::string_view text) const;

  Connection& client_;
  Shared& shared_;
  std::unique_ptr<Upstream> upstream_;
  bool local_;
  std::optional<std::string> client_name_;   // after HELO/EHLO
  std::optional<ProvenCredential> submitter_;  // after a successful AUTH
  int auth_failures_ = 0;
  // A protocol error (a 500 or 501 reply: an unknown command, a syntax
  // error, a line without CRLF): nothing is relayed on this session after it.
  bool protocol_error_ = false;
  std::chrono::steady_clock::time_point auth_deadline_;
  std::chrono::steady_clock::time_point line_deadline_;  // of the line being read
  std::optional<Transaction> transaction_;
  std::optional<profile::Profile> profile_;
  int errors_ = 0;
};

}  // namespace mailseal::gateway::internal
