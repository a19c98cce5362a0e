#include "mailseal/service/server.h"

#include <chrono>

#include <fmt/format.h>
#include <httplib.h>

#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/host_port.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/service/api.h"

namespace mailseal::service {

namespace {

// How long the relay may take for a challenge mail (the service waits).
constexpr std::chrono::seconds kRelayTimeout{30};

std::string host_of_url(std::string_view url) {
  url.remove_prefix(url.find("://") + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (url.starts_with('['))
    return std::string(url.substr(0, url.find(']') + 1));
  return std::string(url.substr(0, url.find(':')));
}

}  // namespace

ServeOptions serve_options(const ServeSettings& settings) {
  ServeOptions options;
  const HostPort listen = parse_host_port(settings.listen);
  options.host = listen.host;
  options.port = listen.port;
  options.database = settings.database;
  if (!settings.tls_certificate.empty())
    options.tls_certificate = settings.tls_certificate;
  if (!settings.tls_key.empty())
    options.tls_key = settings.tls_key;
  if (!settings.smtp.empty() && settings.unverified)
    throw Error(ErrorCode::Usage, "--smtp verifies addresses and --unverified does not: give one of them");
  if (settings.smtp.empty()) {
    if (!settings.unverified && !is_loopback_host(options.host))
      throw Error(
          ErrorCode::Usage,
          fmt::format("--listen {} is not loopback: a key service others reach must verify addresses", settings.listen),
          "give --smtp HOST:PORT (a relay for the challenge mails) and --public-url URL, or --unverified "
          "to list whoever publishes first");
    if (!settings.public_url.empty() || !settings.mail_from.empty() || !settings.smtp_user.empty())
      throw Error(ErrorCode::Usage, "--public-url, --mail-from and --smtp-user need --smtp");
    return options;
  }
  const HostPort relay = parse_host_port(settings.smtp);
  smtp::RelayOptions smtp;
  smtp.host = relay.host;
  smtp.port = relay.port;
  smtp.tls = smtp::parse_relay_tls(settings.smtp_tls, "--smtp-tls");
  if (!settings.smtp_ca.empty())
    smtp.ca_file = settings.smtp_ca;
  smtp.name = "the SMTP relay";
  smtp.option_prefix = "--smtp";
  smtp.client_name = "the key service";
  smtp::set_relay_account(smtp, settings.smtp_user, settings.smtp_password_file, "--smtp");
  options.smtp = std::move(smtp);
  if (!settings.public_url.empty() && !settings.public_url.starts_with("http://") &&
      !settings.public_url.starts_with("https://"))
    throw Error(ErrorCode::Usage, "--public-url is http://... or https://...");
  options.public_url = settings.public_url;
  if (!settings.mail_from.empty() && !EmailAddress::is_valid(settings.mail_from))
    throw Error(ErrorCode::Usage, fmt::format("--mail-from '{}' is not an email address", settings.mail_from));
  options.mail_from = settings.mail_from;
  if (settings.claim_hours < 1 || settings.token_hours < 1 || settings.token_hours > settings.claim_hours ||
      settings.claim_hours > 24 * 365)
    throw Error(ErrorCode::Usage,
                "--claim-hours and --link-hours are at least 1, and a link lasts no longer than "
                "its claim");
  options.lifetimes = {std::chrono::hours(settings.claim_hours), std::chrono::hours(settings.token_hours)};
  return options;
}

struct Server::Impl {
  ServeOptions options;
  std::unique_ptr<smtp::Sender> mailer;
  std::unique_ptr<Api> api;  // made once bound: the links in mails need the URL
  std::unique_ptr<httplib::Server> http;
  int port = 0;

  // The API over the database, verifying addresses when a relay is given.
  void open_api(const std::string& url) {
    ServiceSettings settings;
    if (options.smtp) {
      settings.verification = Verification::Mail;
      settings.public_url = options.public_url.empty() ? url : options.public_url;
      settings.mail_from = options.mail_from.empty() ? "keys@" + host_of_url(settings.public_url) : options.mail_from;
      settings.lifetimes = options.lifetimes;
      mailer = std::make_unique<smtp::Sender>(*options.smtp, host_of_url(settings.public_url), kRelayTimeout);
      settings.send_mail = [this](const OutgoingMail& mail) {
        mailer->send(mail.reverse_path, {mail.recipient}, mail.message);
      };
    }
    api = std::make_unique<Api>(options.database, std::move(settings));
  }

  explicit Impl(const ServeOptions& given) : options(given) {
    if (options.tls_certificate.has_value() != options.tls_key.has_value())
      throw Error(ErrorCode::Usage, "--tls-cert and --tls-key go together");
    if (options.tls_certificate) {
      auto tls = std::make_unique<httplib::SSLServer>(options.tls_certificate->c_str(), options.tls_key->c_str());
      if (!tls->is_valid())
        throw Error(ErrorCode::Io, "cannot load the TLS certificate and key");
      http = std::move(tls);
    } else {
      http = std::make_unique<httplib::Server>();
    }
    http->set_payload_max_length(keyservice::kMaxBodyBytes);
    http->set_read_timeout(10, 0);
    http->set_write_timeout(10, 0);
    auto handler = [this](const httplib::Request& request, httplib::Response& response) {
      HttpRequest call{request.method, request.target, request.get_header_value("Content-Type"),
                       request.get_header_value("Authorization"), request.body};
      // The service's clock is read here, once a request: Api decides by it.
      HttpResponse answer = api->handle(call, mailseal::now());
      response.status = answer.status;
      for (const auto& [name, value] : answer.headers)
        response.set_header(name, value);
      response.set_content(answer.body, answer.content_type);
    };
    http->Get(".*", handler);
    http->Put(".*", handler);
    http->Post(".*", handler);
    http->Delete(".*", handler);
    http->Patch(".*", handler);
    // What httplib refuses itself (oversized bodies, bad requests) also gets
    // a JSON error.
    http->set_error_handler([](const httplib::Request&, httplib::Response& response) {
      if (!response.body.empty())
        return;
      std::string code = response.status == 413 ? "too_large" : "bad_request";
      response.set_content(keyservice::ErrorDocument{code, fmt::format("HTTP {}", response.status)}.to_json(),
                           "application/json");
    });
  }
};

Server::Server(const ServeOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Server::~Server() = default;

int Server::bind() {
  if (impl_->options.port == 0) {
    impl_->port = impl_->http->bind_to_any_port(impl_->options.host);
  } else if (impl_->http->bind_to_port(impl_->options.host, impl_->options.port)) {
    impl_->port = impl_->options.port;
  } else {
    impl_->port = -1;
  }
  if (impl_->port <= 0) {
    throw Error(ErrorCode::Io,
                fmt::format("cannot listen on {}:{}", impl_->options.host, impl_->options.port));
  }
  impl_->open_api(url());
  return impl_->port;
}

void Server::run() {
  impl_->http->listen_after_bind();
}

void Server::stop() {
  impl_->http->stop();
}

bool Server::verifies_addresses() const noexcept {
  return impl_->options.smtp.has_value();
}

std::string Server::url() const {
  return fmt::format("{}://{}:{}", impl_->options.tls_certificate ? "https" : "http", impl_->options.host, impl_->port);
}

}  // namespace mailseal::service
