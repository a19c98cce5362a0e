// The prepared statements a connection keeps (store::Database::prepare): the
// same SQL used again gets the kept statement back, reset and without its
// bindings; a use nested in another's rows gets its own; a kept statement
// sees what another connection changed, schema and user_version included.
// "Kept" is counted with sqlite3_next_stmt, SQLite's own list of a
// connection's statements.

#include <malloc.h>
#include <sqlite3.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/store/sqlite.h"
#include "mailseal/store/store_error.h"
#include "scratch.h"

namespace mailseal::store {
namespace {

using test::ScratchDirectory;

constexpr std::string_view kValueOf = "SELECT value FROM items WHERE id = ?1";

// The statements SQLite holds for the connection, kept or in use.
std::size_t statements_of(const Database& database) {
  std::size_t count = 0;
  for (sqlite3_stmt* statement = sqlite3_next_stmt(database.native(), nullptr); statement != nullptr;
       statement = sqlite3_next_stmt(database.native(), statement)) {
    ++count;
  }
  return count;
}

class KeptStatements : public ::testing::Test {
 protected:
  void SetUp() override {
    database_.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO items (id, value) VALUES (1, 'one'), (2, 'two'), (3, 'three');");
  }

  std::string value_of(std::int64_t id) {
    auto statement = database_.prepare(kValueOf);
    statement.bind(1, id);
    return statement.step() ? statement.column_text(0) : std::string("(none)");
  }

  ScratchDirectory scratch_;
  Database database_ = Database::open(scratch_ / "kept.db", OpenMode::ReadWriteCreate);
};

TEST_F(KeptStatements, TheSameSqlGetsTheKeptStatementBack) {
  const std::size_t before = statements_of(database_);
  EXPECT_EQ(value_of(1), "one");
  EXPECT_EQ(statements_of(database_), before + 1) << "kept after its use";
  EXPECT_EQ(value_of(2), "two");
  EXPECT_EQ(value_of(3), "three");
  EXPECT_EQ(statements_of(database_), before + 1) << "used again, not prepared again";
}

TEST_F(KeptStatements, AKeptStatementComesBackResetWithoutItsBindings) {
  {
    auto statement = database_.prepare("SELECT ?1");
    statement.bind(1, std::string_view("left behind"));
    ASSERT_TRUE(statement.step());
    EXPECT_EQ(statement.column_text(0), "left behind");
  }
  auto statement = database_.prepare("SELECT ?1");
  ASSERT_TRUE(statement.step()) << "reset: it runs from the start";
  EXPECT_TRUE(statement.column_is_null(0)) << "the earlier binding was cleared";
}

TEST_F(KeptStatements, AStatementLeftMidRowsReleasesItsRead) {
  {
    auto all = database_.prepare("SELECT id FROM items ORDER BY id");
    ASSERT_TRUE(all.step()) << "left after its first row, a read still open";
  }
  Database other = Database::open(scratch_ / "kept.db", OpenMode::ReadWrite);
  Transaction writing(other);  // BEGIN IMMEDIATE, then the commit needs no reader left
  other.prepare("UPDATE items SET value = 'uno' WHERE id = 1").run();
  EXPECT_NO_THROW(writing.commit());
  EXPECT_EQ(value_of(1), "uno");
}

TEST_F(KeptStatements, TheSameSqlNestedInItsOwnRowsGetsAStatementOfItsOwn) {
  const std::size_t before = statements_of(database_);
  std::vector<std::string> pairs;
  auto outer = database_.prepare(kValueOf);
  for (std::int64_t id = 1; id <= 3; ++id) {
    outer.bind(1, id);
    ASSERT_TRUE(outer.step());
    // The same SQL while `outer` holds a row: had it been handed `outer`,
    // the row read below would be the inner one's.
    auto inner = database_.prepare(kValueOf);
    inner.bind(1, 4 - id);
    ASSERT_TRUE(inner.step());
    pairs.push_back(outer.column_text(0) + "/" + inner.column_text(0));
    EXPECT_FALSE(inner.step());
    EXPECT_FALSE(outer.step());
    outer.reset();
  }
  EXPECT_EQ(pairs, (std::vector<std::string>{"one/three", "two/two", "three/one"}));
  EXPECT_EQ(statements_of(database_), before + 2) << "the inner one kept and used again";
}

TEST_F(KeptStatements, AKeptStatementSeesAnotherConnectionsSchemaChange) {
  EXPECT_EQ(value_of(2), "two");
  const std::size_t kept = statements_of(database_);
  {
    // Another process rebuilds the table, columns in another order: the kept
    // statement's compiled column numbers are stale.
    Database other = Database::open(scratch_ / "kept.db", OpenMode::ReadWrite);
    other.execute(
        "DROP TABLE items;"
        "CREATE TABLE items (value TEXT NOT NULL, note TEXT, id INTEGER PRIMARY KEY);"
        "INSERT INTO items (value, note, id) VALUES ('deux', 'rebuilt', 2);");
  }
  EXPECT_EQ(value_of(2), "deux") << "SQLite prepared the kept statement again by itself";
  EXPECT_EQ(value_of(1), "(none)");
  EXPECT_EQ(statements_of(database_), kept) << "the same statement, not a new one";
}

TEST_F(KeptStatements, AKeptStatementWhoseTableWentAwayFailsWithTheReason) {
  EXPECT_EQ(value_of(1), "one");
  Database other = Database::open(scratch_ / "kept.db", OpenMode::ReadWrite);
  other.execute("DROP TABLE items;");
  try {
    value_of(1);
    FAIL() << "a statement over a dropped table ran";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("no such table"), std::string::npos) << error.what();
  }
}

TEST_F(KeptStatements, TheUserVersionIsReadAfreshEveryTime) {
  // LocalStore::still_current reads it through a kept "PRAGMA user_version;".
  EXPECT_EQ(database_.user_version(), 0);
  Database other = Database::open(scratch_ / "kept.db", OpenMode::ReadWrite);
  other.set_user_version(7);
  EXPECT_EQ(database_.user_version(), 7);
  other.set_user_version(8);
  EXPECT_EQ(database_.user_version(), 8);
}

TEST_F(KeptStatements, AnotherConnectionsWriteIsSeenThroughAKeptStatement) {
  EXPECT_EQ(value_of(3), "three");
  Database other = Database::open(scratch_ / "kept.db", OpenMode::ReadWrite);
  other.prepare("UPDATE items SET value = 'drei' WHERE id = 3").run();
  EXPECT_EQ(value_of(3), "drei");
}

TEST_F(KeptStatements, AStatementOutlivingItsConnectionIsFinalizedOnItsOwn) {
  // Declared before the connection it comes from, so destroyed after it.
  std::optional<Statement> survivor;
  {
    Database short_lived = Database::open(scratch_ / "kept.db", OpenMode::ReadOnly);
    survivor.emplace(short_lived.prepare(kValueOf));
    survivor->bind(1, std::int64_t{1});
    ASSERT_TRUE(survivor->step());
  }
  EXPECT_EQ(survivor->column_text(0), "one") << "SQLite keeps a closed connection until its last statement ends";
  survivor.reset();  // with AddressSanitizer: no use of the kept statements that went with the connection
}

TEST_F(KeptStatements, AnUnpreparableTextStillFails) {
  EXPECT_THROW(database_.prepare("SELECT value FROM nowhere"), StoreError);
  EXPECT_THROW(database_.prepare("SELEKT 1"), StoreError);
}

// A caller that builds its texts (each one new) is bounded in statements and
// in everything else: past the bound nothing of a text is kept (review gw2:
// each new text left an entry behind, about 160 bytes, for good). Measured
// with mallinfo2, which reports nothing under AddressSanitizer.
TEST_F(KeptStatements, TextsPastTheBoundLeaveNothingBehind) {
  const auto run_texts = [this](int from, int count) {
    for (int n = from; n < from + count; ++n)
      EXPECT_TRUE(database_.prepare("SELECT " + std::to_string(n) + " + 0").step());
  };
  run_texts(0, 1000);  // past the bound: statements kept in all stays at its limit
  const std::size_t kept = statements_of(database_);
  const std::size_t before = mallinfo2().uordblks;
  run_texts(1000, 20000);
  const std::size_t after = mallinfo2().uordblks;
  EXPECT_EQ(statements_of(database_), kept);
  EXPECT_LT(after, before + 256 * 1024) << "grew by " << after - before << " bytes over 20,000 texts";
}

}  // namespace
}  // namespace mailseal::store
