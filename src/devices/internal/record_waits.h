#pragma once
// Since when trust records wait here (docs/service.md, "A wait without
// end"): a record sealed under a records key this device does not hold, of
// a device not in its device list, or naming such a record waits for a key
// bundle, and nothing in the record tells a bundle not received yet from a
// key service that withholds the bundle or rewrote the record's key id.
// Only the time tells: the wait is kept in the store, and one longer than
// any bundle takes to arrive is warned about (not held: nothing proves who
// is at fault).

#include <chrono>
#include <vector>

#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/devices/connect.h"
#include "mailseal/store/local_store.h"

namespace mailseal::devices::internal {

// How long a record may wait before `sync` warns. An admin device sends its
// bundles to every device in the command that changed the keys or the device
// list (a removal, an accepted device, a renewal), so they are on the
// service before any record sealed under the new key; only a second admin
// device that has not taken the first one's key yet (it takes it from the
// escrow on its next sync, then sends its own bundles) makes a device wait
// longer. A week covers that admin device being switched off over several
// days; a warning too early is only a warning.
inline constexpr std::chrono::days kLongWait{7};

// A device's log that waits here without a verdict charging anyone: from
// its record `first` on, `waiting` records.
struct WaitingLog {
  DeviceId device;
  std::int64_t first = 0;
  int waiting = 0;
};

// Keeps since when the first waiting record of each log has waited (from
// `now` for a record found waiting for the first time), forgets the waits
// that ended (merged, or judged: held back with a verdict), and returns the
// logs whose first waiting record has waited longer than kLongWait at `now`.
std::vector<LongWait> note_waits(store::LocalStore& store, const std::vector<WaitingLog>& waiting, TimePoint now);

}  // namespace mailseal::devices::internal
