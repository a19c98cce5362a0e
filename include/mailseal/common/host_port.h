#pragma once
// "HOST:PORT" as the servers take it on the command line (--listen,
// --upstream): one parser for the key service and the gateway.

#include <string>
#include <string_view>

namespace mailseal {

struct HostPort {
  std::string host;
  int port = 0;  // 0 to 65535; 0 asks for any free port when listening
};

// Splits at the last colon (so "[::1]:25" keeps its brackets);
// Error(Usage) with an example when it is not HOST:PORT.
HostPort parse_host_port(std::string_view text);

// Whether `host` (a name or an IP address as given to --listen) is loopback.
bool is_loopback_host(std::string_view host);

}  // namespace mailseal
