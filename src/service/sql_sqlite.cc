// The service's SQL connection over SQLite (store::Database).

#include <sys/stat.h>

#include "mailseal/store/sqlite.h"
#include "service/internal/sql.h"

namespace mailseal::service::sql {

namespace {

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
    bound(sql, values).run();
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

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::string& path) {
  // Nothing secret is stored, but nothing is anybody else's business either.
  const mode_t previous = ::umask(077);
  try {
    store::Database database = store::Database::open(path, store::OpenMode::ReadWriteCreate);
    ::umask(previous);
    database.execute("PRAGMA journal_mode = WAL;");
    return std::make_unique<SqliteConnection>(std::move(database));
  } catch (...) {
    ::umask(previous);
    throw;
  }
}

}  // namespace mailseal::service::sql
