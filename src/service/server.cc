#include "mailseal/service/server.h"

#include <chrono>

#include <fmt/format.h>
#include <httplib.h>

#include "mailseal/common/error.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/service/api.h"

namespace mailseal::service {

struct Server::Impl {
  ServeOptions options;
  Api api;
  std::unique_ptr<httplib::Server> http;
  int port = 0;

  explicit Impl(const ServeOptions& given) : options(given), api(given.database) {
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
      HttpResponse answer = api.handle(call, mailseal::now());
      response.status = answer.status;
      response.set_content(answer.body, "application/json");
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
  return impl_->port;
}

void Server::run() {
  impl_->http->listen_after_bind();
}

void Server::stop() {
  impl_->http->stop();
}

std::string Server::url() const {
  return fmt::format("{}://{}:{}", impl_->options.tls_certificate ? "https" : "http", impl_->options.host, impl_->port);
}

}  // namespace mailseal::service
