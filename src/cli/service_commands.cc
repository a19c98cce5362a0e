// serve and gateway: long-running servers in the foreground until SIGINT or
// SIGTERM.

#include <csignal>
#include <cstdio>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/error.h"
#include "mailseal/common/host_port.h"
#include "mailseal/common/escape.h"
#include "mailseal/gateway/credentials.h"
#include "mailseal/gateway/gateway.h"
#include "mailseal/profile/profile.h"
#include "mailseal/service/api.h"
#include "mailseal/service/server.h"
#include "mailseal/service/smimea.h"

namespace mailseal::cli {

namespace {

// Signals are taken by a thread of their own (sigwait), so that stopping a
// server never runs inside a signal handler. Blocks them before the server
// starts its own threads, which inherit the mask.
class SignalStopper {
 public:
  SignalStopper() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }

  // Runs `run` while a thread waits for a signal and then calls `stop`.
  void serve(const std::function<void()>& run, const std::function<void()>& stop) {
    std::thread waiter([&] {
      int received = 0;
      sigwait(&signals_, &received);
      stop();
    });
    try {
      run();
    } catch (...) {
      pthread_kill(waiter.native_handle(), SIGTERM);
      waiter.join();
      throw;
    }
    // run() also returns when serving fails: wake the waiter either way.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }

 private:
  sigset_t signals_;
};

}  // namespace

int run_serve(const Context& context, const ServeArgs& args) {
  service::ServeOptions options = service::serve_options(args);

  SignalStopper stopper;
  service::Server server(options);
  server.bind();
  if (context.json()) {
    print_json({{"url", server.url()},
                {"database", options.database.string()},
                {"verifies_addresses", server.verifies_addresses()}});
  } else {
    print_line(server.url());
  }
  std::fflush(stdout);
  print_note(fmt::format("key service listening on {}, database {}", server.url(), service::database_for_display(options.database.string())));
  if (!server.verifies_addresses()) {
    print_warning(
        "addresses are served unverified, first come first served (no --smtp): fine for tests on "
        "loopback, not for a service others use");
  }
  stopper.serve([&] { server.run(); }, [&] { server.stop(); });
  print_note("key service stopped");
  return 0;
}

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
    print_warning("no mail client can submit yet: make a credential with 'mailseal credential add NAME' (or run "
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

int run_service_smimea(const Context& context, const ServiceSmimeaArgs& args) {
  if (args.ttl < 0 || args.ttl > 2147483647)
    throw Error(ErrorCode::Usage, "--ttl is 0 to 2147483647 seconds");
  std::vector<service::SmimeaRecord> records = service::smimea_records(args.database, args.domain);
  const std::chrono::seconds ttl(args.ttl);
  if (context.json()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& record : records)
      list.push_back({{"address", record.address}, {"owner", record.owner}, {"zone_line", service::smimea_zone_line(record, ttl)}});
    print_json({{"records", list}});
    return 0;
  }
  if (records.empty())
    print_note("no verified address at that domain has a mail certificate here");
  // Only hex, a checked host name and checked addresses: nothing to escape.
  for (const auto& record : records)
    print_line(service::smimea_zone_line(record, ttl));
  return 0;
}

}  // namespace mailseal::cli
