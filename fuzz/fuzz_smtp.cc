// The gateway's SMTP server on untrusted clients, and its reader of upstream
// replies. Input starting with "R": lines fed to the reply reader, as an
// upstream would send them. Input starting with "S": a whole session, the
// rest played after "EHLO" and a successful "AUTH PLAIN" (credential fuzz,
// secret "secret"), so that MAIL, RCPT, DATA with arbitrary data, the
// smuggling and header rules are reached. Otherwise: the bytes a client
// sends, from the greeting on. Both into a real session over a socket pair
// (a loopback client: AUTH is offered in clear), with an upstream that
// cannot be reached and a profile that does not exist. Properties: nothing
// crashes or hangs, everything the gateway answers is a well-formed SMTP
// reply, and no message is ever accepted (250 after DATA) without an
// upstream.

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "fuzz.h"
#include "gateway/internal/session.h"
#include "mailseal/common/error.h"
#include "mailseal/common/unique_fd.h"
#include "mailseal/smtp/protocol.h"
#include "smtp/connection.h"

namespace mailseal::fuzz {

namespace {

void read_replies(std::string_view text) {
  smtp::ReplyReader reader;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    try {
      if (reader.feed(line)) {
        smtp::Reply reply = reader.take();
        if (reply.code < 200 || reply.code > 599 || reply.lines.empty())
          std::abort();
        reader = smtp::ReplyReader();
      }
    } catch (const Error&) {
      reader = smtp::ReplyReader();
    }
  }
}

const gateway::GatewayOptions& options() {
  static const gateway::GatewayOptions instance = [] {
    gateway::GatewayOptions made;
    made.upstream.host = "127.0.0.1";
    made.upstream.port = 1;  // nothing listens there: the upstream is unavailable
    made.home = "/nonexistent/mailseal-fuzz-home";
    made.max_message_size = 4096;
    made.timeout = std::chrono::seconds(5);
    return made;
  }();
  return instance;
}

// Every line the gateway wrote must be "DDD TEXT" or "DDD-TEXT" in printable ASCII.
void check_replies(const std::string& written) {
  std::size_t start = 0;
  while (start < written.size()) {
    std::size_t end = written.find("\r\n", start);
    if (end == std::string::npos)
      std::abort();  // a reply without its line ending
    std::string_view line(written.data() + start, end - start);
    if (line.size() < 3 || line[0] < '2' || line[0] > '5')
      std::abort();
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) >= 127)
        std::abort();
    }
    start = end + 2;
  }
}

// The plaintext SMTP AUTH PLAIN of user "fuzz" with secret "secret".
constexpr std::string_view kLogin = "EHLO fuzz.example\r\nAUTH PLAIN AGZ1enoAc2VjcmV0\r\n";

// The home does not exist, so the session's check that the credential is
// still in the store fails to read it and leaves the decision to the
// delivery, as for any store that cannot be read: MAIL is still played.
std::optional<gateway::ProvenCredential> fuzz_credential(std::string_view name, std::string_view secret) {
  if (name == "fuzz" && secret == "secret")
    return gateway::ProvenCredential{gateway::CredentialInfo{"fuzz", {}, {}}, {}};
  return std::nullopt;
}

// No reply may say that a message was relayed: there is no upstream.
void check_nothing_relayed(const std::string& written) {
  if (written.find("250 2.0.0 relayed:") != std::string::npos)
    std::abort();
}

void play_session(std::span<const std::uint8_t> input) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) != 0)
    std::abort();
  UniqueFd server_end(sockets[0]);
  std::string written;
  std::thread client([&, client_end = UniqueFd(sockets[1])] {
    std::size_t sent = 0;
    while (sent < input.size()) {
      ssize_t n = ::send(client_end.get(), input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        break;  // the gateway closed the session (QUIT, too many errors)
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(client_end.get(), SHUT_WR);
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(client_end.get(), buffer, sizeof buffer, 0)) > 0)
      written.append(buffer, static_cast<std::size_t>(n));
  });
  static gateway::internal::Shared shared{
      options(),       nullptr, nullptr, "fuzz.invalid", gateway::LookupSchedule(std::chrono::seconds(3600)),
      fuzz_credential, nullptr, {}, {}};
  {
    smtp::Connection connection(std::move(server_end), std::chrono::seconds(5));
    try {
      gateway::internal::Session(connection, shared, true).run();
    } catch (const Error&) {
      // The client went away while being answered.
    }
  }
  client.join();
  check_replies(written);
  check_nothing_relayed(written);
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  if (!text.empty() && text.front() == 'R') {
    read_replies(text.substr(1));
    return;
  }
  if (!text.empty() && text.front() == 'S') {
    std::string session(kLogin);
    session.append(text.substr(1));
    play_session(std::span(reinterpret_cast<const std::uint8_t*>(session.data()), session.size()));
    return;
  }
  play_session(input);
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
