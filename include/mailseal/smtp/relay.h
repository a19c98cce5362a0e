#pragma once
// Sending mail through a relay (a submission server): how to reach it, its
// TLS mode and account, and a sender that hands it whole messages. The
// gateway relays its users' mail this way (`--upstream-*`), the key service
// its challenge mails (`serve --smtp-*`); both take the same settings.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/secret.h"

namespace mailseal::smtp {

enum class RelayTls { None, StartTls, Tls };

// "none", "starttls" or "tls"; Error(Usage) naming `option` otherwise.
RelayTls parse_relay_tls(std::string_view text, std::string_view option);

struct RelayOptions {
  std::string host;
  int port = 587;
  RelayTls tls = RelayTls::None;
  std::optional<std::filesystem::path> ca_file;  // else the system's CAs
  // The sender's own account at the relay (AUTH PLAIN or LOGIN after TLS,
  // or in clear to a loopback relay); empty: no AUTH.
  std::string user;
  Passphrase password;
  // How messages name the relay, the prefix of its options, and who logs
  // in: "the upstream", "--upstream", "the gateway".
  std::string name = "the relay";
  std::string option_prefix = "--smtp";
  std::string client_name = "mailseal";
};

// Sets the relay account from a user name and a password file (one line,
// mode 0600), both or neither. Error(Usage) naming the options
// (`prefix`-user, `prefix`-password-file): one without the other, a file
// readable by group or others or not one line, or an account with TLS mode
// none towards a relay that is not on loopback (the password in clear).
void set_relay_account(RelayOptions& relay, const std::string& user, const std::string& password_file,
                       std::string_view prefix);

// Hands whole messages to a relay, one connection a message.
class Sender {
 public:
  // `our_name` is what EHLO says; `timeout` bounds the connection and every
  // read and write. Error(Usage) when the CA file cannot be read.
  Sender(RelayOptions relay, std::string our_name, std::chrono::seconds timeout);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // One transaction. Error(Io) when the relay cannot be reached or fails;
  // Error(RejectedByPolicy) when it refuses the message, naming the stage
  // and its reply.
  void send(const std::string& reverse_path, const std::vector<std::string>& recipients, const std::string& message);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailseal::smtp
