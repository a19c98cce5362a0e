#pragma once
// The gateway's periodic sync with the key service: the always-running
// gateway accepts devices that join by PIN, takes new key bundles and renews
// certificates, so that nobody runs `mailseal sync` by hand.

#include <condition_variable>
#include <mutex>
#include <thread>

#include "mailseal/gateway/gateway.h"

namespace mailseal::keyservice {
class Client;
}

namespace mailseal::gateway::internal {

class SyncLoop {
 public:
  // Runs devices::sync for options.home once now and then every
  // options.sync_interval, reporting what changed to options.log, beside the
  // sessions (the store's transactions order their writes). Nothing runs
  // when the interval is 0.
  explicit SyncLoop(const GatewayOptions& options);
  // Stops: a request to the key service under way is cancelled, so that a
  // stop does not wait for a service that trickles bytes or never answers.
  ~SyncLoop();
  SyncLoop(const SyncLoop&) = delete;
  SyncLoop& operator=(const SyncLoop&) = delete;

 private:
  void run();
  // One sync; false when this device was removed (there is nothing more to sync).
  bool sync_once();

  const GatewayOptions& options_;
  std::mutex lock_;
  std::condition_variable wake_;
  bool stopping_ = false;
  keyservice::Client* active_ = nullptr;  // the sync's client, while one runs
  bool told_no_service_ = false;
  std::thread thread_;
};

}  // namespace mailseal::gateway::internal
