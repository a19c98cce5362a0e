// The gateway's settings: their defaults (gateway.h), their checks, and the
// options built from them.

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "mailseal/gateway/gateway.h"

namespace mailseal::gateway {

namespace {

// The password for the upstream, from a file only its owner can read. One
// line; a final line break is not part of it.
Passphrase read_upstream_password(const std::string& file) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0)
    throw Error(ErrorCode::Usage,
                fmt::format("cannot read --upstream-password-file {}: {}", file, std::strerror(errno)));
  if ((status.st_mode & 077) != 0)
    throw Error(ErrorCode::Usage,
                fmt::format("--upstream-password-file {} is readable by group or others, and holds a password", file),
                fmt::format("chmod 600 {}", file));
  SecretBytes bytes = read_secret_file(file, 4096);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (text.empty() || text.find_first_of("\r\n") != std::string_view::npos)
    throw Error(ErrorCode::Usage, fmt::format("--upstream-password-file {} must hold the password on one line", file));
  return Passphrase(text);
}

void set_upstream_account(const GatewaySettings& settings, UpstreamOptions& upstream) {
  if (settings.upstream_user.empty() != settings.upstream_password_file.empty())
    throw Error(ErrorCode::Usage, "--upstream-user and --upstream-password-file go together");
  if (settings.upstream_user.empty())
    return;
  if (upstream.tls == UpstreamTls::None && !is_loopback_host(upstream.host))
    throw Error(ErrorCode::Usage, "--upstream-user would send the password in clear to a host that is not loopback",
                "use --upstream-tls starttls or tls");
  upstream.user = settings.upstream_user;
  upstream.password = read_upstream_password(settings.upstream_password_file);
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  std::string text(host);
  if (text == "localhost" || text == "::1" || text == "[::1]")
    return true;
  in_addr address{};
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

UpstreamTls parse_upstream_tls(std::string_view text) {
  if (text == "none")
    return UpstreamTls::None;
  if (text == "starttls")
    return UpstreamTls::StartTls;
  if (text == "tls")
    return UpstreamTls::Tls;
  throw Error(ErrorCode::Usage, fmt::format("unknown upstream TLS mode '{}'", text), "use none, starttls or tls");
}

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
  options.upstream.tls = parse_upstream_tls(settings.upstream_tls);
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
  if (settings.auth_timeout < 1)
    throw Error(ErrorCode::Usage, "--auth-timeout must be at least one second");
  options.auth_timeout = std::chrono::seconds(settings.auth_timeout);
  if (settings.max_sessions_per_client < 1)
    throw Error(ErrorCode::Usage, "--max-per-client must be at least 1");
  options.max_sessions_per_client = settings.max_sessions_per_client;
  set_upstream_account(settings, options.upstream);
  return options;
}

}  // namespace mailseal::gateway
