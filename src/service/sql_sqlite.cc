// The service's SQL connection over SQLite (store::Database).

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "mailseal/common/error.h"
#include "mailseal/store/sqlite.h"
#include "service/internal/sql.h"

namespace mailseal::service::sql {

namespace {

// Statements come from store::Database::prepare, which keeps the compiled
// ones for reuse by their SQL text: compiling one cost a third of a lookup's
// time (bench/README.md).
class SqliteRows final : public Rows {
 public:
  explicit SqliteRows(store::Statement statement) : statement_(std::move(statement)) {}
  bool next() override { return statement_.step(); }
  std::int64_t integer(int column) const override { return statement_.column_int(column); }
  std::string text(int column) const override { return statement_.column_text(column); }
  Bytes blob(int column) const override { return statement_.column_blob(column); }
  bool is_null(int column) const override { return statement_.column_is_null(column); }

 private:
  store::Statement statement_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(store::Database database) : database_(std::move(database)) {}

  Dialect dialect() const noexcept override { return Dialect::Sqlite; }

  std::unique_ptr<Rows> query(std::string_view sql, Values values) override {
    return std::make_unique<SqliteRows>(bound(sql, values));
  }

  int run(std::string_view sql, Values values) override {
    SqliteRows statement(bound(sql, values));
    while (statement.next()) {
    }
    return database_.changes();
  }

  void execute(std::string_view script) override { database_.execute(script); }
  bool healthy() const noexcept override { return true; }

 private:
  store::Statement bound(std::string_view sql, Values values) {
    store::Statement statement = database_.prepare(sql);
    int index = 1;
    for (const Value& value : values) {
      std::visit(
          [&](const auto& held) {
            using Held = std::decay_t<decltype(held)>;
            if constexpr (std::is_same_v<Held, std::monostate>)
              statement.bind_null(index);
            else if constexpr (std::is_same_v<Held, Bytes>)
              statement.bind(index, ByteView(held));
            else if constexpr (std::is_same_v<Held, std::string>)
              statement.bind(index, std::string_view(held));
            else
              statement.bind(index, held);
          },
          value.get());
      ++index;
    }
    return statement;
  }

  store::Database database_;
};

// Switching a new database to WAL takes an exclusive lock for which SQLite
// does not wait (it skips its busy handler where waiting could deadlock), so
// of several processes opening a new database at once some were refused
// ("database is locked"): they try again for a while.
void use_wal(store::Database& database) {
  constexpr int kAttempts = 100;  // about 4 s in all
  for (int attempt = 1;; ++attempt) {
    try {
      database.execute("PRAGMA journal_mode = WAL;");
      return;
    } catch (const Error&) {
      if (sqlite3_errcode(database.native()) != SQLITE_BUSY || attempt == kAttempts)
        throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + attempt % 20));
  }
}

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::string& path) {
  // Nothing secret is stored, but nothing is anybody else's business either.
  const mode_t previous = ::umask(077);
  try {
    store::Database database = store::Database::open(path, store::OpenMode::ReadWriteCreate);
    ::umask(previous);
    use_wal(database);
    return std::make_unique<SqliteConnection>(std::move(database));
  } catch (...) {
    ::umask(previous);
    throw;
  }
}

}  // namespace mailseal::service::sql
