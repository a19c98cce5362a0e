// gateway: the SMTP gateway in the foreground until SIGINT or SIGTERM.

#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/signal_stopper.h"
#include "mailseal/common/error.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/host_port.h"
#include "mailseal/gateway/credentials.h"
#include "mailseal/gateway/gateway.h"
#include "mailseal/profile/profile.h"

namespace mailseal::cli {

int run_gateway(const Context& context, const GatewayArgs& args) {
  gateway::GatewayOptions options = gateway::gateway_options(args);
  options.home = context.home();
  options.key_access = context.key_access();
  options.log = [](std::string_view line) {
    // One write a line: sessions report from threads of their own.
    std::string text = fmt::format("mailseal gateway: {}\n", escape_for_terminal(line));
    std::fwrite(text.data(), 1, text.size(), stderr);
  };

  // Fail now, not at the first message, when there is no profile.
  profile::Profile profile = profile::Profile::open(options.home);
  std::string addresses;
  for (const auto& address : profile.addresses())
    addresses += (addresses.empty() ? "" : ", ") + address.str();
  if (gateway::list_credentials(profile).empty())
    print_warning(
        "no mail client can submit yet: make a credential with 'mailseal credential add NAME' (or run "
        "'mailseal setup mutt') and give the client its name and secret (SMTP AUTH)");

  SignalStopper stopper;
  gateway::Gateway gateway(options);
  int port = gateway.bind();
  std::string listen = fmt::format("{}:{}", options.host, port);
  if (context.json()) {
    print_json({{"listen", listen},
                {"upstream", args.upstream},
                {"policy", args.policy},
                {"starttls", options.tls_certificate.has_value()}});
  } else {
    print_line(listen);
  }
  std::fflush(stdout);
  print_note(fmt::format("SMTP gateway for {} listening on {}, relaying to {} ({}, policy {})", addresses, listen,
                         args.upstream, args.upstream_tls, args.policy));
  stopper.serve([&] { gateway.run(); }, [&] { gateway.stop(); });
  print_note("SMTP gateway stopped");
  return 0;
}

}  // namespace mailseal::cli
