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
//
// The same connection receives the answers to this process's fences
// (ServiceStore::fence_lookups) on a channel of its own, and answers this
// process's fences itself, without a statement: the writers' connections
// do not LISTEN, so a notification wakes one backend a process, not one a
// pooled connection (bench/service_profile.md, "Where a publish's time
// goes").

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
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
// Fences (ServiceStore::fence_lookups): "fence CHANNEL TOKEN" on
// kLookupChannel, answered "LISTENER-BACKEND-PID TOKEN" on CHANNEL, which is
// kAckChannelPrefix and the backend pid of the connection that receives the
// answers: the writing process's listener's, or (while that listener is
// not listening) the writing connection's own.
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

  // A fence of this process whose answers the listener collects.
  struct Fence {
    std::string channel;  // where its answers come
    std::string token;    // digits, unique to the fence
    std::uint64_t session = 0;
  };
  enum class Answered { All, Missing, Lost };

  // Starts the thread; `memo` must outlive the listener.
  LookupListener(std::string uri, LookupMemo& memo);
  ~LookupListener();
  LookupListener(const LookupListener&) = delete;
  LookupListener& operator=(const LookupListener&) = delete;

  // Registers a fence before it is sent; nullopt while the listener is not
  // listening (the writer then receives the answers itself).
  std::optional<Fence> begin_fence();
  // Waits until every listener in `listeners` (backend pids) answered the
  // fence, at most kFenceRounds quiet rounds, then forgets the fence: All,
  // Missing (one did not answer in time) or Lost (the listener's connection
  // was lost meanwhile: answers may have gone with it).
  Answered finish_fence(const Fence& fence, std::set<std::string> listeners);

 private:
  void run();
  // Serves one connection until it is lost or the listener stops.
  void listen(pg_conn* connection);
  // Hands the changes to the memo, the answers to other processes' fences
  // to `acks`; notes the answers to this process's fences.
  void take_notifications(pg_conn* connection, std::vector<Ack>& acks);
  // A listener (backend pid) answered this process's fence `token`.
  void answered(const std::string& token, std::string listener);
  // The connection listens on kLookupChannel and `channel` (empty: no longer).
  void listening(std::string channel);
  // Waits up to `milliseconds` for the socket (-1: none) to be readable;
  // false when the listener is stopping.
  enum class Wake { Readable, Quiet, Stop };
  Wake wait(int socket, int milliseconds);

  std::string uri_;
  LookupMemo& memo_;
  UniqueFd stop_;  // an eventfd, written to stop

  struct Pending {  // a fence of this process's, waited for
    std::set<std::string> answered;  // the listeners (backend pids) that answered it
    std::condition_variable changed;
  };
  std::mutex mutex_;  // guards what follows
  std::string channel_;        // where this process's fences are answered; empty while not listening
  std::uint64_t session_ = 0;  // one more at every connection lost
  std::uint64_t next_token_;
  std::map<std::string, Pending> fences_;  // by token

  std::thread thread_;  // last: started once the rest is made
};

}  // namespace mailseal::service
