#pragma once
// The owners of libpq's handles (STYLE.md: one owner per C handle type; the
// structure test's owners rule): a connection, a query's result and a
// notification (LISTEN), each released only by its deleter
// (postgres_handles.cc).

#include <memory>

struct pg_conn;
struct pg_result;
struct pgNotify;

namespace mailseal::service::sql {

struct PgFinish {
  void operator()(pg_conn* connection) const noexcept;
};
struct PgClear {
  void operator()(pg_result* result) const noexcept;
};
struct PgFreeNotify {
  void operator()(pgNotify* notification) const noexcept;
};
using PgConnection = std::unique_ptr<pg_conn, PgFinish>;
using PgResult = std::unique_ptr<pg_result, PgClear>;
using PgNotification = std::unique_ptr<pgNotify, PgFreeNotify>;

}  // namespace mailseal::service::sql
