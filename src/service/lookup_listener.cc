#include "service/internal/lookup_listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "service/internal/postgres.h"

namespace mailseal::service {

namespace {

// A quiet connection is asked a question after this long; unanswered after
// as long again, it is taken for lost.
constexpr int kHeartbeatMilliseconds = 1000;
// Between attempts to connect.
constexpr int kRetryMilliseconds = 1000;

void ignore_notice(void*, const char*) {}

// The listener's own connection: the service's URI, named so that an
// operator (and the tests) can tell it in pg_stat_activity, with TCP
// keepalives and a bound on connecting.
sql::PgConnection connect_listener(const std::string& uri) {
  const std::string name = fmt::format("{} {}", kListenerName, ::getpid());
  const std::array<const char*, 7> keywords{"dbname", "application_name", "connect_timeout", "keepalives",
                                            "keepalives_idle", "keepalives_interval", nullptr};
  const std::array<const char*, 7> values{uri.c_str(), name.c_str(), "5", "1", "5", "2", nullptr};
  sql::PgConnection connection(PQconnectdbParams(keywords.data(), values.data(), 1));
  // The server's notices (its FATAL when the session is terminated) are not
  // the service's output: the loss is handled, the memo stopped.
  if (connection)
    PQsetNoticeProcessor(connection.get(), ignore_notice, nullptr);
  return connection;
}

bool command_ok(pg_conn* connection, const char* command) {
  sql::PgResult result(PQexec(connection, command));
  return result && PQresultStatus(result.get()) == PGRES_COMMAND_OK;
}

// Reads the answers to the heartbeat (or to the fences) once they are all
// there; false if one was an error. `outstanding` becomes false once read.
bool read_answers(pg_conn* connection, bool& outstanding) {
  while (outstanding && !PQisBusy(connection)) {
    sql::PgResult result(PQgetResult(connection));
    if (!result) {
      outstanding = false;
      break;
    }
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK)
      return false;
  }
  return true;
}

bool all_digits(std::string_view text) {
  return !text.empty() && text.size() <= 20 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "A B" as A and B; nullopt without a space.
std::optional<std::pair<std::string_view, std::string_view>> two_words(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos)
    return std::nullopt;
  return std::pair{text.substr(0, space), text.substr(space + 1)};
}

// Tokens start at a random number: a channel named after a backend pid may
// be another process's later, and answers to its fences must not count.
std::uint64_t first_token() {
  std::random_device random;
  return ((std::uint64_t{random()} << 32) | random()) >> 1;
}

// The fences' answers, in one statement sent without waiting for it (its
// answer, as a heartbeat's, shows the connection alive). Channels and
// payloads are digits, '_', lower-case letters and a space (checked).
bool send_acks(pg_conn* connection, std::vector<LookupListener::Ack>& acks) {
  std::string channels = "{", payloads = "{";
  for (const auto& ack : acks) {
    channels += fmt::format("{}\"{}\"", channels.size() > 1 ? "," : "", ack.channel);
    payloads += fmt::format("{}\"{}\"", payloads.size() > 1 ? "," : "", ack.payload);
  }
  channels += "}";
  payloads += "}";
  acks.clear();
  const std::array<const char*, 2> values{channels.c_str(), payloads.c_str()};
  return PQsendQueryParams(connection, "SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS t(c, p)",
                           2, nullptr, values.data(), nullptr, nullptr, 0) == 1;
}

}  // namespace

void LookupListener::take_notifications(pg_conn* connection, std::vector<Ack>& acks) {
  const std::string self = std::to_string(PQbackendPID(connection));
  const std::string own = fmt::format("{}{}", kAckChannelPrefix, self);
  while (sql::PgNotification notification{PQnotifies(connection)}) {
    const std::string_view channel = notification->relname;
    const std::string_view payload = notification->extra ? notification->extra : "";
    if (channel == own) {  // "LISTENER TOKEN": an answer to one of this process's fences
      if (const auto words = two_words(payload); words && all_digits(words->first) && all_digits(words->second))
        answered(std::string(words->second), std::string(words->first));
      continue;
    }
    if (channel != kLookupChannel)
      continue;
    if (!payload.starts_with(kFencePrefix)) {
      memo_.notified(payload);
      continue;
    }
    // "fence CHANNEL TOKEN": answered once everything before it is
    // forgotten, which it is now; this process's own, without a statement.
    const auto words = two_words(payload.substr(kFencePrefix.size()));
    if (!words || !words->first.starts_with(kAckChannelPrefix) ||
        !all_digits(words->first.substr(kAckChannelPrefix.size())) || !all_digits(words->second))
      continue;
    if (words->first == own)
      answered(std::string(words->second), self);
    else
      acks.push_back({std::string(words->first), fmt::format("{} {}", self, words->second)});
  }
}

void LookupListener::answered(const std::string& token, std::string listener) {
  std::lock_guard lock(mutex_);
  auto found = fences_.find(token);
  if (found == fences_.end())
    return;  // not waited for (any more)
  found->second.answered.insert(std::move(listener));
  found->second.changed.notify_one();
}

void LookupListener::listening(std::string channel) {
  std::lock_guard lock(mutex_);
  if (channel.empty()) {
    ++session_;  // the fences waited for may have lost answers with the connection
    for (auto& [token, pending] : fences_)
      pending.changed.notify_one();
  }
  channel_ = std::move(channel);
}

std::optional<LookupListener::Fence> LookupListener::begin_fence() {
  std::lock_guard lock(mutex_);
  if (channel_.empty())
    return std::nullopt;
  Fence fence{channel_, std::to_string(next_token_++), session_};
  fences_.try_emplace(fence.token);
  return fence;
}

LookupListener::Answered LookupListener::finish_fence(const Fence& fence, std::set<std::string> listeners) {
  std::unique_lock lock(mutex_);
  Pending& pending = fences_[fence.token];
  Answered result = Answered::Missing;
  for (int quiet = 0; quiet < kFenceRounds;) {
    for (const auto& listener : pending.answered)
      listeners.erase(listener);
    if (listeners.empty()) {
      result = Answered::All;
      break;
    }
    if (session_ != fence.session) {
      result = Answered::Lost;
      break;
    }
    const std::size_t before = pending.answered.size();
    if (!pending.changed.wait_for(lock, std::chrono::milliseconds(kFenceRoundMilliseconds),
                                  [&] { return pending.answered.size() != before || session_ != fence.session; }))
      ++quiet;
  }
  fences_.erase(fence.token);
  return result;
}

LookupListener::LookupListener(std::string uri, LookupMemo& memo)
    : uri_(std::move(uri)), memo_(memo), stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), next_token_(first_token()) {
  if (!stop_.valid())
    throw Error(ErrorCode::Io, "cannot make the lookup listener's event descriptor");
  thread_ = std::thread([this] { run(); });
}

LookupListener::~LookupListener() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

LookupListener::Wake LookupListener::wait(int socket, int milliseconds) {
  std::array<pollfd, 2> watched{pollfd{stop_.get(), POLLIN, 0}, pollfd{socket, POLLIN, 0}};
  int ready;
  do
    ready = ::poll(watched.data(), socket < 0 ? 1 : 2, milliseconds);
  while (ready < 0 && errno == EINTR);
  if (watched[0].revents != 0)
    return Wake::Stop;
  return ready > 0 ? Wake::Readable : Wake::Quiet;
}

void LookupListener::run() {
  for (;;) {
    sql::PgConnection connection = connect_listener(uri_);
    // Its statements (the answers to fences) change nothing that must
    // last: their commits need not wait for the disk.
    const std::string channel =
        connection ? fmt::format("{}{}", kAckChannelPrefix, PQbackendPID(connection.get())) : std::string();
    if (connection && PQstatus(connection.get()) == CONNECTION_OK &&
        command_ok(connection.get(), fmt::format("SET synchronous_commit = off; LISTEN {}; LISTEN {}",
                                                 kLookupChannel, channel).c_str())) {
      // Every commit from now on notifies this connection: answers read
      // after this point may be kept.
      memo_.connected();
      listening(channel);
      listen(connection.get());
      listening("");
      memo_.disconnected();
    }
    if (wait(-1, kRetryMilliseconds) == Wake::Stop)
      return;
  }
}

void LookupListener::listen(pg_conn* connection) {
  bool busy = false;  // a heartbeat or the fences' answers are unanswered
  std::vector<Ack> acks;
  take_notifications(connection, acks);  // any that came with LISTEN's answer
  for (;;) {
    if (!busy && !acks.empty()) {
      if (!send_acks(connection, acks))
        return;
      busy = true;
    }
    const Wake wake = wait(PQsocket(connection), kHeartbeatMilliseconds);
    if (wake == Wake::Stop)
      return;
    if (wake == Wake::Quiet) {
      if (busy)
        return;  // a second without an answer: lost
      if (PQsendQuery(connection, "SELECT 1") != 1)
        return;
      busy = true;
      continue;
    }
    if (PQconsumeInput(connection) != 1 || PQstatus(connection) != CONNECTION_OK)
      return;
    if (!read_answers(connection, busy))
      return;
    take_notifications(connection, acks);
  }
}

}  // namespace mailseal::service
