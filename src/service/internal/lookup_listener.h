#pragma once
// The connection that keeps a process's LookupMemo true (docs/service.md,
// "Back ends", "Lookups from memory"): a thread with its own PostgreSQL
// connection that LISTENs on kLookupChannel, to which every transaction
// that changes what a lookup answers sends a notification (storage.cc).
// The memo is in use only while this connection is up: from the moment
// LISTEN took effect until the connection is lost (closed, terminated, or
// silent: a heartbeat query unanswered for a second after a quiet second).
// Then the memo is emptied and out of use, every lookup reads the database,
// and the thread connects again every second.

#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mailseal/common/unique_fd.h"
#include "service/internal/lookup_memo.h"

struct pg_conn;

namespace mailseal::service {

inline constexpr std::string_view kLookupChannel = "mailseal_lookups";
// A listener's connection is named "mailseal-serve lookups PID".
inline constexpr std::string_view kListenerName = "mailseal-serve lookups";
// Fences (ServiceStore::fence_lookups): "fence CHANNEL SEQ" on
// kLookupChannel, answered "LISTENER-BACKEND-PID SEQ" on CHANNEL, which is
// kAckChannelPrefix and the writing connection's backend pid.
inline constexpr std::string_view kFencePrefix = "fence ";
inline constexpr std::string_view kAckChannelPrefix = "mailseal_ack_";
// How long a fence waits: rounds without any answer, each this long.
inline constexpr int kFenceRounds = 20;
inline constexpr int kFenceRoundMilliseconds = 100;

class LookupListener {
 public:
  struct Ack {  // the answer to a fence
    std::string channel;
    std::string payload;
  };

  // Starts the thread; `memo` must outlive the listener.
  LookupListener(std::string uri, LookupMemo& memo);
  ~LookupListener();
  LookupListener(const LookupListener&) = delete;
  LookupListener& operator=(const LookupListener&) = delete;

 private:
  void run();
  // Serves one connection until it is lost or the listener stops.
  void listen(pg_conn* connection);
  // Hands the changes to the memo, and the fences' answers to `acks`.
  void take_notifications(pg_conn* connection, std::vector<Ack>& acks);
  // Waits up to `milliseconds` for the socket (-1: none) to be readable;
  // false when the listener is stopping.
  enum class Wake { Readable, Quiet, Stop };
  Wake wait(int socket, int milliseconds);

  std::string uri_;
  LookupMemo& memo_;
  UniqueFd stop_;  // an eventfd, written to stop
  std::thread thread_;
};

}  // namespace mailseal::service
