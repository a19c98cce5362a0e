#include "mailseal/store/sqlite.h"

#include <climits>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <sqlite3.h>

#include "mailseal/common/error.h"
#include "mailseal/store/store_error.h"

namespace mailseal::store {

namespace {

// A busy database (another mailseal process) is waited for, not failed.
constexpr int kBusyTimeoutMs = 5000;

[[noreturn]] void fail(sqlite3* database, std::string_view what) {
  int code = database ? sqlite3_errcode(database) : SQLITE_ERROR;
  std::string message = database ? sqlite3_errmsg(database) : "out of memory";
  ErrorCode error = ErrorCode::Io;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    error = ErrorCode::Malformed;
  } else if (code == SQLITE_CONSTRAINT) {
    error = ErrorCode::AlreadyExists;
  } else if (code == SQLITE_CANTOPEN) {
    error = ErrorCode::NotFound;
  }
  throw StoreError(error, fmt::format("{}: {}", what, message));
}

}  // namespace

// Statements kept for reuse by their SQL text: preparing one cost 8% of the
// gateway's instructions a message (bench/smime_profile.md, "Prepared
// statements kept"). A statement in use is taken out, so the same SQL used
// again while an earlier use is still stepping (a query in another's rows)
// gets a statement of its own. Thread-safe: a connection (FULLMUTEX) may be
// shared between threads.
class PreparedStatements {
 public:
  PreparedStatements(const PreparedStatements&) = delete;
  PreparedStatements& operator=(const PreparedStatements&) = delete;
  PreparedStatements() = default;

  // A kept statement for `sql`, or null when none is free.
  StatementHandle take(std::string_view sql) {
    std::lock_guard lock(mutex_);
    auto found = free_.find(sql);
    if (found == free_.end() || found->second.empty()) {
      return nullptr;
    }
    StatementHandle statement = std::move(found->second.back());
    found->second.pop_back();
    --kept_;
    if (found->second.empty())
      free_.erase(found);  // no text stays without a statement (the bound below counts statements)
    return statement;
  }

  // Kept reset (no read left open) and with its bindings cleared, unless as
  // many are kept already; else finalized.
  void give_back(StatementHandle statement) noexcept {
    // sqlite3_reset returns the last step's error, which was the user's
    // to see; the statement is reset whatever it returns.
    sqlite3_reset(statement.get());
    sqlite3_clear_bindings(statement.get());
    try {
      std::lock_guard lock(mutex_);
      if (kept_ >= kKeptInAll)
        return;  // finalized: no entry is made for its text either (review gw2)
      auto& same_text = free_[sqlite3_sql(statement.get())];
      if (same_text.size() < kKeptPerText) {
        same_text.push_back(std::move(statement));
        ++kept_;
      }
    } catch (...) {
      // Not kept (out of memory): finalized with its handle.
    }
  }

 private:
  // Several for one text: nested uses of the same query.
  static constexpr std::size_t kKeptPerText = 4;
  // The SQL texts are the code's own constants; the bound is against a
  // caller that builds texts (lists of placeholders) growing a connection.
  static constexpr std::size_t kKeptInAll = 256;
  std::mutex mutex_;
  std::map<std::string, std::vector<StatementHandle>, std::less<>> free_;
  std::size_t kept_ = 0;
};

Statement::Statement(sqlite3* database, StatementHandle statement, std::weak_ptr<PreparedStatements> home)
    : database_(database), statement_(std::move(statement)), home_(std::move(home)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    go_home();
    database_ = other.database_;
    statement_ = std::move(other.statement_);
    home_ = std::move(other.home_);
  }
  return *this;
}

Statement::~Statement() {
  go_home();
}

void Statement::go_home() noexcept {
  if (!statement_) {
    return;
  }
  if (auto home = home_.lock()) {
    home->give_back(std::move(statement_));
  }
  statement_.reset();
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(statement_.get(), index, value) != SQLITE_OK) {
    fail(database_, "cannot bind a value");
  }
  return *this;
}

Statement& Statement::bind(int index, TimePoint time) {
  return bind(index, to_unix_seconds(time));
}

Statement& Statement::bind(int index, std::string_view text) {
  if (text.size() > static_cast<std::size_t>(INT_MAX) ||
      sqlite3_bind_text(statement_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) !=
          SQLITE_OK) {
    fail(database_, "cannot bind a value");
  }
  return *this;
}

Statement& Statement::bind(int index, ByteView blob) {
  if (blob.size() > static_cast<std::size_t>(INT_MAX) ||
      sqlite3_bind_blob(statement_.get(), index, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT) !=
          SQLITE_OK) {
    fail(database_, "cannot bind a value");
  }
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(statement_.get(), index) != SQLITE_OK) {
    fail(database_, "cannot bind a value");
  }
  return *this;
}

bool Statement::step() {
  int result = sqlite3_step(statement_.get());
  if (result == SQLITE_ROW) {
    return true;
  }
  if (result == SQLITE_DONE) {
    return false;
  }
  fail(database_, "database statement failed");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(statement_.get(), index);
}

TimePoint Statement::column_time(int index) const {
  return from_unix_seconds(column_int(index));
}

std::string Statement::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(statement_.get(), index);
  int size = sqlite3_column_bytes(statement_.get(), index);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)) : std::string();
}

Bytes Statement::column_blob(int index) const {
  const void* blob = sqlite3_column_blob(statement_.get(), index);
  int size = sqlite3_column_bytes(statement_.get(), index);
  const auto* bytes = static_cast<const std::uint8_t*>(blob);
  return blob ? Bytes(bytes, bytes + size) : Bytes();
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(statement_.get(), index) == SQLITE_NULL;
}

Database::Database(sqlite3* database) : database_(database), statements_(std::make_shared<PreparedStatements>()) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    // The kept statements are finalized before their connection closes.
    statements_ = std::move(other.statements_);
    database_ = std::move(other.database_);
  }
  return *this;
}

Database::~Database() = default;

Database Database::open(const std::filesystem::path& path, OpenMode mode) {
  int flags = SQLITE_OPEN_FULLMUTEX;
  switch (mode) {
    case OpenMode::ReadWrite:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case OpenMode::ReadWriteCreate:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
    case OpenMode::ReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
  }
  sqlite3* raw = nullptr;
  int result = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database database(raw);
  if (result != SQLITE_OK) {
    fail(raw, fmt::format("cannot open the database {}", path.string()));
  }
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  sqlite3_extended_result_codes(raw, 0);
  database.execute("PRAGMA foreign_keys = ON;");
  return database;
}

Statement Database::prepare(std::string_view sql) {
  if (StatementHandle kept = statements_->take(sql)) {
    return Statement(database_.get(), std::move(kept), statements_);
  }
  if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
    throw StoreError(ErrorCode::Internal, "a database statement's text is too long");
  }
  sqlite3_stmt* raw = nullptr;
  const char* rest = nullptr;
  // PERSISTENT: SQLite's hint that the statement is kept for long.
  if (sqlite3_prepare_v3(database_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                         &rest) != SQLITE_OK) {
    fail(database_.get(), "cannot prepare a database statement");
  }
  StatementHandle statement(raw);
  // A text of several statements runs only its first; sqlite3_sql names only
  // that first, so it could never be found again under the text asked for.
  const bool whole_text = rest == sql.data() + sql.size();
  return Statement(database_.get(), std::move(statement),
                   whole_text ? std::weak_ptr<PreparedStatements>(statements_) : std::weak_ptr<PreparedStatements>());
}

void Database::execute(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int status = sqlite3_exec(database_.get(), text.c_str(), nullptr, nullptr, &message);
  SqliteString owned_message(message);
  if (status != SQLITE_OK) {
    fail(database_.get(), fmt::format("database statement failed ({})", message ? message : "unknown error"));
  }
}

std::int64_t Database::user_version() {
  auto statement = prepare("PRAGMA user_version;");
  return statement.step() ? statement.column_int(0) : 0;
}

void Database::set_user_version(std::int64_t version) {
  execute(fmt::format("PRAGMA user_version = {};", version));
}

int Database::changes() const {
  return sqlite3_changes(database_.get());
}

std::int64_t Database::last_insert_id() const {
  return sqlite3_last_insert_rowid(database_.get());
}

ReadSnapshot::ReadSnapshot(Database& database) : database_(database) {
  if (sqlite3_get_autocommit(database_.native()) != 0) {
    database_.execute("BEGIN DEFERRED;");
    owned_ = true;
  }
}

ReadSnapshot::~ReadSnapshot() {
  if (owned_) {
    try {
      database_.execute("COMMIT;");
    } catch (...) {
      // Nothing was written; the connection ends the transaction when it closes.
    }
  }
}

Transaction::Transaction(Database& database) : database_(database) {
  nested_ = sqlite3_get_autocommit(database_.native()) == 0;
  database_.execute(nested_ ? "SAVEPOINT mailseal_nested;" : "BEGIN IMMEDIATE;");
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      database_.execute(nested_ ? "ROLLBACK TO mailseal_nested; RELEASE mailseal_nested;" : "ROLLBACK;");
    } catch (...) {
      // A failed rollback leaves SQLite to roll back when the connection closes.
    }
  }
}

void Transaction::commit() {
  database_.execute(nested_ ? "RELEASE mailseal_nested;" : "COMMIT;");
  done_ = true;
}

void warm_up() {
  if (const int result = sqlite3_initialize(); result != SQLITE_OK)
    throw Error(ErrorCode::Io, fmt::format("SQLite cannot start: {}", sqlite3_errstr(result)));
}

}  // namespace mailseal::store
