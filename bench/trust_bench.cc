// Trust verdicts over large webs (issue "Fast": under 50 ms per verdict at 1M
// endorsements). For each size, a real profile (Alice) and a real contact
// (Bob) get a synthetic web of that many endorsements in Alice's SQLite store:
// identities endorsing ten others each, most with depth 0, some introducers
// deeper; Alice endorses ten of them as introducers, a few vouch for Bob.
// Then it times Bob's verdict (what `mailseal trust` computes), cold each
// time, against the bare depth-limited walk of the same edges as one
// recursive SQLite query in the same run (reachability only: no amounts,
// scopes, paths or revocation checks), and prints the ratio.
//
//   trust_bench [--sizes 10000,100000,1000000] [--repeat 15] [--mailseal PATH] [--keep DIR]
//
// With --mailseal, the whole command (process start, store open, verdict,
// JSON) is timed too.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mailseal/agent/agent.h"
#include "mailseal/contacts/evidence.h"
#include "mailseal/profile/profile.h"
#include "mailseal/store/sqlite.h"
#include "mailseal/udf/udf.h"

namespace {

using namespace mailseal;
using Clock = std::chrono::steady_clock;

constexpr int kEndorsementsPerIdentity = 10;
constexpr int kRootIntroducers = 10;
constexpr int kBobIntroducers = 5;

double milliseconds(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Web {
  std::filesystem::path alice_home;
  std::string root;  // Alice's identity
  std::string bob;   // Bob's identity
};

// Depths of a web of trust: most people vouch for others without letting
// them introduce anyone; some act as introducers.
int random_depth(std::mt19937_64& random) {
  int roll = static_cast<int>(random() % 100);
  return roll < 80 ? 0 : roll < 95 ? 1 : roll < 99 ? 2 : 3;
}

Web build_web(const std::filesystem::path& directory, std::int64_t endorsements, std::mt19937_64& random) {
  profile::InitOptions options;
  options.suite = store::Suite::Modern;
  options.addresses = {EmailAddress::parse("alice@example.org")};
  options.device_name = "bench";
  profile::Profile alice = profile::Profile::create(directory / "alice", options, mailseal::now());
  options.addresses = {EmailAddress::parse("bob@example.org")};
  profile::Profile bob = profile::Profile::create(directory / "bob", options, mailseal::now());

  std::string bob_certificates;
  for (const auto& certificate : bob.current_mail_certificates())
    bob_certificates += certificate.pem();
  bob_certificates += bob.root_certificate().pem();
  contacts::import_file(alice.store(), as_bytes(bob_certificates), smime::Policy::standard(mailseal::now()));

  Web web{directory / "alice", agent::evaluator(alice).root.str(),
          bob.root_certificate().key_fingerprint().to_string(udf::kFullBits)};
  const std::int64_t identities = std::max<std::int64_t>(endorsements / kEndorsementsPerIdentity, 100);
  auto identity = [](std::int64_t index) { return fmt::format("SYNTHETIC-{:08}", index); };
  // Every synthetic identity has a (shared, real) certificate, so revocation
  // checks parse one as they would.
  Bytes root_der = bob.root_certificate().der();

  store::Database& database = alice.store().database();
  store::Transaction transaction(database);
  auto add_identity =
      database.prepare("INSERT INTO identities (fingerprint, certificate, first_seen) VALUES (?1, ?2, 0)");
  for (std::int64_t i = 0; i < identities; ++i) {
    add_identity.bind(1, identity(i)).bind(2, root_der).run();
    add_identity.reset();
  }
  auto add_edge = database.prepare(
      "INSERT INTO endorsements (issuer, subject, amount, depth, scope, addresses, kind, exportable, certificate, "
      "created_at) VALUES (?1, ?2, ?3, ?4, '', '', 'endorsement', 0, ?5, 0)");
  std::int64_t serial = 0;
  auto edge = [&](const std::string& from, const std::string& to, int amount, int depth) {
    Bytes blob(8);
    for (int i = 0; i < 8; ++i)
      blob[i] = static_cast<std::uint8_t>(serial >> (8 * i));
    ++serial;
    add_edge.bind(1, from).bind(2, to).bind(3, amount).bind(4, depth).bind(5, blob).run();
    add_edge.reset();
  };
  for (std::int64_t made = 0; made < endorsements - kRootIntroducers - 2 * kBobIntroducers; ++made) {
    std::int64_t from = made / kEndorsementsPerIdentity % identities;
    std::int64_t to = static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(identities));
    if (to == from)
      to = (to + 1) % identities;
    edge(identity(from), identity(to), 20 + static_cast<int>(random() % 101), random_depth(random));
  }
  std::vector<std::int64_t> introducers;
  for (int i = 0; i < kRootIntroducers; ++i) {
    introducers.push_back(static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(identities)));
    edge(web.root, identity(introducers.back()), 120, 3);
  }
  // Bob is two introductions away from Alice's introducers, on several paths.
  for (int i = 0; i < kBobIntroducers; ++i) {
    std::int64_t voucher = static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(identities));
    edge(identity(introducers[static_cast<std::size_t>(i) % introducers.size()]), identity(voucher), 60, 1);
    edge(identity(voucher), web.bob, 30, 0);
  }
  transaction.commit();
  return web;
}

// The peer: the same depth-limited walk as one recursive SQL query.
double sqlite_walk(store::Database& database, const std::string& root, std::int64_t* reached) {
  auto start = Clock::now();
  auto walk = database.prepare(
      "WITH RECURSIVE walk(node, remaining) AS ("
      "  SELECT subject, depth FROM endorsements WHERE issuer = ?1"
      "  UNION"
      "  SELECT e.subject, MIN(e.depth, walk.remaining - 1) FROM endorsements e JOIN walk ON e.issuer = walk.node"
      "  WHERE walk.remaining >= 1"
      ") SELECT COUNT(DISTINCT node) FROM walk");
  walk.bind(1, root);
  walk.step();
  *reached = walk.column_int(0);
  return milliseconds(Clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::int64_t> sizes = {10000, 100000, 1000000};
  int repeat = 15;
  std::string mailseal;
  std::string keep;  // build the webs there and leave them, to explore with mailseal
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string list = argv[++i];
      for (std::size_t start = 0; start < list.size();) {
        std::size_t comma = list.find(',', start);
        sizes.push_back(std::stoll(list.substr(start, comma - start)));
        start = comma == std::string::npos ? list.size() : comma + 1;
      }
    } else if (argument == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (argument == "--mailseal" && i + 1 < argc) {
      mailseal = argv[++i];
    } else if (argument == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      std::cerr << "usage: trust_bench [--sizes 10000,100000,1000000] [--repeat 15] [--mailseal PATH] [--keep DIR]\n";
      return 2;
    }
  }
  std::mt19937_64 random(20261127);
  std::filesystem::path base =
      keep.empty() ? std::filesystem::temp_directory_path() / fmt::format("mailseal-trust-bench-{}", getpid())
                   : std::filesystem::path(keep);
  std::filesystem::create_directories(base);
  std::optional<double> previous;
  for (std::int64_t size : sizes) {
    std::filesystem::path directory = base / std::to_string(size);
    auto build_start = Clock::now();
    Web web = build_web(directory, size, random);
    double build_seconds = milliseconds(Clock::now() - build_start) / 1000;

    profile::Profile alice = profile::Profile::open(web.alice_home);
    const contacts::Evaluator evaluator = agent::evaluator(alice);
    const EmailAddress bob = EmailAddress::parse("bob@example.org");
    std::vector<double> verdicts;
    std::vector<double> walks;
    std::optional<contacts::TrustReport> report;
    std::int64_t reached = 0;
    for (int r = 0; r < repeat; ++r) {
      auto start = Clock::now();
      report = contacts::evaluate_address(alice.store(), evaluator, bob, mailseal::now());
      verdicts.push_back(milliseconds(Clock::now() - start));
      walks.push_back(sqlite_walk(alice.store().database(), web.root, &reached));
    }
    double command = 0;
    if (!mailseal.empty()) {
      std::string line =
          fmt::format("'{}' --home '{}' trust bob@example.org --json > /dev/null", mailseal, web.alice_home.string());
      std::vector<double> runs;
      for (int r = 0; r < std::min(repeat, 5); ++r) {
        auto start = Clock::now();
        if (std::system(line.c_str()) != 0) {
          std::cerr << "mailseal trust failed\n";
          return 1;
        }
        runs.push_back(milliseconds(Clock::now() - start));
      }
      command = median(runs);
    }
    double verdict = median(verdicts);
    double walk = median(walks);
    std::cout << fmt::format(
                     R"({{"endorsements": {}, "build_s": {:.1f}, "verdict_ms": {:.2f}, "verdict_max_ms": {:.2f}, )"
                     R"("sqlite_walk_ms": {:.2f}, "reached": {}, "ratio_verdict_to_walk": {:.2f}, )"
                     R"("growth_from_previous": {}, "command_ms": {:.1f}, "level": "{}", "amount": {}, "paths": {}}})",
                     size, build_seconds, verdict, *std::max_element(verdicts.begin(), verdicts.end()), walk, reached,
                     verdict / walk, previous ? fmt::format("{:.2f}", verdict / *previous) : "null", command,
                     trust::to_string(report->verdict.level), report->verdict.amount, report->verdict.paths.size())
              << std::endl;
    previous = verdict;
    if (keep.empty())
      std::filesystem::remove_all(directory);
  }
  if (keep.empty())
    std::filesystem::remove_all(base);
  std::cout << "target: under 50 ms per verdict at 1M endorsements\n";
  return 0;
}
