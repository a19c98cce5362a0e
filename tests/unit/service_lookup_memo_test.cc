// The key service's lookups from memory (service/internal/lookup_memo.h):
// used only while the listener is connected, forgotten by address and by
// profile, and never keeping an answer read before a change whose
// notification was processed first. tests/service/lookup_memo_postgres.py
// tries the same against PostgreSQL with two processes.

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "scratch.h"
#include "service/internal/lookup_memo.h"
#include "service/internal/sql.h"

namespace mailseal::service {
namespace {

const std::string kAlice = "alice@example.com";
const std::string kAlias = "al@example.com";
const std::string kBob = "bob@example.com";

TEST(LookupMemo, IsNotUsedUntilTheListenerIsConnected) {
  LookupMemo memo;
  EXPECT_FALSE(memo.ticket());
  EXPECT_FALSE(memo.keep(kAlice, "A", LookupMemo::Ticket{0}, "answer"));
  EXPECT_FALSE(memo.find(kAlice));
  memo.connected();
  auto ticket = memo.ticket();
  ASSERT_TRUE(ticket);
  EXPECT_TRUE(memo.keep(kAlice, "A", *ticket, "answer"));
  EXPECT_EQ(memo.find(kAlice), "answer");
}

TEST(LookupMemo, LosingTheListenerForgetsEverythingAndStopsTheMemo) {
  LookupMemo memo;
  memo.connected();
  ASSERT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), "answer"));
  auto before = memo.ticket();
  memo.disconnected();
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_FALSE(memo.ticket());
  // A lookup that began before the loss does not keep its answer after it,
  // nor after the listener is back (a change may have gone unheard).
  EXPECT_FALSE(memo.keep(kBob, "B", *before, "bob"));
  memo.connected();
  EXPECT_FALSE(memo.keep(kBob, "B", *before, "bob"));
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_EQ(memo.size(), 0u);
  EXPECT_TRUE(memo.keep(kBob, "B", *memo.ticket(), "bob"));
}

TEST(LookupMemo, AnAddressNotificationForgetsThatAddressOnly) {
  LookupMemo memo;
  memo.connected();
  ASSERT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), "alice"));
  ASSERT_TRUE(memo.keep(kBob, "B", *memo.ticket(), "bob"));
  memo.notified(LookupMemo::address_payload(kAlice));
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_EQ(memo.find(kBob), "bob");
}

TEST(LookupMemo, AProfileNotificationForgetsEveryAddressServedFromIt) {
  LookupMemo memo;
  memo.connected();
  ASSERT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), "alice"));
  ASSERT_TRUE(memo.keep(kAlias, "A", *memo.ticket(), "alias"));
  ASSERT_TRUE(memo.keep(kBob, "B", *memo.ticket(), "bob"));
  memo.notified(LookupMemo::account_payload("A"));
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_FALSE(memo.find(kAlias));
  EXPECT_EQ(memo.find(kBob), "bob");
  // An address that moved to another profile is forgotten under its new one.
  ASSERT_TRUE(memo.keep(kAlice, "B", *memo.ticket(), "alice from B"));
  memo.notified(LookupMemo::account_payload("A"));
  EXPECT_EQ(memo.find(kAlice), "alice from B");
  memo.notified(LookupMemo::account_payload("B"));
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_FALSE(memo.find(kBob));
  EXPECT_EQ(memo.size(), 0u);
}

// The race the ticket closes: a lookup reads the old state, a change
// commits and its notification is processed, then the lookup keeps what it
// read. Without the ticket the old answer would stay until the next change.
TEST(LookupMemo, AnAnswerReadBeforeAProcessedChangeIsNotKept) {
  LookupMemo memo;
  memo.connected();
  auto ticket = memo.ticket();
  memo.notified(LookupMemo::address_payload(kBob));  // any change, even another address's
  EXPECT_FALSE(memo.keep(kAlice, "A", *ticket, "old alice"));
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), "new alice"));
  EXPECT_EQ(memo.find(kAlice), "new alice");
}

TEST(LookupMemo, AnUnknownPayloadForgetsEverything) {
  LookupMemo memo;
  memo.connected();
  ASSERT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), "alice"));
  ASSERT_TRUE(memo.keep(kBob, "B", *memo.ticket(), "bob"));
  memo.notified("something newer");
  EXPECT_EQ(memo.size(), 0u);
  EXPECT_TRUE(memo.in_use());
}

TEST(LookupMemo, KeepingAgainReplacesTheAnswerAndItsProfile) {
  LookupMemo memo;
  memo.connected();
  ASSERT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), "first"));
  ASSERT_TRUE(memo.keep(kAlice, "B", *memo.ticket(), "second"));
  EXPECT_EQ(memo.size(), 1u);
  memo.notified(LookupMemo::account_payload("A"));
  EXPECT_EQ(memo.find(kAlice), "second");
}

TEST(LookupMemo, IsEmptiedBeyondItsBound) {
  LookupMemo memo;
  memo.connected();
  const std::string big(LookupMemo::kMaxBytes / 2 + 1, 'x');
  ASSERT_TRUE(memo.keep(kAlice, "A", *memo.ticket(), big));
  ASSERT_TRUE(memo.keep(kBob, "B", *memo.ticket(), big));
  EXPECT_FALSE(memo.find(kAlice));
  EXPECT_EQ(memo.size(), 1u);
}

// A transaction's notifications go with its COMMIT, in its round trip
// (sql.h, notify_at_commit). SQLite has no pg_notify, so a notification that
// goes with a COMMIT fails it there: that shows where it went.
TEST(LookupNotifications, GoWithTheCommitAndAreDroppedWhenTheTransactionRollsBack) {
  test::ScratchDirectory scratch;
  auto connection = sql::open_sqlite((scratch / "service.db").string());
  connection->execute("CREATE TABLE changes (n INTEGER);");
  {
    sql::Transaction rolled_back(*connection);
    connection->notify_at_commit("mailseal_lookups", "address alice@example.com");
  }
  {
    sql::Transaction transaction(*connection);
    connection->run("INSERT INTO changes VALUES (1)");
    EXPECT_NO_THROW(transaction.commit());  // the rolled-back transaction's notification is not sent
  }
  {
    sql::Transaction transaction(*connection);
    connection->run("INSERT INTO changes VALUES (2)");
    connection->notify_at_commit("mailseal_lookups", "address o'brien@example.com");
    EXPECT_THROW(transaction.commit(), Error);  // sent with the COMMIT, which then did not happen
  }
  auto rows = connection->query("SELECT count(*) FROM changes");
  ASSERT_TRUE(rows->next());
  EXPECT_EQ(rows->integer(0), 1);
}

TEST(LookupNotifications, ChannelsAreLettersDigitsAndUnderscoresOnly) {
  test::ScratchDirectory scratch;
  auto connection = sql::open_sqlite((scratch / "service.db").string());
  sql::Transaction transaction(*connection);
  EXPECT_THROW(connection->notify_at_commit("mailseal_lookups'); DROP TABLE accounts; --", "x"), Error);
  EXPECT_THROW(connection->notify_at_commit("", "x"), Error);
}

}  // namespace
}  // namespace mailseal::service
