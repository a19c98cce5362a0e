#pragma once
// The owners of libpq's handles (STYLE.md: one owner per C handle type; the
// structure test's owners rule): a connection and a query's result, each
// released only by its deleter (postgres_handles.cc).

#include <memory>

struct pg_conn;
struct pg_result;

namespace mailseal::service::sql {

struct PgFinish {
  void operator()(pg_conn* connection) const noexcept;
};
struct PgClear {
  void operator()(pg_result* result) const noexcept;
};
using PgConnection = std::unique_ptr<pg_conn, PgFinish>;
using PgResult = std::unique_ptr<pg_result, PgClear>;

}  // namespace mailseal::service::sql
