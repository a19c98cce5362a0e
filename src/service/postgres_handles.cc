// The deleters of the libpq owners that service/internal/postgres.h
// declares: the only calls of libpq's release functions.

#include <libpq-fe.h>

#include "service/internal/postgres.h"

namespace mailseal::service::sql {

void PgFinish::operator()(pg_conn* connection) const noexcept {
  PQfinish(connection);
}

void PgClear::operator()(pg_result* result) const noexcept {
  PQclear(result);
}

void PgFreeNotify::operator()(pgNotify* notification) const noexcept {
  PQfreemem(notification);
}

}  // namespace mailseal::service::sql
