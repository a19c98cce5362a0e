#pragma once
// The key service's SQL connection (docs/service.md, "Back ends"): one
// interface over SQLite (store::Database) and PostgreSQL (libpq), so that
// storage.cc writes each statement once. Statements are written in the
// subset both understand: parameters as ?1, ?2 (rewritten to $1, $2 for
// PostgreSQL), ON CONFLICT ... DO NOTHING / DO UPDATE, RETURNING. Only
// bound parameters, never SQL built from input.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/time.h"

namespace mailseal::service::sql {

enum class Dialect { Sqlite, Postgres };

// A bound parameter: NULL, an integer (a point in time is Unix seconds),
// text or bytes.
class Value {
 public:
  Value(std::nullopt_t) {}  // NOLINT: implicit, as in run("...", {a, std::nullopt})
  Value(std::int64_t integer) : value_(integer) {}
  Value(TimePoint time) : value_(to_unix_seconds(time)) {}
  Value(std::string_view text) : value_(std::string(text)) {}
  Value(const std::string& text) : value_(text) {}
  Value(const char* text) : value_(std::string(text)) {}
  Value(ByteView bytes) : value_(Bytes(bytes.begin(), bytes.end())) {}
  Value(const Bytes& bytes) : value_(bytes) {}
  Value(const std::optional<std::string>& text) {
    if (text)
      value_ = *text;
  }
  Value(const std::optional<Bytes>& bytes) {
    if (bytes)
      value_ = *bytes;
  }

  const std::variant<std::monostate, std::int64_t, std::string, Bytes>& get() const noexcept { return value_; }

 private:
  std::variant<std::monostate, std::int64_t, std::string, Bytes> value_;
};

using Values = std::initializer_list<Value>;

// The rows a query returns, read one at a time; columns from 0.
class Rows {
 public:
  virtual ~Rows() = default;
  // Advances; true while a row is available.
  virtual bool next() = 0;
  virtual std::int64_t integer(int column) const = 0;
  virtual std::string text(int column) const = 0;
  virtual Bytes blob(int column) const = 0;
  virtual bool is_null(int column) const = 0;
  TimePoint time(int column) const { return from_unix_seconds(integer(column)); }
};

// Turns to write, for the SQLite connections of one process: each turn
// begins once every turn asked for before it has ended, in the order they
// were asked for (a ticket lock). A std::mutex is not fair: a writer that
// hands on and asks again at once usually takes it back ahead of those
// waiting, so one writer could wait behind many later ones.
class WriteTurns {
 public:
  // A turn, held from take() until it ends or is destroyed: it is always
  // handed on, whatever happened while it was held.
  class Turn {
   public:
    Turn() noexcept = default;
    Turn(Turn&& other) noexcept : turns_(std::exchange(other.turns_, nullptr)) {}
    Turn& operator=(Turn&& other) noexcept;
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    ~Turn() { end(); }
    bool held() const noexcept { return turns_ != nullptr; }
    // Hands the turn on to the next one asked for; nothing if not held.
    void end() noexcept;

   private:
    friend class WriteTurns;
    explicit Turn(WriteTurns& turns) noexcept : turns_(&turns) {}
    WriteTurns* turns_ = nullptr;
  };

  // Waits until every turn asked for before has ended.
  Turn take();
  // Turns asked for that have not ended, the one held included (tests see
  // that a writer has queued).
  std::size_t queued() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable handed_on_;
  std::uint64_t next_ = 0;     // the ticket of the next turn asked for
  std::uint64_t serving_ = 0;  // the ticket whose turn it is
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const noexcept = 0;
  virtual std::unique_ptr<Rows> query(std::string_view sql, Values values = {}) = 0;
  // A statement that returns no rows; the rows it changed.
  virtual int run(std::string_view sql, Values values = {}) = 0;
  // Statements without parameters, one or more (schema definitions,
  // transaction control).
  virtual void execute(std::string_view script) = 0;
  // False once the connection is lost (the server went away): the pool
  // drops it rather than handing it out again.
  virtual bool healthy() const noexcept = 0;
  // PostgreSQL's notifications to the channels this connection LISTENs to
  // (channel, payload), waiting up to `milliseconds` for the first when
  // none is there; none on SQLite. And the server process's id.
  struct Notification {
    std::string channel;
    std::string payload;
  };
  virtual std::vector<Notification> notifications(int /*milliseconds*/) { return {}; }
  virtual std::int64_t backend_pid() const noexcept { return 0; }

  // What a SELECT inside a transaction appends to lock the rows it reads
  // until the transaction ends: PostgreSQL's FOR UPDATE; nothing for SQLite,
  // whose transactions (BEGIN IMMEDIATE) hold the database's one write lock.
  std::string_view lock_rows() const noexcept { return dialect() == Dialect::Postgres ? " FOR UPDATE" : ""; }

  // PostgreSQL's NOTIFY of `payload` on `channel` (letters, digits, '_'),
  // sent with the outermost transaction's COMMIT, in its round trip (a
  // statement of its own costs one more round trip while the transaction
  // holds its row locks); sent now outside a transaction. Dropped when the
  // transaction rolls back; a savepoint rolled back keeps what it queued (a
  // notification for nothing only makes listeners forget more).
  void notify_at_commit(std::string_view channel, std::string_view payload);

  // SQLite: the connections of one process that share `turns` take a turn
  // before BEGIN IMMEDIATE (the outermost Transaction only), so that their
  // writers queue in the process in the order they came, each woken as the
  // one before ends, rather than in SQLite's busy handler, which sleeps up
  // to 100 ms between tries. A thread holding a turn must not wait for
  // another connection of the same pool: the connections' holders could be
  // waiting for its turn.
  void share_write_turns(std::shared_ptr<WriteTurns> turns) { write_turns_ = std::move(turns); }

 private:
  friend class Transaction;
  friend class ReadSnapshot;
  int depth_ = 0;          // open transactions and savepoints
  std::string at_commit_;  // statements sent with the outermost COMMIT
  std::shared_ptr<WriteTurns> write_turns_;
};

// A transaction, or a savepoint within the enclosing one: what a function
// writes stays atomic whether or not its caller opened a transaction. Rolls
// back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& connection_;
  int level_;
  bool done_ = false;
  WriteTurns::Turn turn_;  // SQLite: from before BEGIN IMMEDIATE until after its COMMIT or ROLLBACK
};

// Reads that see one state of the database. On SQLite a deferred
// transaction: the queries inside take the file's read lock once, not once
// each. On PostgreSQL nothing (each statement reads its own snapshot; a
// transaction would cost two round trips). Nothing inside a transaction.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Connection& connection);
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot();

 private:
  Connection& connection_;
  bool owned_ = false;
};

// True for a database named by a PostgreSQL connection URI
// (postgresql://... or postgres://...); anything else is a SQLite file.
bool is_postgres(std::string_view database) noexcept;

// Opens a SQLite file (made if absent, readable by its owner only, WAL).
std::unique_ptr<Connection> open_sqlite(const std::string& path);
// Connects to PostgreSQL; Error(Io) with libpq's reason if it cannot.
std::unique_ptr<Connection> open_postgres(const std::string& uri);

}  // namespace mailseal::service::sql
