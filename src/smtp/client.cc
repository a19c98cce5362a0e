#include "smtp/client.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <openssl/ssl.h>

#include "mailseal/common/base64.h"
#include "mailseal/common/error.h"
#include "mailseal/common/text.h"

namespace mailseal::smtp {

namespace {

}  // namespace

Reply Client::read_reply() {
  ReplyReader reader;
  while (true) {
    Line line = connection_->read_line(kMaxCommandLine);
    if (line.status == Line::Status::End) {
      usable_ = false;
      throw Error(ErrorCode::Io, "the relay closed the connection");
    }
    try {
      if (reader.feed(line.text))
        return reader.take();
    } catch (const Error& error) {
      usable_ = false;
      throw Error(ErrorCode::Io, fmt::format("the relay does not speak SMTP: {}", error.what()));
    }
  }
}

Reply Client::command(std::string_view line) {
  try {
    connection_->write(std::string(line) + "\r\n");
    Reply answer = read_reply();
    if (answer.code == 421)
      usable_ = false;
    return answer;
  } catch (...) {
    usable_ = false;
    throw;
  }
}

std::unique_ptr<Client> Client::open(const RelayOptions& options, SSL_CTX* tls, const std::string& our_name,
                                     std::chrono::seconds timeout) {
  auto upstream = std::unique_ptr<Client>(new Client());
  std::string where = fmt::format("{}:{}", options.host, options.port);
  upstream->connection_ = Connection::connect(options.host, options.port, timeout);
  if (options.tls == RelayTls::Tls)
    upstream->connection_->start_tls_client(tls, options.host);
  Reply greeting = upstream->read_reply();
  if (greeting.code != 220)
    throw Error(
        greeting.transient() ? ErrorCode::Io : ErrorCode::RejectedByPolicy,
        fmt::format("{} {} refused the connection: {} {}", options.name, where, greeting.code, greeting.text()));
  auto hello = [&] {
    Reply answer = upstream->command("EHLO " + our_name);
    if (answer.code != 250)
      throw Error(answer.transient() ? ErrorCode::Io : ErrorCode::RejectedByPolicy,
                  fmt::format("{} {} refused EHLO: {} {}", options.name, where, answer.code, answer.text()));
    upstream->extensions_.assign(answer.lines.begin() + 1, answer.lines.end());
  };
  hello();
  if (options.tls == RelayTls::StartTls) {
    if (!upstream->supports("STARTTLS"))
      throw Error(ErrorCode::Io, fmt::format("{} {} does not offer STARTTLS", options.name, where),
                  fmt::format("use {}-tls tls or none as it requires", options.option_prefix));
    Reply answer = upstream->command("STARTTLS");
    if (answer.code != 220)
      throw Error(ErrorCode::Io,
                  fmt::format("{} {} refused STARTTLS: {} {}", options.name, where, answer.code, answer.text()));
    upstream->connection_->start_tls_client(tls, options.host);
    hello();
  }
  if (!options.user.empty())
    upstream->log_in(options, where);
  return upstream;
}

void Client::log_in(const RelayOptions& options, const std::string& where) {
  std::vector<std::string> mechanisms = auth_mechanisms();
  auto offers = [&](std::string_view name) {
    return std::find(mechanisms.begin(), mechanisms.end(), name) != mechanisms.end();
  };
  std::string_view password = options.password.view();
  Reply answer;
  if (offers("PLAIN")) {
    std::string plain = std::string(1, '\0') + options.user + '\0' + std::string(password);
    std::string line = "AUTH PLAIN " + encode_base64(as_bytes(plain));
    answer = command(line);
    secure_wipe(plain.data(), plain.size());
    secure_wipe(line.data(), line.size());
  } else if (offers("LOGIN")) {
    answer = command("AUTH LOGIN " + encode_base64(as_bytes(options.user)));
    if (answer.code == 334) {
      std::string line = encode_base64(as_bytes(password));
      answer = command(line);
      secure_wipe(line.data(), line.size());
    }
  } else {
    throw Error(ErrorCode::Io, fmt::format("{} {} offers neither AUTH PLAIN nor AUTH LOGIN", options.name, where),
                fmt::format("give {}-user only for a server that asks for it", options.option_prefix));
  }
  if (answer.code != 235)
    throw Error(answer.transient() ? ErrorCode::Io : ErrorCode::RejectedByPolicy,
                fmt::format("{} {} refused {}'s credentials ({}-user {}): {} {}", options.name, where,
                            options.client_name, options.option_prefix, options.user, answer.code, answer.text()));
}

bool Client::supports(std::string_view extension) const {
  std::string wanted = ascii_upper(extension);
  return std::any_of(extensions_.begin(), extensions_.end(), [&](const std::string& line) {
    std::string keyword = ascii_upper(line.substr(0, line.find(' ')));
    return keyword == wanted;
  });
}

std::vector<std::string> Client::auth_mechanisms() const {
  std::vector<std::string> out;
  for (const auto& line : extensions_) {
    std::string keyword = ascii_upper(line.substr(0, line.find(' ')));
    if (keyword != "AUTH" || line.size() <= 5)
      continue;
    std::string_view rest(line);
    rest.remove_prefix(5);
    while (!rest.empty()) {
      std::size_t space = rest.find(' ');
      std::string mechanism = ascii_upper(rest.substr(0, space));
      if (!mechanism.empty() && std::find(out.begin(), out.end(), mechanism) == out.end())
        out.push_back(mechanism);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    }
  }
  return out;
}

std::optional<Refusal> Client::relay(const std::string& reverse_path, const std::vector<std::string>& recipients,
                                     const std::string& message, bool eight_bit) {
  auto refuse = [&](Reply answer, std::string stage) -> std::optional<Refusal> {
    if (usable_) {
      try {
        command("RSET");
      } catch (const Error&) {
        // The refusal is what the client needs to hear; a broken connection
        // is noticed by the next transaction.
      }
    }
    return Refusal{std::move(answer), std::move(stage)};
  };
  std::string mail = fmt::format("MAIL FROM:<{}>", reverse_path);
  if (supports("SIZE"))
    mail += fmt::format(" SIZE={}", message.size());
  if (eight_bit && supports("8BITMIME"))
    mail += " BODY=8BITMIME";
  Reply answer = command(mail);
  if (answer.code != 250)
    return refuse(std::move(answer), "MAIL");
  for (const auto& recipient : recipients) {
    answer = command(fmt::format("RCPT TO:<{}>", recipient));
    if (answer.code != 250 && answer.code != 251)
      return refuse(std::move(answer), "RCPT " + recipient);
  }
  answer = command("DATA");
  if (answer.code != 354)
    return refuse(std::move(answer), "DATA");
  try {
    connection_->write(dot_stuff(message));
    answer = read_reply();
  } catch (...) {
    usable_ = false;
    throw;
  }
  if (answer.code != 250)
    return Refusal{std::move(answer), "end of data"};
  return std::nullopt;
}

void Client::quit() noexcept {
  if (!usable_)
    return;
  try {
    command("QUIT");
  } catch (const Error&) {
    // Leaving anyway.
  }
  usable_ = false;
}

ossl::SslCtx client_tls_context(const std::optional<std::filesystem::path>& ca_file) {
  ossl::SslCtx context(ossl::check_ptr(SSL_CTX_new(TLS_client_method()), "SSL_CTX_new"));
  ossl::check(SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION), "SSL_CTX_set_min_proto_version");
  if (ca_file) {
    if (SSL_CTX_load_verify_locations(context.get(), ca_file->c_str(), nullptr) <= 0)
      ossl::fail(fmt::format("cannot read the CA file {}", ca_file->string()), ErrorCode::Usage);
  } else {
    ossl::check(SSL_CTX_set_default_verify_paths(context.get()), "SSL_CTX_set_default_verify_paths");
  }
  return context;
}

}  // namespace mailseal::smtp
