// The gateway's settings: their defaults (gateway.h), their checks, and the
// options built from them.

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "mailseal/gateway/gateway.h"

namespace mailseal::gateway {

EncryptionPolicy parse_encryption_policy(std::string_view text) {
  if (text == "opportunistic")
    return EncryptionPolicy::Opportunistic;
  if (text == "required")
    return EncryptionPolicy::Required;
  throw Error(ErrorCode::Usage, fmt::format("unknown policy '{}'", text), "use opportunistic or required");
}

GatewayOptions gateway_options(const GatewaySettings& settings) {
  GatewayOptions options;
  const HostPort listen = parse_host_port(settings.listen);
  options.host = listen.host;
  options.port = listen.port;
  const HostPort upstream = parse_host_port(settings.upstream);
  options.upstream.host = upstream.host;
  options.upstream.port = upstream.port;
  options.upstream.tls = smtp::parse_relay_tls(settings.upstream_tls, "--upstream-tls");
  options.upstream.name = "the upstream";
  options.upstream.option_prefix = "--upstream";
  options.upstream.client_name = "the gateway";
  if (!settings.upstream_ca.empty())
    options.upstream.ca_file = settings.upstream_ca;
  options.policy = parse_encryption_policy(settings.policy);
  if (settings.tls_certificate.empty() != settings.tls_key.empty())
    throw Error(ErrorCode::Usage, "--tls-cert and --tls-key go together");
  if (!settings.tls_certificate.empty()) {
    options.tls_certificate = settings.tls_certificate;
    options.tls_key = settings.tls_key;
  } else if (!is_loopback_host(options.host)) {
    throw Error(
        ErrorCode::Usage,
        fmt::format("--listen {} is not a loopback address: clients there need TLS to authenticate", settings.listen),
        "give --tls-cert and --tls-key, or listen on 127.0.0.1");
  }
  if (settings.max_size < kMinMessageSize)
    throw Error(ErrorCode::Usage, fmt::format("--max-size must be at least {} bytes", kMinMessageSize));
  if (settings.timeout < 1)
    throw Error(ErrorCode::Usage, "--timeout must be at least one second");
  options.max_message_size = settings.max_size;
  options.timeout = std::chrono::seconds(settings.timeout);
  if (settings.refresh < 0)
    throw Error(ErrorCode::Usage, "--refresh is a number of seconds, 0 or more");
  options.refresh_interval = std::chrono::seconds(settings.refresh);
  if (settings.sync < 0)
    throw Error(ErrorCode::Usage, "--sync is a number of seconds, 0 or more");
  options.sync_interval = std::chrono::seconds(settings.sync);
  if (settings.auth_timeout < 1)
    throw Error(ErrorCode::Usage, "--auth-timeout must be at least one second");
  options.auth_timeout = std::chrono::seconds(settings.auth_timeout);
  if (settings.max_sessions_per_client < 1)
    throw Error(ErrorCode::Usage, "--max-per-client must be at least 1");
  options.max_sessions_per_client = settings.max_sessions_per_client;
  smtp::set_relay_account(options.upstream, settings.upstream_user, settings.upstream_password_file, "--upstream");
  return options;
}

}  // namespace mailseal::gateway
