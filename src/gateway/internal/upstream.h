#pragma once
// The gateway's side of the upstream submission server: an SMTP client that
// relays whole messages, authenticated with the gateway's own upstream
// account when one is given.

#include <memory>
#include <string>
#include <vector>

#include "gateway/internal/connection.h"
#include "mailseal/gateway/gateway.h"
#include "mailseal/gateway/smtp.h"

namespace mailseal::gateway::internal {

// An upstream that answered, but not as hoped: the reply is passed on.
struct UpstreamRefusal {
  Reply reply;
  std::string stage;  // "MAIL", "RCPT someone@example.org", "DATA", "end of data"
};

class Upstream {
 public:
  // Connects, reads the greeting, says EHLO (and STARTTLS then EHLO again
  // when asked to), then AUTH with options.user when given. Error(Io) when the upstream cannot be reached or does
  // not greet; Error(RejectedByPolicy) when it refuses us.
  // `timeout` bounds the connection and every read and write.
  static std::unique_ptr<Upstream> open(const UpstreamOptions& options, SSL_CTX* tls, const std::string& our_name,
                                        std::chrono::seconds timeout);

  const std::vector<std::string>& extensions() const noexcept { return extensions_; }
  // The AUTH mechanisms the upstream offers ("PLAIN", "LOGIN"), possibly none.
  std::vector<std::string> auth_mechanisms() const;
  bool supports(std::string_view extension) const;

  // Sends one line and reads the reply. Error(Io) when the connection fails.
  Reply command(std::string_view line);

  // One transaction: MAIL, every RCPT, DATA and the message. Returns nullopt
  // when the upstream accepted it; otherwise what it refused (after an RSET,
  // so that the connection can carry the next message). Nothing is sent
  // unless every recipient was accepted.
  std::optional<UpstreamRefusal> relay(const std::string& reverse_path, const std::vector<std::string>& recipients,
                                       const std::string& message, bool eight_bit);

  void quit() noexcept;
  bool usable() const noexcept { return usable_; }

 private:
  Reply read_reply();
  // AUTH PLAIN (else LOGIN) with the gateway's upstream account.
  void log_in(const UpstreamOptions& options, const std::string& where);
  std::unique_ptr<Connection> connection_;
  std::vector<std::string> extensions_;
  bool usable_ = true;
};

}  // namespace mailseal::gateway::internal
