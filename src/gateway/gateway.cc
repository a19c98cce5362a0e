#include "mailseal/gateway/gateway.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <cstdint>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/openssl.h"
#include "gateway/internal/session.h"
#include "gateway/internal/sync_loop.h"
#include "mailseal/common/error.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/profile/profile.h"

namespace mailseal::gateway {

namespace {

std::string local_hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
    return "localhost";
  return name;
}

ossl::SslCtx client_facing_tls(const GatewayOptions& options) {
  if (!options.tls_certificate || !options.tls_key)
    return nullptr;
  ossl::SslCtx context(ossl::check_ptr(SSL_CTX_new(TLS_server_method()), "SSL_CTX_new"));
  ossl::check(SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION), "SSL_CTX_set_min_proto_version");
  if (SSL_CTX_use_certificate_chain_file(context.get(), options.tls_certificate->c_str()) <= 0)
    ossl::fail(fmt::format("cannot use the TLS certificate {}", options.tls_certificate->string()), ErrorCode::Usage);
  if (SSL_CTX_use_PrivateKey_file(context.get(), options.tls_key->c_str(), SSL_FILETYPE_PEM) <= 0 ||
      SSL_CTX_check_private_key(context.get()) <= 0)
    ossl::fail(fmt::format("cannot use the TLS key {}", options.tls_key->string()), ErrorCode::Usage);
  return context;
}

// Who is at the other end of an accepted socket: the peer's IP address and
// whether it came over loopback.
struct Peer {
  std::string address;
  bool local = false;
  // The key of the per-client cap: every loopback peer (127.0.0.2 as much as
  // 127.0.0.1) is the same machine, so one client.
  std::string client() const { return local ? std::string("loopback") : address; }
};

Peer peer_of(int fd) {
  sockaddr_storage local{}, remote{};
  socklen_t local_length = sizeof local, remote_length = sizeof remote;
  Peer peer;
  char text[INET6_ADDRSTRLEN] = {};
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_length) == 0) {
    const void* raw = remote.ss_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&remote)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&remote)->sin_addr);
    if (inet_ntop(remote.ss_family, raw, text, sizeof text) != nullptr)
      peer.address = text;
  }
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) == 0) {
    if (local.ss_family == AF_INET)
      peer.local = (ntohl(reinterpret_cast<sockaddr_in*>(&local)->sin_addr.s_addr) >> 24) == 127;
    else if (local.ss_family == AF_INET6)
      peer.local = IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
  }
  return peer;
}

}  // namespace

struct Gateway::Impl {
  explicit Impl(GatewayOptions gateway_options)
      : options(std::move(gateway_options)),
        client_tls(client_facing_tls(options)),
        upstream_context(smtp::client_tls_context(options.upstream.ca_file)),
        shared{options,
               client_tls.get(),
               upstream_context.get(),
               local_hostname(),
               LookupSchedule(options.refresh_interval),
               [this](std::string_view name, std::string_view secret) { return check(name, secret); },
               [this](const internal::Connection& connection) { authenticated(connection); },
               {},
               {}} {}

  // One session, oldest first in `entries`.
  struct Entry {
    internal::Connection* connection = nullptr;  // while the session runs
    std::string client;                          // Peer::client()
    bool authenticated = false;
    bool evicted = false;  // closed to admit a newcomer: no longer counted
  };

  void serve(UniqueFd client, Peer peer, std::uint64_t order);
  // A new client: its order, or nullopt (after a 421) when a cap is reached
  // and no unauthenticated session can make room. Under sessions_lock.
  std::optional<std::uint64_t> admit(int fd, const Peer& peer);
  // Closes the oldest unauthenticated session (of `client`, when given):
  // false when there is none.
  bool evict_oldest(const std::string* client);
  void authenticated(const internal::Connection& connection) {
    std::lock_guard lock(sessions_lock);
    for (auto& [order, entry] : entries) {
      if (entry.connection == &connection)
        entry.authenticated = true;
    }
  }
  std::optional<ProvenCredential> check(std::string_view name, std::string_view secret) {
    profile::Profile profile = profile::Profile::open(options.home);
    return check_credential(profile, name, secret);
  }

  GatewayOptions options;
  ossl::SslCtx client_tls;
  ossl::SslCtx upstream_context;
  internal::Shared shared;
  UniqueFd listener;
  // A byte written to wake_write makes run() stop (a self-pipe: poll() waits
  // on the listener and on wake_read).
  UniqueFd wake_read;
  UniqueFd wake_write;

  std::mutex sessions_lock;
  std::condition_variable sessions_ended;
  std::map<std::uint64_t, Entry> entries;  // every session thread's, until it ends
  std::uint64_t next_order = 0;
  std::size_t active = 0;                          // sessions not evicted
  std::map<std::string, std::size_t> per_client;  // sessions not evicted, by Peer::client()
};

Gateway::Gateway(GatewayOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Gateway::~Gateway() = default;

int Gateway::bind() {
  Impl& impl = *impl_;
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0)
    throw Error(ErrorCode::Io, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  impl.wake_read.reset(wake[0]);
  impl.wake_write.reset(wake[1]);
  internal::AddressList addresses =
      internal::resolve(impl.options.host, impl.options.port, internal::AddressUse::Listen);
  const addrinfo* found = addresses.get();
  impl.listener.reset(::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol));
  if (!impl.listener.valid())
    throw Error(ErrorCode::Io, fmt::format("cannot create a socket: {}", std::strerror(errno)));
  int fd = impl.listener.get();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // best effort: restarts only
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 128) != 0)
    throw Error(ErrorCode::Io,
                fmt::format("cannot listen on {}:{}: {}", impl.options.host, impl.options.port, std::strerror(errno)));
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0)
    throw Error(ErrorCode::Io, fmt::format("getsockname: {}", std::strerror(errno)));
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

bool Gateway::Impl::evict_oldest(const std::string* client) {
  for (auto& [order, entry] : entries) {
    if (entry.authenticated || entry.evicted || (client != nullptr && entry.client != *client))
      continue;
    entry.evicted = true;
    --active;
    if (--per_client[entry.client] == 0)
      per_client.erase(entry.client);
    if (entry.connection != nullptr)
      entry.connection->shutdown_reading();  // its session ends; serve() forgets it
    return true;
  }
  return false;
}

std::optional<std::uint64_t> Gateway::Impl::admit(int fd, const Peer& peer) {
  std::string_view busy;
  std::string client = peer.client();
  {
    std::lock_guard lock(sessions_lock);
    // A full gateway (or a client at its cap) makes room by closing the
    // oldest session that has not authenticated: idle or slow clients
    // cannot lock out one that comes to authenticate.
    if (per_client.count(client) && per_client[client] >= options.max_sessions_per_client &&
        !evict_oldest(&client)) {
      busy = "421 4.3.2 too many connections from your address, try again later\r\n";
    } else if (active >= options.max_sessions && !evict_oldest(nullptr)) {
      busy = "421 4.3.2 too many connections, try again later\r\n";
    } else {
      ++active;
      ++per_client[client];
      std::uint64_t order = next_order++;
      entries[order] = Entry{nullptr, client, false, false};
      return order;
    }
  }
  ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL);  // best effort: closing anyway
  return std::nullopt;
}

void Gateway::Impl::serve(UniqueFd client, Peer peer, std::uint64_t order) {
  try {
    internal::Connection connection(std::move(client), options.timeout);
    {
      std::lock_guard lock(sessions_lock);
      Entry& entry = entries.at(order);
      entry.connection = &connection;
      if (entry.evicted)
        connection.shutdown_reading();
    }
    try {
      internal::Session(connection, shared, peer.local).run();
    } catch (const Error& error) {
      internal::report(options, fmt::format("session ended: {}", error.what()));
    }
    std::lock_guard lock(sessions_lock);
    entries.at(order).connection = nullptr;
  } catch (const std::exception& error) {
    internal::report(options, fmt::format("session failed: {}", error.what()));
  }
  std::lock_guard lock(sessions_lock);
  auto found = entries.find(order);
  if (!found->second.evicted) {
    --active;
    if (--per_client[found->second.client] == 0)
      per_client.erase(found->second.client);
  }
  entries.erase(found);
  sessions_ended.notify_all();
}

void Gateway::run() {
  Impl& impl = *impl_;
  if (!impl.listener.valid())
    bind();
  internal::SyncLoop sync(impl.options);
  while (true) {
    pollfd watched[2] = {{impl.listener.get(), POLLIN, 0}, {impl.wake_read.get(), POLLIN, 0}};
    if (::poll(watched, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      throw Error(ErrorCode::Io, fmt::format("poll: {}", std::strerror(errno)));
    }
    if (watched[1].revents != 0)
      break;
    UniqueFd client(::accept4(impl.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid())
      continue;  // the client gave up before we accepted it
    Peer peer = peer_of(client.get());
    std::optional<std::uint64_t> order = impl.admit(client.get(), peer);
    if (!order)
      continue;
    // The session's thread owns the socket from here on.
    std::thread([&impl, socket = std::move(client), peer, order = *order]() mutable {
      impl.serve(std::move(socket), std::move(peer), order);
    }).detach();
  }
  // Stop: no new sessions; idle ones are told the connection is closing,
  // and lookups under way end at once.
  impl.shared.service_clients.cancel_all();
  std::unique_lock lock(impl.sessions_lock);
  for (auto& [order, entry] : impl.entries) {
    if (entry.connection != nullptr)
      entry.connection->shutdown_reading();
  }
  impl.sessions_ended.wait(lock, [&] { return impl.entries.empty(); });
}

void Gateway::stop() {
  if (impl_->wake_write.valid()) {
    char byte = 1;
    // A full pipe means a stop is already pending.
    [[maybe_unused]] ssize_t written = ::write(impl_->wake_write.get(), &byte, 1);
  }
}

}  // namespace mailseal::gateway
