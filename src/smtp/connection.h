#pragma once
// A TCP connection that speaks lines, in clear or over TLS (STARTTLS turns
// one into the other). Blocking, with a timeout on every read and write, so
// that a silent peer cannot hold a gateway thread forever.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/openssl.h"
#include "mailseal/common/unique_fd.h"

struct addrinfo;

namespace mailseal::smtp {

// The addresses getaddrinfo found (a linked list), freed with freeaddrinfo.
struct AddressListFree {
  void operator()(addrinfo* list) const noexcept;
};
using AddressList = std::unique_ptr<addrinfo, AddressListFree>;

enum class AddressUse { Connect, Listen };

// The TCP addresses of `host` and `port`, to connect to or to listen on;
// never empty. Error(Io) when a host to connect to cannot be resolved,
// Error(Usage) for an address to listen on.
AddressList resolve(const std::string& host, int port, AddressUse use);

struct Line {
  enum class Status { Complete, TooLong, End };
  Status status = Status::End;
  std::string text;   // without the line ending; cut at the limit when TooLong
  bool crlf = false;  // ended by CRLF (false: by a bare LF, or the end)
};

class Connection {
 public:
  // Takes a connected socket; it is closed with the connection, or at once
  // when the constructor fails (Error(Io): the timeouts cannot be set).
  Connection(UniqueFd socket, std::chrono::seconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects to HOST:PORT; Error(Io) naming the address when it cannot.
  static std::unique_ptr<Connection> connect(const std::string& host, int port, std::chrono::seconds timeout);

  // Reads one line ended by CRLF or a bare LF (Line::crlf tells which). A line longer than `limit` is read
  // to its end and returned cut, as TooLong. End when the peer closed.
  // Error(Io) on a timeout or a broken connection.
  Line read_line(std::size_t limit);
  // The timeout of every read and write from now on.
  void set_timeout(std::chrono::seconds timeout);
  // How long reading may still take (asked before every read; the caller
  // owns the clock): each read waits at most that long, and none starts
  // when it is zero or less (Error(Io)). A peer that sends a byte now and
  // then cannot stretch a deadline this way. Unset: only the timeout.
  using TimeLeft = std::function<std::chrono::milliseconds()>;
  void set_time_left(TimeLeft time_left) { time_left_ = std::move(time_left); }
  // Error(Io) when the peer is gone.
  void write(std::string_view bytes);

  // True when the peer sent bytes not yet read (pipelined commands).
  bool has_buffered_input() const noexcept { return start_ < buffer_.size(); }
  // STARTTLS: commands sent before the handshake must not be obeyed after it
  // (the plaintext injection of CVE-2011-0411).
  void discard_buffered_input();

  void start_tls_server(SSL_CTX* context);
  // Verifies the server's certificate for `host` against the context's trust.
  void start_tls_client(SSL_CTX* context, const std::string& host);
  bool secure() const noexcept { return ssl_ != nullptr; }

  // Makes a blocked read on another thread return End (for shutdown).
  void shutdown_reading() noexcept;

 private:
  std::size_t fill();  // reads more into buffer_; 0 at the end
  UniqueFd fd_;
  ossl::Ssl ssl_;  // refers to fd_ (SSL_set_fd): declared after it, so freed before the socket is closed
  std::string buffer_;
  std::size_t start_ = 0;
  std::chrono::seconds timeout_;
  TimeLeft time_left_;
};

}  // namespace mailseal::smtp
