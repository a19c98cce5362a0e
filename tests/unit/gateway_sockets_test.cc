// Who closes the gateway's descriptors (internal/connection.h, gateway.h): a
// connection closes the socket it was given, also when it cannot be set up;
// a session's thread closes its client when the session ends; a client turned
// away for too many sessions is answered and closed; the listener closes with
// the gateway.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/gateway/gateway.h"
#include "smtp/connection.h"

namespace mailseal::gateway {
namespace {

constexpr std::string_view kNoEnd = "<no end of file>";

// What `fd` receives up to the end of file, followed by kNoEnd if the other
// side still holds its end open when receiving stops.
std::string receive(int fd, int flags) {
  std::string out;
  char buffer[512];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, flags);
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno != EINTR) {
      return out + std::string(kNoEnd);
    }
  }
}

// Without waiting: for a peer that has finished writing.
std::string read_now(int fd) {
  return receive(fd, MSG_DONTWAIT);
}

// Everything the gateway sends until it closes the connection. The receive
// timeout is a safety net, not a measurement: a socket the gateway never
// closed ends the test as a failure instead of hanging it.
std::string read_until_closed(int fd) {
  timeval safety{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &safety, sizeof safety);
  return receive(fd, 0);
}

// A TCP connection to the gateway on 127.0.0.1:port; invalid (errno set) if refused.
UniqueFd connect_to(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int error = errno;
    fd.reset();
    errno = error;
  }
  return fd;
}

// A gateway serving on its own thread until stopped.
class RunningGateway {
 public:
  explicit RunningGateway(GatewayOptions options) : gateway_(std::move(options)) {
    port_ = gateway_.bind();
    thread_ = std::thread([this] {
      try {
        gateway_.run();
      } catch (const std::exception& error) {
        failure_ = error.what();
      }
    });
  }
  ~RunningGateway() { stop(); }
  int port() const { return port_; }
  // Stops the gateway and returns what its run() threw ("" if nothing).
  std::string stop() {
    if (thread_.joinable()) {
      gateway_.stop();
      thread_.join();
    }
    return failure_;
  }

 private:
  Gateway gateway_;
  int port_ = 0;
  std::string failure_;
  std::thread thread_;
};

TEST(GatewayConnection, ClosesTheSocketItWasGiven) {
  int sockets[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), 0);
  UniqueFd peer(sockets[1]);
  {
    smtp::Connection connection(UniqueFd(sockets[0]), std::chrono::seconds(30));
    connection.write("220 ready\r\n");
    EXPECT_EQ(read_now(peer.get()), "220 ready\r\n" + std::string(kNoEnd)) << "open while the connection lives";
  }
  EXPECT_EQ(read_now(peer.get()), "") << "closed with the connection";
}

TEST(GatewayConnection, ClosesTheSocketWhenItCannotBeSetUp) {
  // A pipe is no socket: its timeouts cannot be set, and the constructor throws.
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC | O_NONBLOCK), 0);
  UniqueFd read_end(ends[0]);
  EXPECT_THROW(smtp::Connection(UniqueFd(ends[1]), std::chrono::seconds(30)), Error);
  char byte = 0;
  EXPECT_EQ(::read(read_end.get(), &byte, 1), 0) << "the write end is closed (-1 with EAGAIN while it is open)";
}

TEST(GatewaySockets, ASessionsThreadClosesItsClient) {
  RunningGateway running{GatewayOptions{}};
  UniqueFd client = connect_to(running.port());
  ASSERT_TRUE(client.valid()) << std::strerror(errno);
  static constexpr std::string_view quit = "QUIT\r\n";
  ASSERT_EQ(::send(client.get(), quit.data(), quit.size(), MSG_NOSIGNAL), static_cast<ssize_t>(quit.size()));
  std::string answer = read_until_closed(client.get());
  EXPECT_EQ(answer.rfind("220 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n221 "), std::string::npos) << answer;
  EXPECT_EQ(answer.find(kNoEnd), std::string::npos) << "the session's socket was not closed: " << answer;
  EXPECT_EQ(running.stop(), "");
}

TEST(GatewaySockets, AClientTurnedAwayIsAnsweredAndClosed) {
  GatewayOptions options;
  options.max_sessions = 0;
  RunningGateway running(std::move(options));
  UniqueFd client = connect_to(running.port());
  ASSERT_TRUE(client.valid()) << std::strerror(errno);
  EXPECT_EQ(read_until_closed(client.get()), "421 4.3.2 too many connections, try again later\r\n");
  EXPECT_EQ(running.stop(), "");
}

TEST(GatewaySockets, TheListenerClosesWithTheGateway) {
  int port = 0;
  {
    Gateway gateway(GatewayOptions{});
    port = gateway.bind();
    UniqueFd waiting = connect_to(port);  // accepted into the backlog: the socket listens
    ASSERT_TRUE(waiting.valid()) << std::strerror(errno);
  }
  UniqueFd late = connect_to(port);
  EXPECT_FALSE(late.valid());
  EXPECT_EQ(errno, ECONNREFUSED) << std::strerror(errno);
}

}  // namespace
}  // namespace mailseal::gateway
