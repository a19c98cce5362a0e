#include "mailseal/service/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <microhttpd.h>

#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "mailseal/common/secret.h"
#include "mailseal/common/text.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/keyservice/documents.h"
#include "mailseal/keyservice/protocol.h"
#include "mailseal/service/api.h"
#include "smtp/connection.h"

namespace mailseal::service {

namespace {

// A body announced beyond this is refused at once, the connection closed
// without reading it; up to it, read to its end and then refused (413).
constexpr std::size_t kMaxDrainedBytes = 4 * keyservice::kMaxBodyBytes;

// How long the relay may take for each step of a challenge mail. The
// publication that mails waits for it (after it committed, holding no
// database connection); below the clients' 30 s read timeout
// (keyservice::Client), so that a relay that hangs is reported in the
// receipt ("mail_failed") rather than as a service that did not answer.
constexpr std::chrono::seconds kRelayTimeout{20};

std::string host_of_url(std::string_view url) {
  url.remove_prefix(url.find("://") + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (url.starts_with('['))
    return std::string(url.substr(0, url.find(']') + 1));
  return std::string(url.substr(0, url.find(':')));
}

// A whole number option within [low, high].
long long within(long long value, long long low, long long high, std::string_view option) {
  if (value < low || value > high)
    throw Error(ErrorCode::Usage, fmt::format("{} is {} to {}", option, low, high));
  return value;
}

// Rate limits, quotas, connection limits and proxies (docs/service.md, "Abuse").
void set_abuse_options(const ServeSettings& settings, ServeOptions& options) {
  for (const auto& limit : settings.limits)
    set_rate_limit(options.rates, limit);
  Quotas& quotas = options.quotas;
  quotas.document_bytes =
      static_cast<std::size_t>(within(settings.max_document_kib, 16, keyservice::kMaxBodyBytes / 1024, "--max-document-kib")) *
      1024;
  quotas.addresses = static_cast<std::size_t>(
      within(settings.max_addresses, 1, static_cast<long long>(keyservice::kMaxAddresses), "--max-addresses"));
  quotas.devices = static_cast<std::size_t>(
      within(settings.max_devices, 1, static_cast<long long>(keyservice::kMaxDevices), "--max-devices"));
  quotas.certificates = static_cast<std::size_t>(
      within(settings.max_certificates, 1, static_cast<long long>(keyservice::kMaxCertificates), "--max-certificates"));
  quotas.waiting_joins = static_cast<std::size_t>(within(
      settings.max_waiting_joins, 1, static_cast<long long>(keyservice::kMaxPendingRequests), "--max-waiting-joins"));
  quotas.join_lifetime = std::chrono::minutes(within(settings.join_minutes, 1, 7 * 24 * 60, "--join-minutes"));
  quotas.rejected_retention =
      std::chrono::hours(24 * within(settings.join_retention_days, 0, 366, "--join-retention-days"));
  ConnectionLimits& connections = options.connections;
  connections.workers = static_cast<unsigned>(within(settings.workers, 1, 256, "--workers"));
  connections.connections = static_cast<unsigned>(within(settings.max_connections, 16, 100000, "--max-connections"));
  connections.connections_per_client = static_cast<unsigned>(
      within(settings.max_connections_per_client, 1, settings.max_connections, "--max-connections-per-client"));
  connections.request = std::chrono::seconds(within(settings.request_seconds, 1, 3600, "--request-seconds"));
  connections.idle = std::chrono::seconds(within(settings.idle_seconds, 1, 3600, "--idle-seconds"));
  for (const auto& proxy : settings.trusted_proxies) {
    auto address = canonical_ip(proxy);
    if (!address)
      throw Error(ErrorCode::Usage, fmt::format("--trusted-proxy '{}' is not an IP address", proxy));
    options.trusted_proxies.push_back(*address);
  }
  if (settings.proxy_header == "x-forwarded-for" || settings.proxy_header == "X-Forwarded-For")
    options.proxy_header = ForwardingHeader::XForwardedFor;
  else if (settings.proxy_header == "forwarded" || settings.proxy_header == "Forwarded")
    options.proxy_header = ForwardingHeader::Forwarded;
  else
    throw Error(ErrorCode::Usage, "--proxy-header is x-forwarded-for or forwarded");
}

}  // namespace

ServeOptions serve_options(const ServeSettings& settings) {
  ServeOptions options;
  const HostPort listen = parse_host_port(settings.listen);
  options.host = listen.host;
  options.port = listen.port;
  options.reuse_port = settings.reuse_port;
  options.database = settings.database;
  set_abuse_options(settings, options);
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
  // Links in challenge mails must reach the service: an address that means
  // "every interface" (0.0.0.0, ::) is no place to send a person.
  if (settings.public_url.empty() && (options.host == "0.0.0.0" || options.host == "::" || options.host == "[::]"))
    throw Error(ErrorCode::Usage,
                fmt::format("--listen {} names no address a person can open: give --public-url", settings.listen),
                "the URL people reach the service at, for example https://keys.example.org");
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


namespace {

// One TCP connection: its client, the request being read, and the phase
// of that request with when it began (the deadline's clock). The server's
// mutex guards `phase`, `since` and `cut`; the rest belongs to the worker
// thread that serves the connection.
struct Connection {
  enum class Phase { Reading, Handling, Sending };
  int fd = -1;
  std::string peer;      // canonical IP address
  bool counted = false;  // counts against its client's connection cap
  Phase phase = Phase::Reading;
  std::chrono::steady_clock::time_point since;
  bool cut = false;
  std::string target;  // as sent (MHD unescapes its own copy)
  std::string body;
  bool too_large = false;
};

struct DaemonStop {
  void operator()(MHD_Daemon* daemon) const noexcept { MHD_stop_daemon(daemon); }
};
struct ResponseDestroy {
  void operator()(MHD_Response* response) const noexcept { MHD_destroy_response(response); }
};

std::string peer_address(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address == nullptr)
    return "";
  if (address->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  else if (address->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  return canonical_ip(text).value_or(text);
}

Connection* connection_of(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info == nullptr ? nullptr : static_cast<Connection*>(info->socket_context);
}

std::string header(MHD_Connection* connection, const char* name) {
  const char* value = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
  return value == nullptr ? std::string() : std::string(value);
}

// Every instance of a header field, joined by commas (RFC 9110 section 5.3).
std::string all_values(MHD_Connection* connection, const char* name) {
  struct Collected {
    const char* name;
    std::string values;
  } collected{name, {}};
  MHD_get_connection_values(
      connection, MHD_HEADER_KIND,
      [](void* cls, MHD_ValueKind, const char* key, const char* value) -> MHD_Result {
        auto* into = static_cast<Collected*>(cls);
        if (key != nullptr && value != nullptr && strcasecmp(key, into->name) == 0)
          into->values += (into->values.empty() ? "" : ", ") + std::string(value);
        return MHD_YES;
      },
      &collected);
  return collected.values;
}

// Why a request's framing is ambiguous, which is how requests are smuggled
// past a proxy that reads it another way (RFC 9112 section 6.3): both
// Content-Length and Transfer-Encoding, or Content-Length given twice or as
// anything but digits (a proxy may take the last of two, MHD takes the
// first). `length` holds every Content-Length joined by commas. Such a
// request is refused and its connection closed.
std::optional<std::string> framing_problem(MHD_Connection* connection, std::string_view length) {
  if (length.empty())
    return std::nullopt;
  if (!header(connection, MHD_HTTP_HEADER_TRANSFER_ENCODING).empty())
    return "Content-Length and Transfer-Encoding together";
  if (!std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "Content-Length given more than once or not as digits";
  return std::nullopt;
}

MHD_Result queue(MHD_Connection* connection, const HttpResponse& answer) {
  std::unique_ptr<MHD_Response, ResponseDestroy> response(MHD_create_response_from_buffer(
      answer.body.size(), const_cast<char*>(answer.body.data()), MHD_RESPMEM_MUST_COPY));
  if (!response)
    return MHD_NO;
  MHD_add_response_header(response.get(), "Content-Type", answer.content_type.c_str());
  bool sniffing_set = false, caching_set = false;
  for (const auto& [name, value] : answer.headers) {
    MHD_add_response_header(response.get(), name.c_str(), value.c_str());
    sniffing_set = sniffing_set || equal_ignoring_ascii_case(name, "X-Content-Type-Options");
    caching_set = caching_set || equal_ignoring_ascii_case(name, "Cache-Control");
  }
  // Every answer is what it says it is (a browser never reads JSON as a
  // page), and answers that did not choose otherwise (the API's JSON,
  // refusals) are not kept by caches between the client and the service.
  if (!sniffing_set)
    MHD_add_response_header(response.get(), "X-Content-Type-Options", "nosniff");
  if (!caching_set)
    MHD_add_response_header(response.get(), "Cache-Control", "no-store");
  return MHD_queue_response(connection, static_cast<unsigned>(answer.status), response.get());
}

HttpResponse too_large() {
  HttpResponse answer;
  answer.status = 413;
  answer.body = keyservice::ErrorDocument{"too_large", "the body is larger than the service accepts"}.to_json();
  return answer;
}

}  // namespace

struct Server::Impl {
  ServeOptions options;
  std::unique_ptr<smtp::Sender> mailer;
  std::unique_ptr<Api> api;  // made once bound: the links in mails need the URL
  UniqueFd listener;
  int port = 0;

  std::mutex mutex;  // the connections, their phases, `stopping`
  std::condition_variable wake;
  bool stopping = false;
  std::set<Connection*> connections;
  std::map<std::string, unsigned> per_client;  // open connections by client_key (an address, an IPv6 /64)
  // Connections accept_policy let in whose NOTIFY_STARTED has not come yet
  // (limits.h explains why, and how they lapse and are swept).
  ConnectionReservations reserved;
  // Last: stopped (its threads joined, its connections closed) before the rest goes.
  std::unique_ptr<MHD_Daemon, DaemonStop> daemon;

  explicit Impl(const ServeOptions& given) : options(given) {
    if (options.tls_certificate.has_value() != options.tls_key.has_value())
      throw Error(ErrorCode::Usage, "--tls-cert and --tls-key go together");
    if (options.tls_certificate && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      throw Error(ErrorCode::Unsupported, "this libmicrohttpd has no TLS (HTTPS)");
  }

  // The API over the database, verifying addresses when a relay is given.
  void open_api(const std::string& url) {
    ServiceSettings settings;
    settings.rates = options.rates;
    settings.quotas = options.quotas;
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

  bool trusted(const std::string& peer) const {
    return std::find(options.trusted_proxies.begin(), options.trusted_proxies.end(), peer) !=
           options.trusted_proxies.end();
  }

  void set_phase(Connection& connection, Connection::Phase phase) {
    std::lock_guard lock(mutex);
    connection.phase = phase;
    connection.since = std::chrono::steady_clock::now();
  }

  // The deadline: a connection reading a request (or waiting for the next
  // one) or sending an answer for longer than options.connections.request
  // is shut down, however steadily it trickles bytes. The worker that
  // serves it then sees the end and closes it. Called with `mutex` held;
  // a connection is in `connections` until just before its socket closes.
  void cut_overdue() {
    const auto now = std::chrono::steady_clock::now();
    for (Connection* connection : connections) {
      if (!connection->cut && connection->phase != Connection::Phase::Handling &&
          now - connection->since > options.connections.request) {
        ::shutdown(connection->fd, SHUT_RDWR);
        connection->cut = true;
      }
    }
  }

  void make_room();

  // MHD's callbacks (cls is the Impl).
  static MHD_Result accept_policy(void* cls, const sockaddr* address, socklen_t);
  static void notify_connection(void* cls, MHD_Connection* connection, void** context,
                                MHD_ConnectionNotificationCode code);
  static void* log_uri(void* cls, const char* uri, MHD_Connection* connection);
  static MHD_Result handle(void* cls, MHD_Connection* connection, const char* url, const char* method,
                           const char* version, const char* upload, std::size_t* upload_size, void** request);
  static void completed(void* cls, MHD_Connection* connection, void** request, MHD_RequestTerminationCode);
  MHD_Result answer(MHD_Connection* connection, Connection& state, const char* method);
  void start();
};

// A client at its cap of open connections gets no more (trusted proxies,
// which carry many clients, have none). A client is keyed as for rate
// limits: an IPv6 /64 is one client, or it would hold every slot.
MHD_Result Server::Impl::accept_policy(void* cls, const sockaddr* address, socklen_t) {
  auto* impl = static_cast<Impl*>(cls);
  const std::string peer = peer_address(address);
  if (impl->trusted(peer))
    return MHD_YES;
  const std::string key = client_key(peer);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(impl->mutex);
  auto found = impl->per_client.find(key);
  const unsigned open = found == impl->per_client.end() ? 0 : found->second;
  if (!impl->reserved.reserve(key, open, impl->options.connections.connections_per_client, now))
    return MHD_NO;
  impl->make_room();
  return MHD_YES;
}

// At the cap of open connections, the one that has been reading (or
// waiting) longest is cut for the new one: slow clients from many
// addresses push out each other, not the quick ones. Called with `mutex` held.
void Server::Impl::make_room() {
  std::size_t open = 0;
  Connection* oldest = nullptr;
  for (Connection* connection : connections) {
    if (connection->cut)
      continue;
    ++open;
    if (connection->phase == Connection::Phase::Reading && (oldest == nullptr || connection->since < oldest->since))
      oldest = connection;
  }
  if (open >= options.connections.connections && oldest != nullptr) {
    ::shutdown(oldest->fd, SHUT_RDWR);
    oldest->cut = true;
  }
}

void Server::Impl::notify_connection(void* cls, MHD_Connection* connection, void** context,
                                     MHD_ConnectionNotificationCode code) {
  auto* impl = static_cast<Impl*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    auto state = std::make_unique<Connection>();
    const MHD_ConnectionInfo* fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    const MHD_ConnectionInfo* address = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    state->fd = fd == nullptr ? -1 : fd->connect_fd;
    state->peer = peer_address(address == nullptr ? nullptr : address->client_addr);
    state->since = std::chrono::steady_clock::now();
    std::lock_guard lock(impl->mutex);
    if (!impl->trusted(state->peer)) {
      const std::string key = client_key(state->peer);
      ++impl->per_client[key];
      state->counted = true;
      // Its reservation (the oldest of its client's) is now counted as open.
      impl->reserved.started(key);
    }
    impl->connections.insert(state.get());
    *context = state.release();
    return;
  }
  std::unique_ptr<Connection> state(static_cast<Connection*>(*context));
  *context = nullptr;
  if (!state)
    return;
  std::lock_guard lock(impl->mutex);
  impl->connections.erase(state.get());
  if (state->counted && --impl->per_client[client_key(state->peer)] == 0)
    impl->per_client.erase(client_key(state->peer));
}

// Called with each request's target as sent, before MHD unescapes it: the
// signature covers these bytes.
void* Server::Impl::log_uri(void*, const char* uri, MHD_Connection* connection) {
  if (Connection* state = connection_of(connection)) {
    state->target = uri == nullptr ? "" : uri;
    state->body.clear();
    state->too_large = false;
  }
  return nullptr;
}

MHD_Result Server::Impl::handle(void* cls, MHD_Connection* connection, const char*, const char* method,
                                const char*, const char* upload, std::size_t* upload_size, void** request) {
  auto* impl = static_cast<Impl*>(cls);
  Connection* state = connection_of(connection);
  if (state == nullptr)
    return MHD_NO;
  if (*request == nullptr) {
    // The header is in. A body announced larger than the limit is refused
    // before it is read.
    *request = state;
    const std::string length = all_values(connection, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (std::optional<std::string> problem = framing_problem(connection, length)) {
      impl->set_phase(*state, Connection::Phase::Sending);
      HttpResponse refusal;
      refusal.status = 400;
      refusal.body = keyservice::ErrorDocument{"bad_request", *problem}.to_json();
      refusal.headers.emplace_back("Connection", "close");
      return queue(connection, refusal);
    }
    std::size_t announced = 0;
    std::from_chars(length.data(), length.data() + length.size(), announced);
    if (length.size() > 12 || announced > kMaxDrainedBytes) {
      impl->set_phase(*state, Connection::Phase::Sending);
      return queue(connection, too_large());
    }
    // A little over the limit is read (and dropped) before the refusal, so
    // that a client that sends its body before it reads sees the 413
    // instead of a reset connection.
    state->too_large = announced > keyservice::kMaxBodyBytes;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    if (!state->too_large && state->body.size() + *upload_size <= keyservice::kMaxBodyBytes)
      state->body.append(upload, *upload_size);
    else
      state->too_large = true;  // read to its end (within the deadline), then refused
    *upload_size = 0;
    return MHD_YES;
  }
  return impl->answer(connection, *state, method);
}

MHD_Result Server::Impl::answer(MHD_Connection* connection, Connection& state, const char* method) {
  if (state.too_large) {
    set_phase(state, Connection::Phase::Sending);
    return queue(connection, too_large());
  }
  set_phase(state, Connection::Phase::Handling);
  HttpRequest call{method, state.target, header(connection, MHD_HTTP_HEADER_CONTENT_TYPE),
                   header(connection, MHD_HTTP_HEADER_AUTHORIZATION), std::move(state.body), state.peer};
  state.body.clear();
  if (!options.trusted_proxies.empty()) {
    const char* name = options.proxy_header == ForwardingHeader::Forwarded ? "Forwarded" : "X-Forwarded-For";
    call.client = client_address(state.peer, all_values(connection, name), options.proxy_header,
                                 options.trusted_proxies);
  }
  // The service's clock is read here, once a request: Api decides by it.
  HttpResponse answer = api->handle(call, mailseal::now());
  set_phase(state, Connection::Phase::Sending);
  return queue(connection, answer);
}

// The answer is out (or the connection failed): the next request on the
// connection has the whole deadline again, from now.
void Server::Impl::completed(void* cls, MHD_Connection* connection, void** request, MHD_RequestTerminationCode) {
  *request = nullptr;
  if (Connection* state = connection_of(connection))
    static_cast<Impl*>(cls)->set_phase(*state, Connection::Phase::Reading);
}

void Server::Impl::start() {
  const bool tls = options.tls_certificate.has_value();
  std::string certificate;
  SecretBytes key;
  if (tls) {
    Bytes pem = read_file(*options.tls_certificate);
    certificate.assign(pem.begin(), pem.end());
    key = read_secret_file(*options.tls_key);
    key.push_back(0);
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
                   (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL) |
                   (tls ? MHD_USE_TLS : 0) | (bound.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  const ConnectionLimits& limits = options.connections;
  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_LISTEN_SOCKET, listener.get(), nullptr},
      {MHD_OPTION_THREAD_POOL_SIZE, limits.workers, nullptr},
      // Room above the cap for the connections make_room cuts while they close.
      {MHD_OPTION_CONNECTION_LIMIT, limits.connections + 16 * limits.workers, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(limits.idle.count()), nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&Impl::notify_connection), this},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Impl::completed), this},
      {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&Impl::log_uri), this},
      {MHD_OPTION_STRICT_FOR_CLIENT, 1, nullptr},
  };
  if (tls) {
    items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, key.data()});
    items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, certificate.data()});
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  daemon.reset(MHD_start_daemon(flags, 0, &Impl::accept_policy, this, &Impl::handle, this, MHD_OPTION_ARRAY,
                                items.data(), MHD_OPTION_END));
  if (!daemon)
    throw Error(ErrorCode::Io, tls ? "cannot start the HTTPS server (is the TLS certificate and key right?)"
                                   : "cannot start the HTTP server");
  listener.release();  // MHD closes it when it stops
}

Server::Server(const ServeOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Server::~Server() = default;

int Server::bind() {
  Impl& impl = *impl_;
  smtp::AddressList addresses = smtp::resolve(impl.options.host, impl.options.port, smtp::AddressUse::Listen);
  const addrinfo* found = addresses.get();
  impl.listener.reset(::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol));
  int one = 1;
  if (impl.listener.valid())
    setsockopt(impl.listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // best effort: restarts only
  // Shared with the other processes of --reuse-port; Linux lets only sockets
  // of the same effective user share a port, so a stranger's process cannot
  // join in and take a share of the connections.
  if (impl.listener.valid() && impl.options.reuse_port &&
      setsockopt(impl.listener.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw Error(ErrorCode::Io, fmt::format("cannot share the port (SO_REUSEPORT): {}", std::strerror(errno)));
  if (!impl.listener.valid() || ::bind(impl.listener.get(), found->ai_addr, found->ai_addrlen) != 0 ||
      ::listen(impl.listener.get(), 1024) != 0)
    throw Error(ErrorCode::Io, fmt::format("cannot listen on {}:{}: {}", impl.options.host, impl.options.port,
                                           std::strerror(errno)));
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (getsockname(impl.listener.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0)
    throw Error(ErrorCode::Io, fmt::format("getsockname: {}", std::strerror(errno)));
  impl.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  impl.open_api(url());
  impl.start();
  return impl.port;
}

void Server::run() {
  std::unique_lock lock(impl_->mutex);
  while (!impl_->stopping) {
    impl_->wake.wait_for(lock, std::chrono::milliseconds(250));
    impl_->cut_overdue();
  }
  lock.unlock();
  impl_->daemon.reset();
}

void Server::stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stopping = true;
  impl_->wake.notify_all();
}

bool Server::verifies_addresses() const noexcept {
  return impl_->options.smtp.has_value();
}

std::string Server::url() const {
  return fmt::format("{}://{}:{}", impl_->options.tls_certificate ? "https" : "http", impl_->options.host, impl_->port);
}

}  // namespace mailseal::service
