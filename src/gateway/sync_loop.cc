// The gateway's periodic sync (internal/sync_loop.h). It reads the clock: it
// is one of the gateway's edges, like a session.

#include "gateway/internal/sync_loop.h"

#include <fmt/format.h>

#include "gateway/internal/session.h"
#include "mailseal/common/error.h"
#include "mailseal/devices/connect.h"
#include "mailseal/devices/key_service.h"
#include "mailseal/keyservice/client.h"
#include "mailseal/store/local_store.h"

namespace mailseal::gateway::internal {

namespace {

// What a sync changed, one line each; nothing when it changed nothing.
std::vector<std::string> describe(const devices::SyncReport& report) {
  std::vector<std::string> lines;
  for (const auto& device : report.accepted)
    lines.push_back(fmt::format("sync: accepted device {} ({}) by its PIN", device.name, device.device_id.str()));
  for (const auto& request : report.refused)
    lines.push_back(fmt::format("sync: refused join request {}: its PIN was wrong, used or expired", request.str()));
  if (report.keys_added > 0 || report.keys_archived > 0)
    lines.push_back(fmt::format("sync: {} mail key(s) received, {} archived", report.keys_added, report.keys_archived));
  if (!report.renewal.renewed.empty())
    lines.push_back(fmt::format("sync: renewed {} certificate(s)", report.renewal.renewed.size()));
  if (report.renewal.publish_failure)
    lines.push_back(fmt::format("sync: publishing the renewal failed: {}", *report.renewal.publish_failure));
  // Held back every sync until it is dealt with, as the CLI's sync says:
  // the gateway's periodic sync is often the only one (review of b30d091, G3).
  for (const auto& held : report.records.overreaching)
    lines.push_back("sync: warning: " + devices::describe_held_back(held));
  for (const auto& difference : report.records.removed_differences)
    lines.push_back("sync: warning: " + devices::describe_removed_difference(difference));
  for (const auto& wait : report.records.long_waits)
    lines.push_back("sync: warning: " + devices::describe_long_wait(wait));
  for (const auto& past : report.records.past_cut)
    lines.push_back("sync: warning: " + devices::describe_past_cut(past));
  if (report.removed)
    lines.push_back("sync: this device was removed from the profile; the gateway no longer syncs");
  return lines;
}

}  // namespace

SyncLoop::SyncLoop(const GatewayOptions& options) : options_(options) {
  if (options_.sync_interval.count() > 0)
    thread_ = std::thread([this] { run(); });
}

SyncLoop::~SyncLoop() {
  {
    std::lock_guard guard(lock_);
    stopping_ = true;
    if (active_ != nullptr)
      active_->cancel();
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void SyncLoop::run() {
  std::unique_lock guard(lock_);
  while (!stopping_) {
    guard.unlock();
    const bool go_on = sync_once();
    guard.lock();
    if (!go_on)
      return;
    wake_.wait_for(guard, options_.sync_interval, [this] { return stopping_; });
  }
}

bool SyncLoop::sync_once() {
  try {
    std::optional<std::string> url;
    {
      store::LocalStore store = store::LocalStore::open(options_.home);
      url = devices::service_to_use({}, store);
    }
    if (!url) {
      if (!told_no_service_)
        report(options_, "sync: the profile names no key service yet; the gateway syncs once it is published");
      told_no_service_ = true;
      return true;
    }
    keyservice::Client client(*url);
    {
      std::lock_guard guard(lock_);
      if (stopping_)
        return false;
      active_ = &client;
    }
    // The client is forgotten before it goes, however the sync ends.
    struct Forget {
      SyncLoop& loop;
      ~Forget() {
        std::lock_guard guard(loop.lock_);
        loop.active_ = nullptr;
      }
    } forget{*this};
    devices::SyncReport result = devices::sync(options_.home, client, options_.key_access, mailseal::now());
    for (const auto& line : describe(result))
      report(options_, line);
    return !result.removed;
  } catch (const std::exception& error) {
    // A key service that is down now may be up at the next sync.
    report(options_, fmt::format("sync with the key service failed: {}", error.what()));
    return true;
  }
}

}  // namespace mailseal::gateway::internal
