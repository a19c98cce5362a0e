// What both back ends of the service's SQL connection share: transactions
// and savepoints.

#include <fmt/format.h>

#include "service/internal/sql.h"

namespace mailseal::service::sql {

Transaction::Transaction(Connection& connection) : connection_(connection), level_(connection.depth_) {
  if (level_ == 0) {
    // SQLite: take the write lock now, so that what the transaction reads
    // stays true until it commits (see lock_rows()).
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
  connection_.execute(level_ == 0 ? std::string("COMMIT;") : fmt::format("RELEASE SAVEPOINT mailseal_{};", level_));
  --connection_.depth_;
  done_ = true;
}

bool is_postgres(std::string_view database) noexcept {
  return database.starts_with("postgresql://") || database.starts_with("postgres://");
}

}  // namespace mailseal::service::sql
