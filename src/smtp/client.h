#pragma once
// An SMTP client (RFC 5321, 3207 STARTTLS, 4954 AUTH) that relays whole
// messages to a submission server, authenticated with the sender's own
// account at it when one is given: the gateway's upstream and the key
// service's challenge mails (relay.h).

#include <memory>
#include <string>
#include <vector>

#include "common/openssl.h"
#include "mailseal/smtp/protocol.h"
#include "mailseal/smtp/relay.h"
#include "smtp/connection.h"

namespace mailseal::smtp {

// A relay that answered, but not as hoped: the reply is passed on.
struct Refusal {
  Reply reply;
  std::string stage;  // "MAIL", "RCPT someone@example.org", "DATA", "end of data"
};

class Client {
 public:
  // Connects, reads the greeting, says EHLO (and STARTTLS then EHLO again
  // when asked to), then AUTH with options.user when given. Error(Io) when the relay cannot be reached or does
  // not greet; Error(RejectedByPolicy) when it refuses us.
  // `timeout` bounds the connection and every read and write; `tls`
  // verifies the relay's certificate (client_tls_context).
  static std::unique_ptr<Client> open(const RelayOptions& options, SSL_CTX* tls, const std::string& our_name,
                                      std::chrono::seconds timeout);

  const std::vector<std::string>& extensions() const noexcept { return extensions_; }
  // The AUTH mechanisms the relay offers ("PLAIN", "LOGIN"), possibly none.
  std::vector<std::string> auth_mechanisms() const;
  bool supports(std::string_view extension) const;

  // Sends one line and reads the reply. Error(Io) when the connection fails.
  Reply command(std::string_view line);

  // One transaction: MAIL, every RCPT, DATA and the message. Returns nullopt
  // when the relay accepted it; otherwise what it refused (after an RSET,
  // so that the connection can carry the next message). Nothing is sent
  // unless every recipient was accepted.
  std::optional<Refusal> relay(const std::string& reverse_path, const std::vector<std::string>& recipients,
                               const std::string& message, bool eight_bit);

  void quit() noexcept;
  bool usable() const noexcept { return usable_; }

 private:
  Reply read_reply();
  // AUTH PLAIN (else LOGIN) with the sender's account.
  void log_in(const RelayOptions& options, const std::string& where);
  Client() = default;
  std::unique_ptr<Connection> connection_;
  std::vector<std::string> extensions_;
  bool usable_ = true;
};

// A TLS context for clients that verifies servers against `ca_file`, else
// the system's CAs. Error(Usage) when the file cannot be read.
ossl::SslCtx client_tls_context(const std::optional<std::filesystem::path>& ca_file);

}  // namespace mailseal::smtp
