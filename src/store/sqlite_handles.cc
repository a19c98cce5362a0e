// The deleters of the SQLite owners that mailseal/store/sqlite.h declares:
// the only calls of SQLite's release functions.

#include <sqlite3.h>

#include "mailseal/store/sqlite.h"

namespace mailseal::store {

void SqliteClose::operator()(sqlite3* database) const noexcept {
  sqlite3_close_v2(database);
}

void SqliteFinalize::operator()(sqlite3_stmt* statement) const noexcept {
  sqlite3_finalize(statement);
}

void SqliteFree::operator()(char* memory) const noexcept {
  sqlite3_free(memory);
}

}  // namespace mailseal::store
