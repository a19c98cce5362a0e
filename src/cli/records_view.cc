#include "cli/records_view.h"

#include <fmt/format.h>

#include "cli/output.h"
#include "mailseal/common/escape.h"

namespace mailseal::cli {

namespace {

nlohmann::json overreaching_json(const std::vector<devices::OverreachingRecord>& found) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& record : found) {
    out.push_back({{"writer", record.writer.str()},
                   {"seq", record.seq},
                   {"named", record.named.str()},
                   {"named_seq", record.named_seq},
                   {"served", record.served},
                   {"waiting", record.waiting},
                   {"verdict", devices::to_string(record.verdict)},
                   {"problem", record.problem}});
  }
  return out;
}

nlohmann::json removed_differences_json(const std::vector<devices::RemovedDifference>& found) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& difference : found) {
    out.push_back({{"removed", difference.removed.str()},
                   {"other", difference.other.str()},
                   {"theirs", difference.theirs},
                   {"ours", difference.ours}});
  }
  return out;
}

nlohmann::json long_waits_json(const std::vector<devices::LongWait>& found) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& wait : found) {
    out.push_back({{"writer", wait.writer.str()},
                   {"seq", wait.seq},
                   {"waiting", wait.waiting},
                   {"since", iso_time(wait.since)},
                   {"waited_seconds", wait.waited.count()}});
  }
  return out;
}

nlohmann::json past_cut_json(const std::vector<devices::PastCut>& found) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& past : found) {
    out.push_back({{"removed", past.removed.str()},
                   {"cut", past.cut},
                   {"merged", past.merged},
                   {"other_fork", past.other_fork},
                   {"fork_from", past.fork_from},
                   {"taken_back", past.taken_back},
                   {"decide_again", past.decide_again}});
  }
  return out;
}

}  // namespace

nlohmann::json records_json(const devices::RecordsReport& records) {
  nlohmann::json out = {
      {"has_key", records.has_key},         {"written", records.written},   {"uploaded", records.uploaded},
      {"merged", records.merged},           {"ignored", records.ignored},   {"refused", records.refused},
      {"refused_new", records.refused_new}, {"deferred", records.deferred}, {"conflicts", records.conflicts},
      {"restored", records.restored},       {"unserved", records.unserved}};
  out["overreaching"] = overreaching_json(records.overreaching);
  out["removed_differences"] = removed_differences_json(records.removed_differences);
  out["long_waits"] = long_waits_json(records.long_waits);
  out["past_cut"] = past_cut_json(records.past_cut);
  return out;
}

bool print_records(const devices::RecordsReport& records) {
  bool any = false;
  if (records.uploaded > 0 || records.merged > 0) {
    print_note(fmt::format("trust records: {} sent, {} received", records.uploaded, records.merged));
    any = true;
  }
  if (records.restored > 0) {
    print_note(
        fmt::format("trust records: took back {} of this device's own record(s) the service held and this "
                    "store lacked (restored from a backup?)",
                    records.restored));
    any = true;
  }
  if (records.ignored > 0) {
    print_warning(fmt::format("{} decision(s) of read-only devices not taken", records.ignored));
    any = true;
  }
  if (records.refused_new > 0) {
    print_warning(fmt::format("{} trust record(s) of removed devices refused", records.refused_new));
    any = true;
  }
  if (records.deferred > 0) {
    print_note(fmt::format("{} trust record(s) wait for a key bundle from an admin device", records.deferred));
    any = true;
  }
  if (records.unserved > 0) {
    print_warning(
        fmt::format("{} trust record(s) wait: they name a record of a removed device that the key service does not "
                    "serve (it withheld it); they are merged once it does. If this repeats, the key service is not "
                    "to be trusted",
                    records.unserved));
    any = true;
  }
  for (const auto& record : records.overreaching) {
    print_warning(devices::describe_held_back(record));
    any = true;
  }
  for (const auto& difference : records.removed_differences) {
    print_warning(devices::describe_removed_difference(difference));
    any = true;
  }
  for (const auto& wait : records.long_waits) {
    print_warning(devices::describe_long_wait(wait));
    any = true;
  }
  for (const auto& past : records.past_cut) {
    print_warning(devices::describe_past_cut(past));
    any = true;
  }
  if (records.conflicts > 0) {
    print_warning(
        fmt::format("{} address(es), anchor(s) or endorsement(s) decided differently on two devices; "
                    "'mailseal status' lists them",
                    records.conflicts));
    any = true;
  }
  return any;
}

std::string describe_conflict(const devices::RecordsConflict& conflict) {
  return fmt::format("decided differently on {} ({}) and {} ({})", escape_for_terminal(conflict.device_a),
                     escape_for_terminal(conflict.decision_a), escape_for_terminal(conflict.device_b),
                     escape_for_terminal(conflict.decision_b));
}

nlohmann::json records_status_json(const devices::RecordsStatus& status) {
  nlohmann::json conflicts = nlohmann::json::array();
  for (const auto& conflict : status.conflicts) {
    conflicts.push_back(
        {{"subject", conflict.subject},
         {"address", conflict.address ? nlohmann::json(conflict.address->str()) : nlohmann::json(nullptr)},
         {"device_a", conflict.device_a},
         {"decision_a", conflict.decision_a},
         {"device_b", conflict.device_b},
         {"decision_b", conflict.decision_b}});
  }
  return {{"has_key", status.has_key},
          {"last_sync", status.last_sync ? nlohmann::json(iso_time(*status.last_sync)) : nlohmann::json(nullptr)},
          {"pending_changes", status.pending_changes},
          {"pending_records", status.pending_records},
          {"waiting_logs", status.waiting_logs},
          {"oldest_wait", status.oldest_wait ? nlohmann::json(iso_time(*status.oldest_wait)) : nlohmann::json(nullptr)},
          {"conflicts", conflicts}};
}

void print_records_status(const devices::RecordsStatus& status) {
  if (!status.has_key) {
    print_line("trust sync   not yet (an admin device's 'mailseal sync' starts it)");
    return;
  }
  print_line(fmt::format("trust sync   last {}, {} change(s) and {} record(s) pending",
                         status.last_sync ? iso_time(*status.last_sync) : std::string("never"), status.pending_changes,
                         status.pending_records));
  if (status.oldest_wait) {
    print_line(
        fmt::format("waiting      {} other device(s)' trust records wait for a key bundle or a record they "
                    "name, the oldest since {}",
                    status.waiting_logs, iso_time(*status.oldest_wait)));
  }
  for (const auto& conflict : status.conflicts)
    print_line(fmt::format("conflict     {} {}", escape_for_terminal(conflict.subject), describe_conflict(conflict)));
}

}  // namespace mailseal::cli
