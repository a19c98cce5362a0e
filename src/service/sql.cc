// What both back ends of the service's SQL connection share: transactions
// and savepoints.

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/service/api.h"
#include "service/internal/sql.h"

namespace mailseal::service::sql {

Transaction::Transaction(Connection& connection) : connection_(connection), level_(connection.depth_) {
  if (level_ == 0) {
    // SQLite: take the write lock now, so that what the transaction reads
    // stays true until it commits (see lock_rows()).
    if (connection_.dialect() == Dialect::Sqlite && connection_.write_turns_)
      turn_ = connection_.write_turns_->take();
    connection_.execute(connection_.dialect() == Dialect::Sqlite ? "BEGIN IMMEDIATE;" : "BEGIN;");
  } else {
    connection_.execute(fmt::format("SAVEPOINT mailseal_{};", level_));
  }
  ++connection_.depth_;
}

Transaction::~Transaction() {
  if (done_)
    return;
  --connection_.depth_;
  if (level_ == 0)
    connection_.at_commit_.clear();
  try {
    if (level_ == 0)
      connection_.execute("ROLLBACK;");
    else
      connection_.execute(fmt::format("ROLLBACK TO SAVEPOINT mailseal_{0}; RELEASE SAVEPOINT mailseal_{0};", level_));
  } catch (...) {
    // A connection that cannot roll back is lost (the pool drops it) or
    // rolls back when it closes.
  }
}

void Transaction::commit() {
  // One simple query: a failing statement stops it, COMMIT included (the
  // transaction then rolls back), and its error is the query's answer.
  std::string notifications = level_ == 0 ? std::exchange(connection_.at_commit_, {}) : std::string();
  connection_.execute(level_ == 0 ? notifications + "COMMIT;"
                                  : fmt::format("RELEASE SAVEPOINT mailseal_{};", level_));
  --connection_.depth_;
  done_ = true;
  turn_.end();
}

WriteTurns::Turn& WriteTurns::Turn::operator=(Turn&& other) noexcept {
  if (this != &other) {
    end();
    turns_ = std::exchange(other.turns_, nullptr);
  }
  return *this;
}

void WriteTurns::Turn::end() noexcept {
  if (turns_ == nullptr)
    return;
  // Every waiter wakes and the next ticket's goes on (a pool has a few
  // connections, so a few waiters at most); notified under the lock, so
  // that no waiter can go on and destroy the turns before it is done.
  std::lock_guard lock(turns_->mutex_);
  ++turns_->serving_;
  turns_->handed_on_.notify_all();
  turns_ = nullptr;
}

WriteTurns::Turn WriteTurns::take() {
  std::unique_lock lock(mutex_);
  const std::uint64_t ticket = next_++;
  handed_on_.wait(lock, [&] { return serving_ == ticket; });
  return Turn(*this);
}

std::size_t WriteTurns::queued() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(next_ - serving_);
}

void Connection::notify_at_commit(std::string_view channel, std::string_view payload) {
  if (channel.empty() || !std::all_of(channel.begin(), channel.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      }))
    throw Error(ErrorCode::Usage, "a notification's channel is letters, digits and '_'");
  // The payload in hexadecimal: no quoting, whatever it holds.
  const std::string statement = fmt::format("SELECT pg_notify('{}', convert_from(decode('{}', 'hex'), 'UTF8')); ",
                                            channel, to_hex(as_bytes(payload)));
  if (depth_ == 0)
    execute(statement);
  else
    at_commit_ += statement;
}

ReadSnapshot::ReadSnapshot(Connection& connection) : connection_(connection) {
  if (connection_.dialect() != Dialect::Sqlite || connection_.depth_ > 0)
    return;
  connection_.execute("BEGIN;");
  ++connection_.depth_;
  owned_ = true;
}

ReadSnapshot::~ReadSnapshot() {
  if (!owned_)
    return;
  --connection_.depth_;
  try {
    connection_.execute("COMMIT;");  // it only read
  } catch (...) {
    // A read transaction that cannot end ends when the connection closes.
  }
}

bool is_postgres(std::string_view database) noexcept {
  return database.starts_with("postgresql://") || database.starts_with("postgres://");
}

}  // namespace mailseal::service::sql

namespace mailseal::service {

std::string database_for_display(const std::string& database) {
  if (!sql::is_postgres(database))
    return database;
  std::string out = database;
  const std::size_t start = out.find("://") + 3;
  const std::size_t at = out.find('@', start);
  const std::size_t slash = out.find('/', start);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const std::size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at)
      out.replace(colon + 1, at - colon - 1, "***");
  }
  for (std::size_t found = out.find("password="); found != std::string::npos;
       found = out.find("password=", found + 1)) {
    const std::size_t end = out.find('&', found);
    out.replace(found + 9, (end == std::string::npos ? out.size() : end) - found - 9, "***");
  }
  return out;
}

}  // namespace mailseal::service
