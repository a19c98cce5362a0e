#pragma once
// Trust records (docs/service.md, "Trust records") as `sync`, `status` and
// `trust` report them.

#include <nlohmann/json.hpp>

#include "mailseal/devices/connect.h"

namespace mailseal::cli {

// {"has_key", "written", "uploaded", "merged", "ignored", "refused", "deferred", "conflicts", "restored",
//  "unserved", "overreaching": [{"writer", "seq", "named", "named_seq", "served", "waiting", "verdict"}],
//  "removed_differences": [{"removed", "other", "theirs", "ours"}],
//  "long_waits": [{"writer", "seq", "waiting", "since", "waited_seconds"}]}
nlohmann::json records_json(const devices::RecordsReport& records);
// Notes on stderr; true when anything happened.
bool print_records(const devices::RecordsReport& records);

// {"has_key", "last_sync", "pending_changes", "pending_records", "waiting_logs", "oldest_wait",
//  "conflicts": [{"address", "device_a", "decision_a", "device_b", "decision_b"}]}
nlohmann::json records_status_json(const devices::RecordsStatus& status);
void print_records_status(const devices::RecordsStatus& status);
// "decided differently on DEVICE-A (DECISION) and DEVICE-B (DECISION)", escaped for the terminal.
std::string describe_conflict(const devices::RecordsConflict& conflict);

}  // namespace mailseal::cli
