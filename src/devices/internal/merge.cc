#include "devices/internal/merge.h"

#include <algorithm>

namespace mailseal::devices::internal {

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
  std::sort(out.begin(), out.end(), [](const Decision& a, const Decision& b) {
    if (a.lamport != b.lamport)
      return a.lamport < b.lamport;
    if (a.device != b.device)
      return a.device < b.device;
    return a.seq < b.seq;
  });
  return out;
}

std::optional<std::pair<Decision, Decision>> conflict_of(const std::vector<Decision>& decisions) {
  std::vector<Decision> latest = latest_decisions(decisions);
  if (latest.empty())
    return std::nullopt;
  // The winner by (lamport, device), against the newest that disagrees.
  const Decision& last = latest.back();
  for (auto other = latest.rbegin(); other != latest.rend(); ++other) {
    if (other->value != last.value)
      return std::make_pair(*other, last);
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
    if (equals != std::string::npos)
      out[DeviceId(item.substr(0, equals))] = std::stoll(item.substr(equals + 1));
    start = end + 1;
  }
  return out;
}

}  // namespace mailseal::devices::internal
