#pragma once
// A thin RAII layer over SQLite 3: one owner per handle, prepared statements
// with bound parameters only (never SQL built from input), transactions that
// roll back unless committed.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mailseal::store {

struct SqliteClose {
  void operator()(sqlite3* database) const noexcept;
};
struct SqliteFinalize {
  void operator()(sqlite3_stmt* statement) const noexcept;
};
// Memory SQLite allocated (an error message of sqlite3_exec).
struct SqliteFree {
  void operator()(char* memory) const noexcept;
};
using SqliteString = std::unique_ptr<char, SqliteFree>;
using StatementHandle = std::unique_ptr<sqlite3_stmt, SqliteFinalize>;

class Database;
// The prepared statements a connection keeps for its SQL texts (sqlite.cc).
class PreparedStatements;

// A prepared statement; Database::prepare makes them. When it ends it goes
// back to its connection's kept statements, reset and with no binding left.
class Statement {
 public:
  Statement(Statement&& other) noexcept = default;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in SQL "?1".
  Statement& bind(int index, std::int64_t value);
  // A point in time is kept as Unix seconds (INTEGER).
  Statement& bind(int index, TimePoint time);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, ByteView blob);
  Statement& bind_null(int index);

  // Advances; true while a row is available.
  bool step();
  // Runs a statement that returns no rows.
  void run();
  void reset();

  std::int64_t column_int(int index) const;
  TimePoint column_time(int index) const;
  std::string column_text(int index) const;
  Bytes column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  friend class Database;
  Statement(sqlite3* database, StatementHandle statement, std::weak_ptr<PreparedStatements> home);
  // To the connection's kept statements, or finalized when it has closed.
  void go_home() noexcept;

  sqlite3* database_;
  StatementHandle statement_;
  // Weak: a statement still in use when its connection closes is finalized
  // on its own instead of going back.
  std::weak_ptr<PreparedStatements> home_;
};

enum class OpenMode { ReadWrite, ReadWriteCreate, ReadOnly };

class Database {
 public:
  static Database open(const std::filesystem::path& path, OpenMode mode);
  Database(Database&& other) noexcept = default;
  Database& operator=(Database&& other) noexcept;
  ~Database();

  // The statement for `sql`: one this connection kept from an earlier use
  // when there is one not in use (SQLite prepares it again by itself if the
  // schema changed since), else a new one.
  Statement prepare(std::string_view sql);
  // Runs one or more statements without parameters (schema definitions).
  void execute(std::string_view sql);

  std::int64_t user_version();
  void set_user_version(std::int64_t version);
  std::int64_t last_insert_id() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int changes() const;

  sqlite3* native() const noexcept { return database_.get(); }

 private:
  explicit Database(sqlite3* database);
  // Declared after the connection, so destroyed (finalized) before it closes.
  std::unique_ptr<sqlite3, SqliteClose> database_;
  std::shared_ptr<PreparedStatements> statements_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() ran.
// A read transaction: the queries inside see one snapshot and take the file
// lock once (not once per statement). Nothing when a transaction is open.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Database& database);
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot();

 private:
  Database& database_;
  bool owned_ = false;
};

// A transaction, or a savepoint within the enclosing one: what a function
// writes stays atomic whether or not its caller already opened a transaction.
class Transaction {
 public:
  explicit Transaction(Database& database);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& database_;
  bool nested_ = false;
  bool done_ = false;
};

// Initializes SQLite now rather than at the first store opened (the
// resident process, once for every command it forks).
void warm_up();

}  // namespace mailseal::store
