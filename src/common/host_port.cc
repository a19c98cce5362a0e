#include "mailseal/common/host_port.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "mailseal/common/error.h"

namespace mailseal {

namespace {
constexpr std::size_t kMaxPortDigits = 5;
constexpr int kMaxPort = 65535;
}  // namespace

HostPort parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    throw Error(ErrorCode::Usage, fmt::format("expected HOST:PORT, for example 127.0.0.1:8080, not '{}'", text));
  }
  std::string_view port_text = text.substr(colon + 1);
  if (port_text.size() > kMaxPortDigits || port_text.find_first_not_of("0123456789") != std::string_view::npos) {
    throw Error(ErrorCode::Usage, "the port is a number from 0 to 65535");
  }
  int port = std::stoi(std::string(port_text));
  if (port > kMaxPort) {
    throw Error(ErrorCode::Usage, "the port is a number from 0 to 65535");
  }
  return HostPort{std::string(text.substr(0, colon)), port};
}

bool is_loopback_host(std::string_view host) {
  std::string text(host);
  if (text == "localhost" || text == "::1" || text == "[::1]")
    return true;
  in_addr address{};
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

}  // namespace mailseal
