// serve: the key service in the foreground until SIGINT or SIGTERM.

#include <csignal>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/output.h"
#include "mailseal/common/error.h"
#include "mailseal/service/server.h"

namespace mailseal::cli {

int run_serve(const Context& context, const ServeArgs& args) {
  service::ServeOptions options;
  std::tie(options.host, options.port) = service::parse_listen_address(args.listen);
  options.database = args.database;
  if (!args.tls_certificate.empty())
    options.tls_certificate = args.tls_certificate;
  if (!args.tls_key.empty())
    options.tls_key = args.tls_key;

  // Signals are taken by a thread of their own (sigwait), so that stopping
  // the server never runs inside a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  service::Server server(options);
  server.bind();
  if (context.json()) {
    print_json({{"url", server.url()}, {"database", options.database.string()}});
  } else {
    print_line(server.url());
  }
  std::fflush(stdout);
  print_note(fmt::format("key service listening on {}, database {}", server.url(), options.database.string()));
  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    server.stop();
  });
  server.run();
  // run() also returns when listening fails: wake the waiter either way.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  print_note("key service stopped");
  return 0;
}

}  // namespace mailseal::cli
