// The SQLite writers of one key-service process take turns in the order they
// came (service/internal/sql.h, WriteTurns): the turns themselves, and the
// service's transactions on SQLite files that share them. No test here
// measures time: the order is seen through the turns' queue (queued()) and
// what each writer records while it holds its turn.

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "scratch.h"
#include "service/internal/sql.h"

namespace mailseal::service {
namespace {

// Until `turns` has `count` turns asked for and not ended: a thread started
// before has queued. Yields rather than sleeps; no time limit (CTest's is the
// deadlock guard).
void wait_until_queued(const sql::WriteTurns& turns, std::size_t count) {
  while (turns.queued() != count)
    std::this_thread::yield();
}

// What the writers record, each while it holds its turn.
class Record {
 public:
  void add(const std::string& entry) {
    std::lock_guard lock(mutex_);
    entries_.push_back(entry);
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

TEST(WriteTurns, AreTakenInTheOrderAskedFor) {
  sql::WriteTurns turns;
  Record record;
  sql::WriteTurns::Turn first = turns.take();
  std::vector<std::thread> writers;
  for (int n = 1; n <= 5; ++n) {
    writers.emplace_back([&turns, &record, n] {
      sql::WriteTurns::Turn turn = turns.take();
      record.add(std::to_string(n));
    });
    wait_until_queued(turns, static_cast<std::size_t>(n) + 1);  // writer n waits before n + 1 starts
  }
  first.end();
  for (auto& writer : writers)
    writer.join();
  EXPECT_EQ(record.entries(), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(turns.queued(), 0u);
}

// What a std::mutex does not do: a writer that hands on and asks again at
// once goes behind the one already waiting instead of taking it back.
TEST(WriteTurns, AWriterAskingAgainGoesBehindThoseWaiting) {
  sql::WriteTurns turns;
  Record record;
  sql::WriteTurns::Turn mine = turns.take();
  std::thread waiting([&] {
    sql::WriteTurns::Turn turn = turns.take();
    record.add("waiting");
  });
  wait_until_queued(turns, 2);
  for (int round = 0; round < 3; ++round) {
    mine.end();
    mine = turns.take();
    record.add("again");
  }
  mine.end();
  waiting.join();
  EXPECT_EQ(record.entries(), (std::vector<std::string>{"waiting", "again", "again", "again"}));
}

TEST(WriteTurns, AHolderThatThrowsHandsTheTurnOn) {
  sql::WriteTurns turns;
  Record record;
  std::promise<void> holding;
  std::promise<void> go_on;
  std::atomic<bool> caught{false};
  std::thread thrower([&] {
    try {
      sql::WriteTurns::Turn turn = turns.take();
      holding.set_value();
      go_on.get_future().wait();
      record.add("throwing");  // while it holds the turn: the next one cannot have it yet
      throw std::runtime_error("the writer failed");
    } catch (const std::runtime_error&) {
      caught = true;  // the turn was handed on as the exception left its scope
    }
  });
  holding.get_future().wait();
  std::thread next([&] {
    sql::WriteTurns::Turn turn = turns.take();
    record.add("next");
  });
  wait_until_queued(turns, 2);
  go_on.set_value();
  thrower.join();
  next.join();
  EXPECT_TRUE(caught);
  EXPECT_EQ(record.entries(), (std::vector<std::string>{"throwing", "next"}));
  EXPECT_EQ(turns.queued(), 0u);
}

TEST(WriteTurns, AMovedTurnEndsOnce) {
  sql::WriteTurns turns;
  sql::WriteTurns::Turn turn = turns.take();
  sql::WriteTurns::Turn moved = std::move(turn);
  EXPECT_FALSE(turn.held());  // NOLINT(bugprone-use-after-move): what a move leaves is the point
  EXPECT_TRUE(moved.held());
  turn.end();
  EXPECT_EQ(turns.queued(), 1u);
  moved.end();
  moved.end();
  EXPECT_EQ(turns.queued(), 0u);
}

// Connections of one process on one SQLite file, sharing their turns, as
// the service's pool has them (api.cc, Api::Backend).
class SqliteWriteTurnsTest : public ::testing::Test {
 protected:
  std::unique_ptr<sql::Connection> connect() {
    auto connection = sql::open_sqlite((scratch_ / "service.db").string());
    connection->share_write_turns(turns);
    return connection;
  }

  std::int64_t count(sql::Connection& connection, const std::string& table) {
    auto rows = connection.query("SELECT count(*) FROM " + table);
    return rows->next() ? rows->integer(0) : -1;
  }

  test::ScratchDirectory scratch_;
  std::shared_ptr<sql::WriteTurns> turns = std::make_shared<sql::WriteTurns>();
};

// Without a busy timeout, a BEGIN IMMEDIATE that found another connection
// writing would fail at once (SQLITE_BUSY): every transaction commits only
// because the turns keep the writers apart.
TEST_F(SqliteWriteTurnsTest, ConcurrentWritersAllCommitWithoutBusy) {
  constexpr int kWriters = 4;  // the service's pool on SQLite
  constexpr int kTransactions = 50;
  auto setup = connect();
  setup->execute("CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0); CREATE TABLE writes (w, i);");
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto connection = connect();
      connection->execute("PRAGMA busy_timeout = 0;");
      for (int i = 0; i < kTransactions; ++i) {
        try {
          sql::Transaction transaction(*connection);
          auto rows = connection->query("SELECT n FROM counter");
          const std::int64_t n = rows->next() ? rows->integer(0) : -1;
          rows.reset();
          connection->run("UPDATE counter SET n = ?1", {n + 1});
          connection->run("INSERT INTO writes VALUES (?1, ?2)", {std::int64_t{w}, std::int64_t{i}});
          transaction.commit();
        } catch (const Error& error) {
          ++failures;
          std::lock_guard lock(failure_mutex);
          if (first_failure.empty())
            first_failure = error.what();
        }
      }
    });
  }
  for (auto& writer : writers)
    writer.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  auto rows = setup->query("SELECT n FROM counter");
  ASSERT_TRUE(rows->next());
  EXPECT_EQ(rows->integer(0), kWriters * kTransactions);  // no update lost
  EXPECT_EQ(count(*setup, "writes"), kWriters * kTransactions);
  EXPECT_EQ(turns->queued(), 0u);
}

// A writer keeps its turn through the transaction's savepoints: a nested
// Transaction on its connection takes none (it would wait for itself).
TEST_F(SqliteWriteTurnsTest, OnlyTheOutermostTransactionTakesATurn) {
  auto connection = connect();
  connection->execute("CREATE TABLE t (n INTEGER);");
  sql::Transaction outer(*connection);
  EXPECT_EQ(turns->queued(), 1u);
  {
    sql::Transaction inner(*connection);
    EXPECT_EQ(turns->queued(), 1u);
    connection->run("INSERT INTO t VALUES (1)");
    inner.commit();
  }
  {
    sql::Transaction rolled_back(*connection);
    EXPECT_EQ(turns->queued(), 1u);
  }
  EXPECT_EQ(turns->queued(), 1u);
  outer.commit();
  EXPECT_EQ(turns->queued(), 0u);
  EXPECT_EQ(count(*connection, "t"), 1);
}

// BEGIN IMMEDIATE fails on a connection already in a transaction: the turn
// taken for it is handed on, and a writer waiting on another connection
// goes on.
TEST_F(SqliteWriteTurnsTest, ABeginThatFailsHandsTheTurnOn) {
  auto broken = connect();
  auto other = connect();
  other->execute("CREATE TABLE t (n INTEGER);");
  broken->execute("BEGIN;");  // behind the Transaction's back
  EXPECT_THROW(sql::Transaction failing(*broken), Error);
  EXPECT_EQ(turns->queued(), 0u);
  broken->execute("ROLLBACK;");
  sql::Transaction transaction(*other);
  other->run("INSERT INTO t VALUES (1)");
  transaction.commit();
  EXPECT_EQ(count(*other, "t"), 1);
}

// A COMMIT refused (a deferred foreign key still broken) leaves the
// transaction to roll back, and its turn goes to the writer waiting.
TEST_F(SqliteWriteTurnsTest, ACommitThatFailsHandsTheTurnOnToTheWriterWaiting) {
  auto failing = connect();
  failing->execute(
      "PRAGMA foreign_keys = ON;"
      "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
      "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
      "CREATE TABLE t (n INTEGER);");
  Record record;
  std::thread waiting;
  {
    sql::Transaction transaction(*failing);
    failing->run("INSERT INTO child VALUES (7)");  // no parent 7: refused at COMMIT
    waiting = std::thread([&] {
      auto connection = connect();
      connection->execute("PRAGMA busy_timeout = 0;");
      sql::Transaction next(*connection);
      connection->run("INSERT INTO t VALUES (1)");
      next.commit();
      record.add("next committed");
    });
    wait_until_queued(*turns, 2);
    EXPECT_THROW(transaction.commit(), Error);
    record.add("commit refused");
  }
  waiting.join();
  EXPECT_EQ(record.entries(), (std::vector<std::string>{"commit refused", "next committed"}));
  EXPECT_EQ(count(*failing, "child"), 0);  // rolled back
  EXPECT_EQ(count(*failing, "t"), 1);
  EXPECT_EQ(turns->queued(), 0u);
}

// Readers take no turn: while a writer holds its turn with a change not yet
// committed, another connection of the process reads (the state before it).
TEST_F(SqliteWriteTurnsTest, ReadersAreNotBlockedByAWritersTurn) {
  auto writer = connect();
  writer->execute("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);");
  sql::Transaction transaction(*writer);
  writer->run("INSERT INTO t VALUES (2)");
  ASSERT_EQ(turns->queued(), 1u);
  // On another thread, so that a reader waiting for the turn would leave
  // this one free to say so instead of waiting for itself; the 60 s guard
  // is a deadlock's, not a measure.
  auto read = std::async(std::launch::async, [&] {
    auto reader = connect();
    sql::ReadSnapshot snapshot(*reader);
    return count(*reader, "t");
  });
  const bool read_while_writing = read.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  const std::size_t queued_while_writing = turns->queued();
  transaction.commit();  // lets a reader that waited go on, so that the test ends
  EXPECT_TRUE(read_while_writing) << "a reader waited for the writer's turn";
  EXPECT_EQ(queued_while_writing, 1u);
  EXPECT_EQ(read.get(), 1);
  EXPECT_EQ(count(*writer, "t"), 2);
}

}  // namespace
}  // namespace mailseal::service
