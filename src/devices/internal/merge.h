#pragma once
// How trust records merge (docs/service.md, "Trust records"): pure rules
// over decisions, so that every device that has merged the same records
// reaches the same state whatever order they arrived in.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailseal/common/ids.h"

namespace mailseal::devices::internal {

using Frontier = std::map<DeviceId, std::int64_t>;

// A decision about one address's binding ("pin FINGERPRINT", "accept
// FINGERPRINT"), with the record that carried it.
struct Decision {
  DeviceId device;
  std::int64_t seq = 0;
  std::int64_t lamport = 0;
  std::string value;
  Frontier frontier;  // what the device had merged when it decided
};

// Whether `later` was made knowing `earlier`: a later record of the same
// device, or one whose frontier includes it.
bool covers(const Decision& later, const Decision& earlier);

// The decisions no other one covers (made without knowing each other),
// ordered by (lamport, device): the last is the one that wins.
std::vector<Decision> latest_decisions(const std::vector<Decision>& decisions);

// Two of the latest decisions that disagree: a conflict to show the person
// until a decision that covers both is made. nullopt when they agree.
std::optional<std::pair<Decision, Decision>> conflict_of(const std::vector<Decision>& decisions);

// "DEVICE=SEQ,DEVICE=SEQ" and back (how the store keeps a frontier).
std::string frontier_text(const Frontier& frontier);
Frontier parse_frontier(const std::string& text);

}  // namespace mailseal::devices::internal
