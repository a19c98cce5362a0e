#include "devices/internal/merge.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <tuple>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/store/trust_sync.h"

namespace mailseal::devices::internal {

namespace {

constexpr std::string_view kItemSeparator = "; ";
constexpr std::string_view kEndorse = "endorse";

}  // namespace

std::vector<DecisionItem> decision_items(const std::string& value) {
  std::vector<DecisionItem> out;
  std::size_t start = 0;
  while (start < value.size()) {
    std::size_t end = value.find(kItemSeparator, start);
    if (end == std::string::npos)
      end = value.size();
    const std::string item = value.substr(start, end - start);
    const std::size_t first = item.find(' ');
    DecisionItem parsed{item.substr(0, first), "", ""};
    if (first != std::string::npos) {
      const std::size_t second = item.find(' ', first + 1);
      parsed.target = item.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
      if (second != std::string::npos)
        parsed.detail = item.substr(second + 1);
    }
    out.push_back(std::move(parsed));
    start = end + kItemSeparator.size();
  }
  return out;
}

std::string decision_value(const std::vector<DecisionItem>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty())
      out += kItemSeparator;
    out += item.verb + " " + item.target;
    if (!item.detail.empty())
      out += " " + item.detail;
  }
  return out;
}

bool ordered_before(const Decision& a, const Decision& b) {
  return std::tie(a.lamport, a.device, a.seq) < std::tie(b.lamport, b.device, b.seq);
}

bool overtaken(const Decision& decision, const std::string& target, const std::vector<Decision>& all) {
  for (const auto& other : all) {
    if (!ordered_before(decision, other))
      continue;
    for (const auto& item : decision_items(other.value)) {
      if (item.target == target || item.target == store::kAllTargets)
        return true;
    }
  }
  return false;
}

std::set<std::string> decided_after(const Decision& decision, const std::vector<Decision>& all) {
  std::set<std::string> out;
  for (const auto& other : all) {
    if (!ordered_before(decision, other))
      continue;
    for (auto& item : decision_items(other.value))
      out.insert(std::move(item.target));
  }
  return out;
}

bool agree(const Decision& a, const Decision& b) {
  auto meaning = [](const Decision& decision) {
    std::vector<DecisionItem> items = decision_items(decision.value);
    for (auto& item : items) {
      if (item.verb == kEndorse)
        item.target.clear();
    }
    return decision_value(items);
  };
  return meaning(a) == meaning(b);
}

bool covers(const Decision& later, const Decision& earlier) {
  if (later.device == earlier.device)
    return later.seq > earlier.seq;
  auto known = later.frontier.find(earlier.device);
  return known != later.frontier.end() && known->second >= earlier.seq;
}

std::vector<Decision> latest_decisions(const std::vector<Decision>& decisions) {
  std::vector<Decision> out;
  for (const auto& decision : decisions) {
    const bool covered = std::any_of(decisions.begin(), decisions.end(),
                                     [&](const Decision& other) { return covers(other, decision); });
    if (!covered)
      out.push_back(decision);
  }
  std::sort(out.begin(), out.end(), ordered_before);
  return out;
}

std::optional<std::pair<Decision, Decision>> conflict_of(const std::vector<Decision>& decisions) {
  std::vector<Decision> latest = latest_decisions(decisions);
  if (latest.empty())
    return std::nullopt;
  // The winner by (lamport, device), against the newest that disagrees.
  const Decision& last = latest.back();
  for (auto other = latest.rbegin(); other != latest.rend(); ++other) {
    if (!agree(*other, last))
      return std::make_pair(*other, last);
  }
  return std::nullopt;
}

std::optional<TimeBound> time_of(const std::map<std::int64_t, std::int64_t>& known, std::int64_t seq) {
  auto after = known.lower_bound(seq);
  if (after == known.end())
    return std::nullopt;
  if (after->first == seq)
    return TimeBound{after->second, after->second};
  TimeBound bound{seq, after->second - (after->first - seq)};
  if (after != known.begin()) {
    auto before = std::prev(after);
    bound.low = std::max(bound.low, before->second + (seq - before->first));
  }
  return bound;
}

std::optional<std::string> clock_breach(std::int64_t lamport, const std::vector<TimeBound>& named) {
  std::int64_t low = 1;
  std::int64_t high = 1;
  for (const auto& bound : named) {
    low = std::max(low, bound.low + 1);
    high = std::max(high, bound.high + 1);
  }
  const std::string expected =
      low == high ? fmt::format("{}", low) : fmt::format("between {} and {}", low, high);
  if (lamport > high) {
    return fmt::format("its time {} jumps ahead of the records it names (it must be {})", lamport, expected);
  }
  if (lamport < low) {
    return fmt::format("its time {} is not after the time of the records it names (it must be {})", lamport,
                       expected);
  }
  return std::nullopt;
}

std::string frontier_text(const Frontier& frontier) {
  std::string out;
  for (const auto& [device, seq] : frontier) {
    if (!out.empty())
      out.push_back(',');
    out += device.str() + "=" + std::to_string(seq);
  }
  return out;
}

Frontier parse_frontier(const std::string& text) {
  Frontier out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    const std::string item = text.substr(start, end - start);
    const std::size_t equals = item.find('=');
    std::int64_t seq = 0;
    bool whole = false;
    if (equals != std::string::npos) {
      const char* last = item.data() + item.size();
      auto [end_of_number, error] = std::from_chars(item.data() + equals + 1, last, seq);
      whole = error == std::errc{} && end_of_number == last;
    }
    // An Error, not std::stoll's exception: what the merge catches.
    if (!whole)
      throw Error(ErrorCode::Malformed, "a frontier kept in this store is damaged");
    out[DeviceId(item.substr(0, equals))] = seq;
    start = end + 1;
  }
  return out;
}

}  // namespace mailseal::devices::internal
