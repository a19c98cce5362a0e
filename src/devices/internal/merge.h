#pragma once
// How trust records merge (docs/service.md, "Trust records"): pure rules
// over decisions, so that every device that has merged the same records
// reaches the same state whatever order they arrived in.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mailseal/common/ids.h"

namespace mailseal::devices::internal {

using Frontier = std::map<DeviceId, std::int64_t>;

// What one record decided about one subject (store::pin_subject,
// anchor_subject, endorsement_subject), with the record that carried it.
// `value` holds items "VERB TARGET[ DETAIL]" joined by "; ", in the order
// the record made them:
//   pin F, accept F, unpin F, unpin *   an address's pins and acceptances
//   anchor F AMOUNT, unanchor F         a trust anchor
//   endorse DIGEST AMOUNT/DEPTH, withdraw *   an issuer's endorsements of an identity
struct Decision {
  DeviceId device;
  std::int64_t seq = 0;
  std::int64_t lamport = 0;
  std::string value;
  Frontier frontier;  // what the device had merged when it decided
};

struct DecisionItem {
  std::string verb;
  std::string target;  // a fingerprint, a digest, or store::kAllTargets
  std::string detail;
};
std::vector<DecisionItem> decision_items(const std::string& value);
std::string decision_value(const std::vector<DecisionItem>& items);

// The one order every device applies decisions in: (lamport, device, seq).
bool ordered_before(const Decision& a, const Decision& b);

// Whether what `decision` decided about `target` is overtaken: a decision
// later in the order decided about the same target, or about all of them.
// Applying only what is not overtaken makes the state the same whatever
// order records arrive in (a removal that arrives before what it removes
// still wins when it is later).
bool overtaken(const Decision& decision, const std::string& target, const std::vector<Decision>& all);

// The targets decided after `decision`: what a removal of everything it
// makes must leave.
std::set<std::string> decided_after(const Decision& decision, const std::vector<Decision>& all);

// Whether two decisions say the same: the same items, an endorsement's
// digest aside (two endorsements with the same terms agree).
bool agree(const Decision& a, const Decision& b);

// Whether `later` was made knowing `earlier`: a later record of the same
// device, or one whose frontier includes it.
bool covers(const Decision& later, const Decision& earlier);

// The decisions no other one covers (made without knowing each other),
// ordered by (lamport, device): the last is the one that wins.
std::vector<Decision> latest_decisions(const std::vector<Decision>& decisions);

// Two of the latest decisions that disagree: a conflict to show the person
// until a decision that covers both is made. nullopt when they agree.
std::optional<std::pair<Decision, Decision>> conflict_of(const std::vector<Decision>& decisions);

// The clock rule (docs/service.md, "Trust records"): a record's lamport time
// is exactly one more than the highest time of the records it names, its
// device's previous record and, for every other device that may decide,
// the record its frontier names (1 for a first record that names nothing).
// A device knows the time of every record it merged or wrote exactly
// (store record_times); bounds (times grow by at least one a record) remain
// only for a record not known here, and a record may then carry any time
// the bounds allow.
struct TimeBound {
  std::int64_t low = 0;
  std::int64_t high = 0;
};
// What the known times of one device's records (number -> time) say about
// record `seq`: exact when known, else bounded by the known records around
// it; nullopt when no record at or after `seq` is known (no upper bound).
std::optional<TimeBound> time_of(const std::map<std::int64_t, std::int64_t>& known, std::int64_t seq);
// nullopt when `lamport` keeps the rule for the times of the records named
// (`named`), else what is wrong with it.
std::optional<std::string> clock_breach(std::int64_t lamport, const std::vector<TimeBound>& named);

// "DEVICE=SEQ,DEVICE=SEQ" and back (how the store keeps a frontier).
std::string frontier_text(const Frontier& frontier);
Frontier parse_frontier(const std::string& text);

}  // namespace mailseal::devices::internal
