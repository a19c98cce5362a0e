#include "devices/internal/record_waits.h"

#include <map>

#include "mailseal/store/trust_sync.h"

namespace mailseal::devices::internal {

std::vector<LongWait> note_waits(store::LocalStore& store, const std::vector<WaitingLog>& waiting, TimePoint now) {
  store::TrustSync sync(store);
  std::vector<store::RecordWait> current;
  std::map<DeviceId, int> count;
  for (const auto& log : waiting) {
    current.push_back({log.device, log.first, now});
    count[log.device] = log.waiting;
  }
  sync.set_record_waits(current);
  std::vector<LongWait> out;
  for (const auto& wait : sync.record_waits()) {
    const std::chrono::seconds waited = now - wait.since;
    if (waited > kLongWait)
      out.push_back({wait.device_id, wait.seq, count[wait.device_id], wait.since, waited});
  }
  return out;
}

}  // namespace mailseal::devices::internal
