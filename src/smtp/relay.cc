// The relay's settings and a sender over the SMTP client (client.h).

#include "mailseal/smtp/relay.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "smtp/client.h"

namespace mailseal::smtp {

namespace {

// The password for the relay, from a file only its owner can read. One
// line; a final line break is not part of it.
Passphrase read_password_file(const std::string& file, std::string_view option) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0)
    throw Error(ErrorCode::Usage, fmt::format("cannot read {} {}: {}", option, file, std::strerror(errno)));
  if ((status.st_mode & 077) != 0)
    throw Error(ErrorCode::Usage,
                fmt::format("{} {} is readable by group or others, and holds a password", option, file),
                fmt::format("chmod 600 {}", file));
  SecretBytes bytes = read_secret_file(file, 4096);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (text.empty() || text.find_first_of("\r\n") != std::string_view::npos)
    throw Error(ErrorCode::Usage, fmt::format("{} {} must hold the password on one line", option, file));
  return Passphrase(text);
}

}  // namespace

RelayTls parse_relay_tls(std::string_view text, std::string_view option) {
  if (text == "none")
    return RelayTls::None;
  if (text == "starttls")
    return RelayTls::StartTls;
  if (text == "tls")
    return RelayTls::Tls;
  throw Error(ErrorCode::Usage, fmt::format("unknown TLS mode '{}' for {}", text, option), "use none, starttls or tls");
}

void set_relay_account(RelayOptions& relay, const std::string& user, const std::string& password_file,
                       std::string_view prefix) {
  if (user.empty() != password_file.empty())
    throw Error(ErrorCode::Usage, fmt::format("{0}-user and {0}-password-file go together", prefix));
  if (user.empty())
    return;
  if (relay.tls == RelayTls::None && !is_loopback_host(relay.host))
    throw Error(ErrorCode::Usage,
                fmt::format("{}-user would send the password in clear to a host that is not loopback", prefix),
                fmt::format("use {}-tls starttls or tls", prefix));
  relay.user = user;
  relay.password = read_password_file(password_file, fmt::format("{}-password-file", prefix));
}

struct Sender::Impl {
  RelayOptions relay;
  std::string our_name;
  std::chrono::seconds timeout;
  ossl::SslCtx tls;
};

Sender::Sender(RelayOptions relay, std::string our_name, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->tls = client_tls_context(relay.ca_file);
  impl_->relay = std::move(relay);
  impl_->our_name = std::move(our_name);
  impl_->timeout = timeout;
}

Sender::~Sender() = default;

void Sender::send(const std::string& reverse_path, const std::vector<std::string>& recipients,
                  const std::string& message) {
  std::unique_ptr<Client> client = Client::open(impl_->relay, impl_->tls.get(), impl_->our_name, impl_->timeout);
  std::optional<Refusal> refusal = client->relay(reverse_path, recipients, message, false);
  client->quit();
  if (refusal) {
    throw Error(refusal->reply.transient() ? ErrorCode::Io : ErrorCode::RejectedByPolicy,
                fmt::format("{} refused the message at {}: {} {}", impl_->relay.name, refusal->stage,
                            refusal->reply.code, refusal->reply.text()));
  }
}

}  // namespace mailseal::smtp
