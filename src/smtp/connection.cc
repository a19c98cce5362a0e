#include "smtp/connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/err.h>

#include "mailseal/common/error.h"

namespace mailseal::smtp {

namespace {

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof value) != 0)
    throw Error(ErrorCode::Io, fmt::format("cannot set socket timeouts: {}", std::strerror(errno)));
}

[[noreturn]] void fail_io(std::string_view what) {
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    throw Error(ErrorCode::Io, fmt::format("{}: the peer did not answer in time", what));
  throw Error(ErrorCode::Io, fmt::format("{}: {}", what, std::strerror(errno)));
}

}  // namespace

void AddressListFree::operator()(addrinfo* list) const noexcept {
  freeaddrinfo(list);
}

AddressList resolve(const std::string& host, int port, AddressUse use) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (use == AddressUse::Listen) {
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  }
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int status = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); status != 0) {
    if (use == AddressUse::Listen) {
      throw Error(ErrorCode::Usage, fmt::format("cannot listen on {}: {}", host, gai_strerror(status)));
    }
    throw Error(ErrorCode::Io, fmt::format("cannot resolve {}: {}", host, gai_strerror(status)));
  }
  return AddressList(found);
}

Connection::Connection(UniqueFd socket, std::chrono::seconds timeout) : fd_(std::move(socket)), timeout_(timeout) {
  set_timeouts(fd_.get(), timeout);
}

void Connection::set_timeout(std::chrono::seconds timeout) {
  timeout_ = timeout;
  set_timeouts(fd_.get(), timeout);
}

Connection::~Connection() {
  if (ssl_) {
    // A close_notify, best effort: the peer may be gone already.
    SSL_shutdown(ssl_.get());
  }
}

std::unique_ptr<Connection> Connection::connect(const std::string& host, int port, std::chrono::seconds timeout) {
  AddressList addresses = resolve(host, port, AddressUse::Connect);
  std::string last_error = "no address";
  for (addrinfo* address = addresses.get(); address != nullptr; address = address->ai_next) {
    UniqueFd candidate(::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol));
    if (!candidate.valid()) {
      last_error = std::strerror(errno);
      continue;
    }
    int fd = candidate.get();
    auto connection = std::make_unique<Connection>(std::move(candidate), timeout);
    if (::connect(fd, address->ai_addr, address->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort: latency only
      return connection;
    }
    last_error = std::strerror(errno);
  }
  throw Error(ErrorCode::Io, fmt::format("cannot connect to {}:{}: {}", host, port, last_error));
}

std::size_t Connection::fill() {
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 65536) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  char chunk[16384];
  while (true) {
    if (time_left_) {
      std::chrono::milliseconds left = time_left_();
      if (left <= std::chrono::milliseconds(0))
        throw Error(ErrorCode::Io, "reading from the connection: the time for this line ran out");
      set_timeouts(fd_.get(), std::min<std::chrono::milliseconds>(left, timeout_));
    }
    if (ssl_) {
      int read = SSL_read(ssl_.get(), chunk, sizeof chunk);
      if (read > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(read));
        return static_cast<std::size_t>(read);
      }
      int reason = SSL_get_error(ssl_.get(), read);
      if (reason == SSL_ERROR_ZERO_RETURN)
        return 0;
      if (reason == SSL_ERROR_SYSCALL && errno == 0)
        return 0;  // the peer closed without close_notify
      if (reason == SSL_ERROR_SYSCALL)
        fail_io("reading from the connection");
      ERR_clear_error();
      throw Error(ErrorCode::Io, "the TLS connection failed");
    }
    ssize_t read = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (read > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(read));
      return static_cast<std::size_t>(read);
    }
    if (read == 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno == ECONNRESET)
      return 0;
    fail_io("reading from the connection");
  }
}

Line Connection::read_line(std::size_t limit) {
  Line line;
  bool cut = false;
  while (true) {
    std::size_t newline = buffer_.find('\n', start_);
    std::size_t available = (newline == std::string::npos ? buffer_.size() : newline) - start_;
    if (!cut && available > limit) {
      // Keep the first `limit` bytes, drop the rest up to the line ending.
      line.text.assign(buffer_, start_, limit);
      cut = true;
    }
    if (newline != std::string::npos) {
      line.crlf = newline > 0 && buffer_[newline - 1] == '\r';
      if (!cut) {
        line.text.assign(buffer_, start_, available);
        if (line.crlf && !line.text.empty())
          line.text.pop_back();
      }
      start_ = newline + 1;
      line.status = cut ? Line::Status::TooLong : Line::Status::Complete;
      return line;
    }
    if (cut) {
      buffer_.clear();
      start_ = 0;
    }
    if (fill() == 0) {
      line.status = Line::Status::End;
      return line;
    }
  }
}

void Connection::write(std::string_view bytes) {
  while (!bytes.empty()) {
    if (ssl_) {
      int written = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
      if (written <= 0) {
        ERR_clear_error();
        fail_io("writing to the TLS connection");
      }
      bytes.remove_prefix(static_cast<std::size_t>(written));
      continue;
    }
    ssize_t written = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      fail_io("writing to the connection");
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

void Connection::discard_buffered_input() {
  buffer_.clear();
  start_ = 0;
}

void Connection::start_tls_server(SSL_CTX* context) {
  discard_buffered_input();
  ossl::Ssl ssl(ossl::check_ptr(SSL_new(context), "SSL_new"));
  ossl::check(SSL_set_fd(ssl.get(), fd_.get()), "SSL_set_fd");
  if (SSL_accept(ssl.get()) <= 0)
    ossl::fail("the TLS handshake with the client failed", ErrorCode::Io);
  ssl_ = std::move(ssl);
}

void Connection::start_tls_client(SSL_CTX* context, const std::string& host) {
  discard_buffered_input();
  ossl::Ssl ssl(ossl::check_ptr(SSL_new(context), "SSL_new"));
  ossl::check(SSL_set_fd(ssl.get(), fd_.get()), "SSL_set_fd");
  // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
  ossl::check(static_cast<int>(SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                        const_cast<char*>(host.c_str()))),
              "SSL_set_tlsext_host_name");
  ossl::check(SSL_set1_host(ssl.get(), host.c_str()), "SSL_set1_host");
  SSL_set_verify(ssl.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_connect(ssl.get()) <= 0) {
    long verify = SSL_get_verify_result(ssl.get());
    if (verify != X509_V_OK) {
      ERR_clear_error();
      throw Error(ErrorCode::Io,
                  fmt::format("the server's TLS certificate is not valid for {}: {}", host,
                              X509_verify_cert_error_string(verify)),
                  "give the CA file (--upstream-ca, --smtp-ca) when the server uses a private CA");
    }
    ossl::fail("the TLS handshake with the server failed", ErrorCode::Io);
  }
  ssl_ = std::move(ssl);
}

void Connection::shutdown_reading() noexcept {
  ::shutdown(fd_.get(), SHUT_RD);
}

}  // namespace mailseal::smtp
