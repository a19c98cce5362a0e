#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/trust/trust.h"

namespace mailseal::trust {

namespace {

// Remaining introduction depth of the evaluator's own root: unlimited.
constexpr int kRootDepth = kMaxDepth + 1;

// The outgoing edges of each node, read once per evaluation.
class GraphCache {
 public:
  explicit GraphCache(TrustGraph& graph) : graph_(graph) {}
  const std::vector<Edge>& out(const Identity& node) {
    auto it = cache_.find(node.str());
    if (it == cache_.end()) {
      std::vector<Edge> edges = graph_.endorsements_by(node);
      for (auto& edge : edges) {
        // Absurd amounts and depths are clamped, never allowed to raise trust.
        edge.amount = std::clamp(edge.amount, 0, kFullAmount);
        edge.depth = std::clamp(edge.depth, 0, kMaxDepth);
      }
      it = cache_.emplace(node.str(), std::move(edges)).first;
    }
    return it->second;
  }

 private:
  TrustGraph& graph_;
  std::unordered_map<std::string, std::vector<Edge>> cache_;
};

struct EdgeKey {
  std::string issuer;
  std::string subject;
  bool operator<(const EdgeKey& other) const {
    return std::tie(issuer, subject) < std::tie(other.issuer, other.subject);
  }
};

// The widest path (largest bottleneck) from `root` to `target` through edges
// with residual capacity, honouring depth and scope (docs/trust.md): an edge
// u->v may be used if u is the root or has depth left (rem(u) >= 1); then
// rem(v) = min(edge depth, rem(u) - 1); every edge's scope must permit the
// address. Dijkstra over (node, remaining depth) states.
std::optional<Path> widest_path(GraphCache& graph, const Identity& root, const Identity& target,
                                const EmailAddress& address, const std::map<EdgeKey, int>& used) {
  struct State {
    int bottleneck;
    int remaining;
    std::string node;
    bool operator<(const State& other) const {
      return std::tie(bottleneck, remaining) < std::tie(other.bottleneck, other.remaining);
    }
  };
  struct Previous {
    std::string node;
    int remaining;
    Edge edge;
  };
  using StateKey = std::pair<std::string, int>;
  std::map<StateKey, int> best;
  std::map<StateKey, Previous> previous;
  std::priority_queue<State> queue;
  queue.push({kFullAmount, kRootDepth, root.str()});
  best[{root.str(), kRootDepth}] = kFullAmount;
  while (!queue.empty()) {
    State state = queue.top();
    queue.pop();
    if (state.node == target.str()) {
      Path path;
      path.amount = state.bottleneck;
      StateKey key{state.node, state.remaining};
      while (key.first != root.str()) {
        const Previous& step = previous.at(key);
        path.edges.push_back(step.edge);
        key = {step.node, step.remaining};
      }
      std::reverse(path.edges.begin(), path.edges.end());
      return path;
    }
    auto found = best.find({state.node, state.remaining});
    if (found != best.end() && found->second > state.bottleneck)
      continue;  // a better way was found
    bool is_root = state.node == root.str();
    if (!is_root && state.remaining < 1)
      continue;  // may not introduce anyone
    for (const Edge& edge : graph.out(Identity{state.node})) {
      if (edge.subject == root)
        continue;
      int capacity = edge.amount;
      auto spent = used.find({edge.issuer.str(), edge.subject.str()});
      if (spent != used.end())
        capacity -= spent->second;
      if (capacity <= 0)
        continue;
      if (!std::all_of(edge.scope.begin(), edge.scope.end(),
                       [&](const std::string& constraint) { return scope_permits(constraint, address); })) {
        continue;
      }
      if (edge.subject == target && !edge.addresses.empty() &&
          std::find(edge.addresses.begin(), edge.addresses.end(), address.str()) == edge.addresses.end()) {
        continue;  // certifies the target for other addresses only
      }
      int remaining = is_root ? edge.depth : std::min(edge.depth, state.remaining - 1);
      int bottleneck = std::min(state.bottleneck, capacity);
      StateKey key{edge.subject.str(), remaining};
      auto current = best.find(key);
      if (current != best.end() && current->second >= bottleneck)
        continue;
      best[key] = bottleneck;
      previous[key] = Previous{state.node, state.remaining, edge};
      queue.push({bottleneck, remaining, edge.subject.str()});
    }
  }
  return std::nullopt;
}

// Successive widest paths, each subtracting its amount from the edges it uses:
// sequoia-wot's approximation of the maximum flow, capped at 120.
std::vector<Path> endorsement_paths(GraphCache& graph, const Identity& root, const Identity& target,
                                    const EmailAddress& address) {
  std::vector<Path> paths;
  std::map<EdgeKey, int> used;
  int total = 0;
  while (total < kFullAmount) {
    auto path = widest_path(graph, root, target, address, used);
    if (!path)
      break;
    path->amount = std::min(path->amount, kFullAmount - total);
    for (const Edge& edge : path->edges)
      used[{edge.issuer.str(), edge.subject.str()}] += path->amount;
    total += path->amount;
    paths.push_back(std::move(*path));
  }
  return paths;
}

// An attacker's move: spend 2^cost to gain `amount` for a key of their own.
struct Attack {
  int amount;
  double cost_bits;
  std::string what;
};

// log2(2^a + 2^b), for adding independent efforts.
double add_costs(double a, double b) {
  double high = std::max(a, b);
  double low = std::min(a, b);
  return high + std::log2(1.0 + std::exp2(low - high));
}

// The cheapest set of moves reaching `threshold`: each move alone, and the
// cheapest-first accumulation (the sets here are small: anchors and the
// introducers on the verdict's paths).
double cheapest_attack(std::vector<Attack> attacks, int threshold, double ceiling) {
  double best = ceiling;
  std::sort(attacks.begin(), attacks.end(), [](const Attack& a, const Attack& b) { return a.cost_bits < b.cost_bits; });
  int gained = 0;
  std::optional<double> accumulated;
  for (const Attack& attack : attacks) {
    if (attack.amount >= threshold)
      best = std::min(best, attack.cost_bits);
    gained += attack.amount;
    accumulated = accumulated ? add_costs(*accumulated, attack.cost_bits) : attack.cost_bits;
    if (gained >= threshold) {
      best = std::min(best, *accumulated);
      break;
    }
  }
  return best;
}

int threshold_of(Level level) {
  switch (level) {
    case Level::Full:
      return kFullAmount;
    case Level::Partial:
      return kPartialAmount;
    case Level::Marginal:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

bool scope_permits(std::string_view constraint, const EmailAddress& address) {
  std::string rule = ascii_lower(constraint);
  if (rule.empty())
    return false;
  if (rule.find('@') != std::string::npos)
    return rule == address.str();  // one mailbox
  std::string_view domain = address.domain();
  if (rule.front() == '.') {  // any host below the domain
    return domain.size() > rule.size() && domain.substr(domain.size() - rule.size()) == rule;
  }
  return domain == rule;  // that host
}

std::string_view to_string(Level level) noexcept {
  switch (level) {
    case Level::Full:
      return "full";
    case Level::Partial:
      return "partial";
    case Level::Marginal:
      return "marginal";
    case Level::None:
      return "none";
    case Level::Conflict:
      return "conflict";
    case Level::Revoked:
      return "revoked";
  }
  return "none";
}

Level parse_level(std::string_view text) {
  for (Level level : {Level::Full, Level::Partial, Level::Marginal, Level::None, Level::Conflict, Level::Revoked}) {
    if (to_string(level) == text)
      return level;
  }
  throw Error(ErrorCode::Usage, fmt::format("unknown trust level '{}': choose full, partial, marginal or none", text));
}

bool meets(Level level, Level required) noexcept {
  auto rank = [](Level value) {
    switch (value) {
      case Level::Full:
        return 3;
      case Level::Partial:
        return 2;
      case Level::Marginal:
        return 1;
      case Level::None:
        return 0;
      default:
        return -1;
    }
  };
  return rank(level) >= rank(required);
}

int tofu_amount(const TofuFact& fact) noexcept {
  // 10 on first sight, +2 for each further day a message came, +1 for every 5
  // messages; a history never makes partial trust on its own.
  int amount = 10 + 2 * std::max(0, fact.days_seen - 1) + std::max(0, fact.messages - 1) / 5;
  return std::min(amount, kTofuCap);
}

namespace {

// What each kind of evidence adds to a binding.
struct Amounts {
  int endorsements = 0;  // the flow of the endorsement paths
  int pkix = 0;
  int tofu = 0;
  int discovery = 0;
  bool endorsed_by_self = false;  // the evaluator endorsed the identity directly
};

// A revoked binding, or the evaluator's own: nothing else to weigh.
std::optional<Verdict> settled_outright(const BindingFacts& facts) {
  Verdict verdict;
  if (facts.revoked) {
    verdict.level = Level::Revoked;
    verdict.evidence.push_back({"revoked", 0, "the certificate or its profile root is revoked"});
    return verdict;
  }
  if (facts.own) {
    verdict.level = Level::Full;
    verdict.amount = kFullAmount;
    verdict.work_factor_bits = facts.key_security_bits;
    verdict.evidence.push_back({"own", kFullAmount, "this is your own profile"});
    return verdict;
  }
  return std::nullopt;
}

// The endorsement paths from the evaluator's root and every other piece of
// evidence, each explained in the verdict; returns what each adds.
Amounts weigh_evidence(const BindingFacts& facts, GraphCache& cache, const Identity& own_root, Verdict& verdict) {
  Amounts amounts;
  verdict.paths = endorsement_paths(cache, own_root, facts.identity, facts.address);
  for (const Path& path : verdict.paths) {
    amounts.endorsements += path.amount;
    amounts.endorsed_by_self = amounts.endorsed_by_self || path.edges.size() == 1;
  }
  if (amounts.endorsements > 0) {
    verdict.evidence.push_back(
        {"endorsements", amounts.endorsements,
         fmt::format("{} endorsement path{}", verdict.paths.size(), verdict.paths.size() == 1 ? "" : "s")});
  }
  for (const auto& anchor : facts.pkix) {
    amounts.pkix += anchor.amount;
    verdict.evidence.push_back({"pkix", anchor.amount, fmt::format("validates to the trust anchor {}", anchor.name)});
  }
  if (facts.tofu) {
    amounts.tofu = tofu_amount(*facts.tofu);
    verdict.evidence.push_back(
        {"tofu", amounts.tofu,
         fmt::format("seen on {} day{} in {} message{}", facts.tofu->days_seen, facts.tofu->days_seen == 1 ? "" : "s",
                     facts.tofu->messages, facts.tofu->messages == 1 ? "" : "s")});
  }
  if (facts.discovery == Discovery::Verified) {
    amounts.discovery = kVerifiedDiscoveryAmount;
    verdict.evidence.push_back(
        {"discovery", amounts.discovery, "found through a key service that verified the address by mail"});
  } else if (facts.discovery == Discovery::Listed) {
    amounts.discovery = kDiscoveryAmount;
    verdict.evidence.push_back(
        {"discovery", amounts.discovery, "found through a key service (the address was not verified)"});
  }
  if (facts.pin) {
    verdict.evidence.push_back(
        {"pin", kFullAmount, fmt::format("the fingerprint was compared ({} bits)", facts.pin->presented_bits)});
  }
  return amounts;
}

Level level_of(int amount) {
  return amount >= kFullAmount      ? Level::Full
         : amount >= kPartialAmount ? Level::Partial
         : amount > 0               ? Level::Marginal
                                    : Level::None;
}

// Work factor: the cheapest way for an attacker to bring a key of their own
// to the verdict's level for this address. The evaluator's own keys are
// assumed safe; forging a signature of them (or of the identity) bounds
// everything.
int work_factor(const Verdict& verdict, const BindingFacts& facts, const Amounts& amounts, const CostModel& costs) {
  const double forge_bits = facts.key_security_bits;
  int threshold = threshold_of(verdict.level);
  if (threshold == 0)
    return 0;
  if (amounts.endorsed_by_self && !facts.pin) {
    // Only a forged signature of the evaluator's root would do.
    return static_cast<int>(forge_bits);
  }
  std::vector<Attack> attacks;
  if (facts.pin)
    attacks.push_back({kFullAmount, static_cast<double>(facts.pin->work_factor_bits), "collide the pin"});
  for (const auto& anchor : facts.pkix) {
    attacks.push_back({anchor.amount, static_cast<double>(costs.fool_ca_bits), "fool a CA"});
  }
  // Each introducer that certified the binding could, with its key stolen,
  // certify the attacker's key for the flow it carries.
  std::map<std::string, int> introducer_flow;
  for (const Path& path : verdict.paths) {
    if (path.edges.size() < 2)
      continue;  // the evaluator's own endorsement
    for (std::size_t i = 1; i < path.edges.size(); ++i) {
      introducer_flow[path.edges[i].issuer.str()] += path.amount;
    }
  }
  for (const auto& [introducer, amount] : introducer_flow) {
    attacks.push_back({amount, static_cast<double>(costs.steal_key_bits), "steal an introducer's key"});
  }
  // TOFU and discovery belong to the real key: a new key is a conflict, so the
  // attacker must steal the real key instead.
  if (amounts.tofu > 0)
    attacks.push_back({amounts.tofu, static_cast<double>(costs.steal_key_bits), "steal the key seen before"});
  if (amounts.discovery > 0 && !facts.tofu) {
    // "Verified" is the service's claim: subverting the service still gives it.
    const int bits = facts.discovery == Discovery::Verified
                         ? std::min(costs.key_service_bits, costs.verified_key_service_bits)
                         : costs.key_service_bits;
    attacks.push_back({amounts.discovery, static_cast<double>(bits), "subvert the key service"});
  }
  return static_cast<int>(std::floor(cheapest_attack(attacks, threshold, forge_bits)));
}

}  // namespace

Verdict evaluate(const BindingFacts& facts, TrustGraph& graph, const Identity& own_root, const CostModel& costs) {
  if (auto settled = settled_outright(facts))
    return *settled;
  Verdict verdict;
  GraphCache cache(graph);
  const Amounts amounts = weigh_evidence(facts, cache, own_root, verdict);
  // A pin, or the evaluator's own endorsement, is the person's own decision:
  // full trust, and it settles a conflict.
  const bool decided = facts.pin.has_value() || amounts.endorsed_by_self;
  if (facts.conflict_with && !decided) {
    verdict.level = Level::Conflict;
    verdict.conflict_with = facts.conflict_with;
    verdict.evidence.push_back({"conflict", 0, "a different key was seen for this address before, without a rotation"});
    return verdict;
  }
  // Trust on first use and discovery together stay below partial: neither
  // is a check by the person or by an authority they chose.
  const int weak = std::min(kWeakEvidenceCap, amounts.tofu + amounts.discovery);
  verdict.amount = decided ? kFullAmount : std::min(kFullAmount, amounts.endorsements + amounts.pkix + weak);
  verdict.level = level_of(verdict.amount);
  verdict.work_factor_bits = work_factor(verdict, facts, amounts, costs);
  return verdict;
}

std::string to_dot(const Verdict& verdict, const BindingFacts& facts, const Identity& own_root,
                   const std::function<std::string(const Identity&)>& label) {
  auto quote = [](std::string text) {
    std::string out;
    for (char c : text) {
      if (c == '"' || c == '\\')
        out.push_back('\\');
      // No control characters: DOT has no escape for them.
      if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)
        out.push_back(c);
    }
    return "\"" + out + "\"";
  };
  std::string out = "digraph trust {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  std::set<std::string> nodes;
  auto node = [&](const Identity& identity) {
    if (nodes.insert(identity.str()).second) {
      std::string style = identity == own_root ? ", style=\"rounded,bold\"" : "";
      out += fmt::format("  {} [label={}{}];\n", quote(identity.str()), quote(label(identity)), style);
    }
  };
  node(own_root);
  node(facts.identity);
  std::map<std::pair<std::string, std::string>, const Edge*> edges;
  for (const Path& path : verdict.paths) {
    for (const Edge& edge : path.edges) {
      node(edge.issuer);
      node(edge.subject);
      edges[{edge.issuer.str(), edge.subject.str()}] = &edge;
    }
  }
  for (const auto& [key, edge] : edges) {
    out += fmt::format("  {} -> {} [label={}];\n", quote(key.first), quote(key.second),
                       quote(fmt::format("{} (depth {})", edge->amount, edge->depth)));
  }
  out += fmt::format("  label={};\n}}\n",
                     quote(fmt::format("{}: {} ({}), work factor 2^{}", facts.address.str(), to_string(verdict.level),
                                       verdict.amount, verdict.work_factor_bits)));
  return out;
}

}  // namespace mailseal::trust
