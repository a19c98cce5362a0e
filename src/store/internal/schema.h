#pragma once

#include "mailseal/store/sqlite.h"

namespace mailseal::store::internal {

// Creates the tables of schema version kSchemaVersion in an empty database.
void create_schema(Database& database);

// Checks that an existing database has a schema this build understands
// (migrating older versions when there are any); throws Error otherwise.
void check_schema(Database& database);

}  // namespace mailseal::store::internal
