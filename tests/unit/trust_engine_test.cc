// The trust engine on small in-memory networks (sequoia-wot style). Each test
// draws its network; "R" is the evaluator's own profile root, "T" the target
// identity claiming bob@example.org. Edges read "issuer -amount/depth-> subject".
// tests/trust/scenarios.py runs the same shapes with real profiles.

#include <map>
#include <set>

#include <gtest/gtest.h>

#include "mailseal/trust/trust.h"

namespace mailseal::trust {
namespace {

// TrustGraph's contract, in memory: the endorsements an issuer made, none by
// or of a revoked identity (contacts::StoreGraph keeps it over the store;
// tests/unit/contacts_evidence_test.cc checks that with real revocations).
class MemoryGraph : public TrustGraph {
 public:
  MemoryGraph& add(const std::string& issuer, const std::string& subject, int amount, int depth,
                   std::vector<std::string> scope = {}) {
    edges_[issuer].push_back(Edge{Identity{issuer}, Identity{subject}, amount, depth, std::move(scope), {}});
    return *this;
  }
  void revoke(const std::string& identity) { revoked_.insert(identity); }
  std::vector<Edge> endorsements_by(const Identity& issuer) override {
    ++lookups;
    auto it = edges_.find(issuer.str());
    if (it == edges_.end() || revoked_.count(issuer.str()))
      return {};
    std::vector<Edge> out;
    for (const auto& edge : it->second) {
      if (!revoked_.count(edge.subject.str()))
        out.push_back(edge);
    }
    return out;
  }
  int lookups = 0;

 private:
  std::map<std::string, std::vector<Edge>> edges_;
  std::set<std::string> revoked_;
};

const Identity kRoot{"R"};

BindingFacts bob(const std::string& identity = "T") {
  return BindingFacts{
      EmailAddress::parse("bob@example.org"), Identity{identity}, false, {}, {}, {}, Discovery::None, {}, false, 128};
}

Verdict run(MemoryGraph& graph, const BindingFacts& facts = bob()) {
  return evaluate(facts, graph, kRoot);
}

TEST(TrustEngine, NoEvidenceIsNone) {
  MemoryGraph graph;
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.level, Level::None);
  EXPECT_EQ(verdict.amount, 0);
  EXPECT_EQ(verdict.work_factor_bits, 0);
}

// R -120/0-> T : your own endorsement is full, whatever its amount.
TEST(TrustEngine, OwnEndorsementIsFull) {
  MemoryGraph graph;
  graph.add("R", "T", 60, 0);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.level, Level::Full);
  EXPECT_EQ(verdict.amount, 120);
  EXPECT_EQ(verdict.work_factor_bits, 128) << "only forging R's signature would do";
}

// R -120/2-> A -120/1-> B -120/0-> T : a chain of introducers within their depth.
TEST(TrustEngine, ChainOfIntroducersWithinDepth) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 2).add("A", "B", 120, 1).add("B", "T", 120, 0);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.level, Level::Full);
  EXPECT_EQ(verdict.amount, 120);
  ASSERT_EQ(verdict.paths.size(), 1u);
  EXPECT_EQ(verdict.paths[0].edges.size(), 3u);
  // Stealing A's or B's key gives the attacker the whole path.
  EXPECT_EQ(verdict.work_factor_bits, 64);
}

// R -120/1-> A -120/1-> B -120/0-> T : A may introduce B, but B's own
// introductions are one level too deep.
TEST(TrustEngine, DepthRunsOut) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 1).add("A", "B", 120, 1).add("B", "T", 120, 0);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.level, Level::None);
  EXPECT_TRUE(verdict.paths.empty());
}

// R -120/1[example.com]-> A -120/0-> T : A is trusted only for example.com.
TEST(TrustEngine, ScopeExcludesTheAddress) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 1, {"example.com"}).add("A", "T", 120, 0);
  EXPECT_EQ(run(graph).level, Level::None);
  MemoryGraph in_scope;
  in_scope.add("R", "A", 120, 1, {"example.org"}).add("A", "T", 120, 0);
  EXPECT_EQ(run(in_scope).level, Level::Full);
  MemoryGraph subdomains;
  subdomains.add("R", "A", 120, 1, {".example.org"}).add("A", "T", 120, 0);
  EXPECT_EQ(run(subdomains).level, Level::None) << ".example.org covers hosts below, not example.org itself";
}

//      .-60/1-> A -120/0-.
//    R                    T : two partial paths add up to full.
//      '-60/1-> B -120/0-'

TEST(TrustEngine, TwoPartialPathsAddUp) {
  MemoryGraph graph;
  graph.add("R", "A", 60, 1).add("R", "B", 60, 1).add("A", "T", 120, 0).add("B", "T", 120, 0);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.amount, 120);
  EXPECT_EQ(verdict.level, Level::Full);
  EXPECT_EQ(verdict.paths.size(), 2u);
  // The attacker must steal both introducers' keys: 2 * 2^64.
  EXPECT_EQ(verdict.work_factor_bits, 65);
}

// R -60/1-> A -50/0-> T (the second edge limits the path) plus R -30/1-> B -40/0-> T.
TEST(TrustEngine, PathsAreLimitedByTheirWeakestEdge) {
  MemoryGraph graph;
  graph.add("R", "A", 60, 1).add("A", "T", 50, 0).add("R", "B", 30, 1).add("B", "T", 40, 0);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.amount, 80);
  EXPECT_EQ(verdict.level, Level::Partial);
}

// R -120/3-> A -120/3-> B -120/3-> A (a cycle), B -120/0-> T.
TEST(TrustEngine, CyclesAreHarmless) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 3).add("A", "B", 120, 3).add("B", "A", 120, 3).add("B", "T", 120, 0).add("T", "R", 120, 3);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.level, Level::Full);
  EXPECT_EQ(verdict.paths.size(), 1u);
}

// R -120/2-> A -120/1-> B -120/0-> T, with B's endorsement revoked: the store
// no longer returns revoked endorsements, so the path is gone.
// R -120/2-> A -120/1-> B -90/0-> T and R -120/1-> C -50/0-> T. B, in the
// middle of the first path, revokes its root: only the path through C is left.
TEST(TrustEngine, RevokedIntroducerBreaksThePath) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 2).add("A", "B", 120, 1).add("B", "T", 90, 0);
  graph.add("R", "C", 120, 1).add("C", "T", 50, 0);
  Verdict before = run(graph);
  EXPECT_EQ(before.level, Level::Full);
  EXPECT_EQ(before.amount, 120) << "90 + 50, capped";
  ASSERT_EQ(before.paths.size(), 2u);
  EXPECT_EQ(before.paths[0].edges.size(), 3u) << "the path through B is found";
  EXPECT_EQ(before.paths[0].edges[1].subject.str(), "B");

  graph.revoke("B");
  Verdict after = run(graph);
  EXPECT_EQ(after.level, Level::Partial);
  EXPECT_EQ(after.amount, 50);
  ASSERT_EQ(after.paths.size(), 1u);
  ASSERT_EQ(after.paths[0].edges.size(), 2u);
  EXPECT_EQ(after.paths[0].edges[0].subject.str(), "C");
}

TEST(TrustEngine, TofuAloneNeverReachesPartial) {
  MemoryGraph graph;
  BindingFacts facts = bob();
  facts.tofu = TofuFact{{}, 1, 1};
  Verdict first = run(graph, facts);
  EXPECT_EQ(first.level, Level::Marginal);
  EXPECT_EQ(first.amount, 10);
  facts.tofu = TofuFact{{}, 400, 5000};
  Verdict years = run(graph, facts);
  EXPECT_EQ(years.level, Level::Marginal);
  EXPECT_EQ(years.amount, kTofuCap);
  EXPECT_LT(years.amount, kPartialAmount);
}

// Discovery (docs/trust.md, "Discovery"): a key service that lists what it
// is given counts 1, and making it serve another key costs 2^40; one that
// verified the address by mail counts 5, and the attacker must also
// intercept that mail (or subvert a verifying operator): 2^48.
TEST(TrustEngine, ADiscoveryAloneIsMarginalAndVerificationWeighsMore) {
  MemoryGraph graph;
  BindingFacts facts = bob();
  facts.discovery = Discovery::Listed;
  Verdict listed = run(graph, facts);
  EXPECT_EQ(listed.level, Level::Marginal);
  EXPECT_EQ(listed.amount, kDiscoveryAmount);
  EXPECT_EQ(listed.work_factor_bits, 40) << "subverting a service that lists";
  ASSERT_EQ(listed.evidence.size(), 1u);
  EXPECT_EQ(listed.evidence[0].kind, "discovery");
  EXPECT_NE(listed.evidence[0].detail.find("not verified"), std::string::npos) << listed.evidence[0].detail;

  facts.discovery = Discovery::Verified;
  Verdict verified = run(graph, facts);
  EXPECT_EQ(verified.level, Level::Marginal) << "finding a key is never trusting it";
  EXPECT_EQ(verified.amount, kVerifiedDiscoveryAmount);
  EXPECT_EQ(verified.amount, 5);
  EXPECT_EQ(verified.work_factor_bits, 40) << "a subverted service says 'verified' for free";
  ASSERT_EQ(verified.evidence.size(), 1u);
  EXPECT_NE(verified.evidence[0].detail.find("verified the address"), std::string::npos);

  CostModel costs;
  costs.key_service_bits = 64;  // a service its users trust more than a CA
  EXPECT_EQ(evaluate(facts, graph, kRoot, costs).work_factor_bits, 48)
      << "then intercepting the challenge mail is the cheaper move";
  facts.discovery = Discovery::Listed;
  EXPECT_EQ(evaluate(facts, graph, kRoot, costs).work_factor_bits, 64);
}

// Trust on first use at its cap plus a verified discovery: 39 + 5, but the
// two together stay below partial.
TEST(TrustEngine, DiscoveryAndFirstUseTogetherStayMarginal) {
  MemoryGraph graph;
  BindingFacts facts = bob();
  facts.tofu = TofuFact{{}, 400, 5000};
  for (Discovery discovery : {Discovery::Listed, Discovery::Verified}) {
    facts.discovery = discovery;
    Verdict verdict = run(graph, facts);
    EXPECT_EQ(verdict.level, Level::Marginal);
    EXPECT_EQ(verdict.amount, kWeakEvidenceCap);
    EXPECT_LT(verdict.amount, kPartialAmount);
    EXPECT_EQ(verdict.work_factor_bits, 64) << "the history belongs to the real key: steal it";
  }
  facts.tofu = TofuFact{{}, 1, 1};
  facts.discovery = Discovery::Verified;
  EXPECT_EQ(run(graph, facts).amount, 10 + 5) << "below the cap they add up";
}

// R -120/1-> A -35/0-> T, and T found through a verifying service: 35 + 5
// reaches partial with real evidence; the attacker needs both moves.
TEST(TrustEngine, AVerifiedDiscoveryAddsToOtherEvidence) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 1).add("A", "T", 35, 0);
  BindingFacts facts = bob();
  facts.discovery = Discovery::Listed;
  Verdict listed = run(graph, facts);
  EXPECT_EQ(listed.amount, 36);
  EXPECT_EQ(listed.level, Level::Marginal);
  facts.discovery = Discovery::Verified;
  Verdict verified = run(graph, facts);
  EXPECT_EQ(verified.amount, 40);
  EXPECT_EQ(verified.level, Level::Partial);
  EXPECT_EQ(verified.work_factor_bits, 64) << "steal A's key (2^64) and subvert the service (2^48)";
  facts.pkix.push_back({"Example CA", 60});
  EXPECT_EQ(run(graph, facts).work_factor_bits, 48) << "fooling the CA alone reaches partial";
}

TEST(TrustEngine, ConflictOverridesEverythingButADecision) {
  MemoryGraph graph;
  graph.add("R", "A", 120, 1).add("A", "T", 120, 0);
  BindingFacts facts = bob();
  facts.pkix.push_back({"Some CA", 60});
  facts.conflict_with = Identity{"OLD"};
  Verdict verdict = run(graph, facts);
  EXPECT_EQ(verdict.level, Level::Conflict);
  ASSERT_TRUE(verdict.conflict_with);
  EXPECT_EQ(verdict.conflict_with->str(), "OLD");
  facts.pin = PinFact{140, 132};
  EXPECT_EQ(run(graph, facts).level, Level::Full) << "a pin settles the conflict";
  MemoryGraph own;
  own.add("R", "T", 120, 0);
  facts.pin.reset();
  EXPECT_EQ(run(own, facts).level, Level::Full) << "so does your own endorsement";
}

TEST(TrustEngine, PkixDefaultAloneIsPartial) {
  MemoryGraph graph;
  BindingFacts facts = bob();
  facts.pkix.push_back({"Example CA", 60});
  Verdict verdict = run(graph, facts);
  EXPECT_EQ(verdict.level, Level::Partial);
  EXPECT_EQ(verdict.amount, 60);
  EXPECT_EQ(verdict.work_factor_bits, 48) << "fooling the CA";
}

TEST(TrustEngine, PinOverridesEverythingButRevocation) {
  MemoryGraph graph;
  BindingFacts facts = bob();
  facts.pin = PinFact{100, 92};
  Verdict verdict = run(graph, facts);
  EXPECT_EQ(verdict.level, Level::Full);
  EXPECT_EQ(verdict.work_factor_bits, 92) << "colliding a 100-bit presentation";
  facts.revoked = true;
  EXPECT_EQ(run(graph, facts).level, Level::Revoked);
}

TEST(TrustEngine, AbsurdAmountsAndDepthsAreClamped) {
  MemoryGraph graph;
  graph.add("R", "A", 100000, 1000).add("A", "T", -5, 0).add("A", "T", 120, 0);
  Verdict verdict = run(graph);
  EXPECT_EQ(verdict.amount, 120);
  MemoryGraph negative;
  negative.add("R", "A", 120, -3).add("A", "T", 120, 0);
  EXPECT_EQ(run(negative).level, Level::None) << "a negative depth introduces nobody";
}

TEST(TrustEngine, EvidenceAddsUpAcrossKinds) {
  MemoryGraph graph;
  graph.add("R", "A", 30, 1).add("A", "T", 120, 0);
  BindingFacts facts = bob();
  facts.pkix.push_back({"Example CA", 60});
  facts.tofu = TofuFact{{}, 3, 10};
  Verdict verdict = run(graph, facts);
  EXPECT_EQ(verdict.amount, 30 + 60 + tofu_amount(*facts.tofu));
  EXPECT_EQ(verdict.level, Level::Partial);
  EXPECT_EQ(verdict.work_factor_bits, 48) << "fooling the CA alone reaches partial";
}

// R -120/0 [certifies bob@example.org]-> T, evaluated for another address of T.
TEST(TrustEngine, AnEndorsementCertifiesItsAddresses) {
  MemoryGraph graph;
  graph.add("R", "T", 120, 0);
  graph.add("R", "A", 120, 1).add("A", "T", 120, 0);
  EXPECT_EQ(run(graph).level, Level::Full);
  class Certifying : public TrustGraph {
   public:
    std::vector<Edge> endorsements_by(const Identity& issuer) override {
      if (issuer.str() != "R")
        return {};
      return {Edge{Identity{"R"}, Identity{"T"}, 120, 0, {}, {"carol@example.org"}}};
    }
  } only_carol;
  EXPECT_EQ(evaluate(bob(), only_carol, kRoot).level, Level::None);
}

TEST(TrustEngine, ScopeRules) {
  auto address = EmailAddress::parse("bob@mail.example.org");
  EXPECT_TRUE(scope_permits("mail.example.org", address));
  EXPECT_TRUE(scope_permits(".example.org", address));
  EXPECT_FALSE(scope_permits("example.org", address));
  EXPECT_TRUE(scope_permits("Bob@Mail.Example.org", address));
  EXPECT_FALSE(scope_permits("alice@mail.example.org", address));
  EXPECT_FALSE(scope_permits("", address));
}

TEST(TrustEngine, LevelsOrder) {
  EXPECT_TRUE(meets(Level::Full, Level::Partial));
  EXPECT_FALSE(meets(Level::Marginal, Level::Partial));
  EXPECT_FALSE(meets(Level::Conflict, Level::None));
  EXPECT_EQ(parse_level("partial"), Level::Partial);
  EXPECT_THROW(parse_level("sort of"), std::exception);
}

TEST(TrustEngine, DotShowsThePaths) {
  MemoryGraph graph;
  graph.add("R", "A", 60, 1).add("A", "T", 120, 0);
  BindingFacts facts = bob();
  Verdict verdict = run(graph, facts);
  std::string dot = to_dot(verdict, facts, kRoot, [](const Identity& identity) { return "node " + identity.str(); });
  EXPECT_NE(dot.find("digraph trust"), std::string::npos);
  EXPECT_NE(dot.find("\"R\" -> \"A\""), std::string::npos);
  EXPECT_NE(dot.find("60 (depth 1)"), std::string::npos);
}

}  // namespace
}  // namespace mailseal::trust
