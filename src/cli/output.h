#pragma once
// How the mailseal command talks: JSON documents on stdout for programs,
// text for people, diagnostics on stderr as "mailseal: error: ...".

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/time.h"

namespace mailseal::cli {

// Version of every JSON document's layout (STYLE.md: versioned JSON).
inline constexpr int kJsonSchemaVersion = 1;

// Prints one JSON document (with schema_version) on stdout.
void print_json(nlohmann::json document);

// Unix seconds as an ISO 8601 UTC timestamp: "2026-11-27T13:04:24Z".
std::string iso_time(TimePoint time);

void print_line(std::string_view text);
void print_error(std::string_view message, std::string_view hint = {});
void print_warning(std::string_view message);
void print_hint(std::string_view message);
// An informative line on stderr ("mailseal: ...").
void print_note(std::string_view message);

// Writes to a file (atomically, with `mode`), or to stdout for "" or "-".
void write_output(const std::string& output, ByteView contents, FileMode mode);

// An address given on the command line; Error(Usage) when it is not one.
EmailAddress parse_address_argument(std::string_view text);

// Exit status for an error (DESIGN.md section 8: 2 for usage, 1 otherwise).
int exit_status_for(const Error& error) noexcept;

}  // namespace mailseal::cli
