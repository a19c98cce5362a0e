// Linked into mailseal-serve only (cli/server_program.h): the key service in
// the foreground until SIGINT or SIGTERM, and its SMIMEA export.

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/signal_stopper.h"
#include "mailseal/common/error.h"
#include "mailseal/service/api.h"
#include "mailseal/service/server.h"
#include "mailseal/service/smimea.h"

namespace mailseal::cli {

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
  print_note(fmt::format("key service listening on {}, database {}", server.url(),
                         service::database_for_display(options.database.string())));
  if (!server.verifies_addresses()) {
    print_warning(
        "addresses are served unverified, first come first served (no --smtp): fine for tests on "
        "loopback, not for a service others use");
  }
  stopper.serve([&] { server.run(); }, [&] { server.stop(); });
  print_note("key service stopped");
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
      list.push_back({{"address", record.address},
                      {"owner", record.owner},
                      {"zone_line", service::smimea_zone_line(record, ttl)}});
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
