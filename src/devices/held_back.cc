// What a sync tells the person about a trust record it held back
// (connect.h, describe_held_back), about a removed device's records merged
// elsewhere (describe_removed_difference) and about records that have
// waited too long (describe_long_wait): one text for the CLI and the
// gateway.

#include <fmt/format.h>

#include "devices/internal/record_waits.h"
#include "mailseal/common/escape.h"
#include "mailseal/devices/connect.h"

namespace mailseal::devices {

namespace {

// "N record(s) of device W wait, the other devices' records were merged, but
// for those that name it." and the removal advice: the same in each verdict.
std::string waiting(const OverreachingRecord& record) {
  return fmt::format(
      "{} record(s) of device {} wait, the other devices' records were merged, but for those that name it",
      record.waiting, record.writer.str());
}

std::string remove_it(const DeviceId& device) {
  return fmt::format("'mailseal device remove {}' on an admin device", device.str());
}

}  // namespace

// Who lies, as the frontier proofs tell (docs/service.md, "Frontier
// proofs"): only a writer charged for sure is to be removed.
std::string describe_held_back(const OverreachingRecord& record) {
  const std::string writer = record.writer.str();
  const std::string named = record.named.str();
  const std::string problem = escape_for_terminal(record.problem);
  switch (record.verdict) {
    case FrontierVerdict::Forged:
      return fmt::format(
          "trust record {1} of device {0} names record {3} of device {2} without device {2}'s signature for it: "
          "device {0} forged it, so it is stolen or compromised. {4}. Remove it ({5})",
          writer, record.seq, named, record.named_seq, waiting(record), remove_it(record.writer));
    case FrontierVerdict::Downgraded:
      return fmt::format(
          "trust record {1} of device {0} goes back to the format without proofs after device {0} signed them: only "
          "device {0}'s key makes its records, so it is stolen or compromised. {2}. Remove it ({3})",
          writer, record.seq, waiting(record), remove_it(record.writer));
    case FrontierVerdict::Withheld:
      return fmt::format(
          "the key service withheld the trust records of device {2} from this device: device {2} signed its "
          "record {3}, which device {0} merged, but the service serves that device's records only up to {4}. {5} "
          "record(s) of device {0} wait until it serves them; neither device is at fault. If this repeats, the key "
          "service is not to be trusted: move the profile to another",
          writer, record.seq, named, record.named_seq, record.served, record.waiting);
    case FrontierVerdict::Malformed:
      return fmt::format(
          "device {0} signed its trust record {1}, which is not a well-formed trust record ({2}): only device {0}'s "
          "key signs its records, so it is stolen, compromised or runs a broken mailseal. {3}. Remove it ({4})",
          writer, record.seq, problem, waiting(record), remove_it(record.writer));
    case FrontierVerdict::Newer:
      return fmt::format(
          "device {0} signed its trust record {1} in a format this mailseal does not read ({2}). {3}. Upgrade "
          "mailseal on this device; if it runs the newest version already, device {0} is stolen or compromised: "
          "remove it ({4})",
          writer, record.seq, problem, waiting(record), remove_it(record.writer));
    case FrontierVerdict::ClockBroken:
      return fmt::format(
          "trust record {1} of device {0} breaks the trust records' clock and is held back: {2}. Device {0} signed "
          "it itself (only its key signs its records), and a time out of the rule would stop the others writing, so "
          "it is stolen, compromised or runs a broken mailseal. {3}. Remove it ({4})",
          writer, record.seq, problem, waiting(record), remove_it(record.writer));
    case FrontierVerdict::Unopened:
      return fmt::format(
          "trust record {1} of device {0} cannot be merged: it {2}. {3}. Only device {0} uploads into its log and "
          "only the profile's devices seal records, so either device {0} sent it so, or the key service altered it. "
          "If device {0} is not in your hands, remove it ({4}); if it is, the key service is not to be trusted: move "
          "the profile to another",
          writer, record.seq, problem, waiting(record), remove_it(record.writer));
    case FrontierVerdict::Unproven:
      break;
  }
  return fmt::format(
      "trust record {1} of device {0} names record {3} of device {2}, but the key service holds that device's "
      "records only up to {4}: {5}. Either device {0} claims what no device wrote, or the key service withheld the "
      "records of device {2} from this device (its record is of the format without proofs, so nothing here can tell "
      "which). If device {0} is not in your hands, remove it ({6}); if it is, the key service is not to be trusted: "
      "move the profile to another",
      writer, record.seq, named, record.named_seq, record.served, waiting(record), remove_it(record.writer));
}

// Re-deciding on either device reaches the other, which ends the
// difference for what a person decided; what was learned is only a sighting.
std::string describe_removed_difference(const RemovedDifference& difference) {
  return fmt::format(
      "device {1} merged the trust records of the removed device {0} up to number {2}, this device only up to {3}: "
      "what device {0} decided in between holds on device {1} and not here, and stays so (a removed device's "
      "records are no longer merged). Compare the two devices ('mailseal trust ADDRESS') and decide again on "
      "either ('mailseal contact pin', 'contact unpin', 'trust anchor add' or 'remove'): both then take it",
      difference.removed.str(), difference.other.str(), difference.theirs, difference.ours);
}

// A warning, not a hold: a bundle late or withheld and a key id rewritten
// look the same from here (docs/service.md, "A wait without end"), so no
// device is charged; syncing an admin device ends the first.
std::string describe_long_wait(const LongWait& wait) {
  using Days = std::chrono::duration<std::int64_t, std::ratio<86400>>;
  return fmt::format(
      "{2} trust record(s) of device {0}, from number {1}, have waited here {3} days, longer than a key bundle takes "
      "to arrive ({4} days): they are sealed under a records key this device does not hold, come from a device not "
      "in its device list, or name such a record. Either a key bundle for this device is late or withheld, or the key "
      "service rewrote the key id of device {0}'s last records; nothing here tells which, so no device is charged. "
      "Run 'mailseal sync' on an admin device (it sends the bundles), then here; if they still wait, the key service "
      "is not to be trusted: move the profile to another",
      wait.writer.str(), wait.seq, wait.waiting, std::chrono::floor<Days>(wait.waited).count(),
      internal::kLongWait.count());
}

namespace {

constexpr std::string_view kDecideAgain =
    "check what this device shows ('mailseal trust ADDRESS', 'mailseal trust anchor list') and decide again where "
    "it differs ('mailseal contact pin', 'contact unpin', 'trust anchor add' or 'remove'): every device then takes "
    "it";

// What was taken back (`how`: what became of the decisions), and where the
// person must decide again.
std::string taken_back_text(const PastCut& past, std::string_view how) {
  std::string out = past.taken_back == 0
                        ? std::string("they decided nothing (what they taught stays: it decides nothing)")
                        : fmt::format("the {} decision(s) they made {}", past.taken_back, how);
  if (!past.decide_again.empty()) {
    out += fmt::format("; what they replaced cannot be rebuilt here for {}: {}", fmt::join(past.decide_again, ", "),
                       kDecideAgain);
  }
  return out;
}

constexpr std::string_view kTakenBack = "are taken back here, as no other device has them";

}  // namespace

// Deciding again on any device reaches every device, which ends the
// difference for what a person decided.
std::string describe_past_cut(const PastCut& past) {
  if (past.fork_from > 0) {
    return fmt::format(
        "this device had merged another fork of the trust records of the removed device {0}, from number {1} to "
        "{2}: its key signed two different records under one number (it was in someone else's hands). Its removal "
        "accepts its records up to number {3}, and the key service serves that log: this device went back to "
        "number {4}, to merge from there the records the removal accepts. Of the records it had merged from number "
        "{1}, {5}",
        past.removed.str(), past.fork_from, past.merged, past.cut, past.fork_from - 1,
        taken_back_text(past,
                        "are taken back here, and what the records the removal accepts decide is merged in "
                        "their place"));
  }
  if (past.other_fork) {
    return fmt::format(
        "the key service serves record {1} of the removed device {0} otherwise than this device merged it, and its "
        "removal accepts its records up to number {2}: either device {0}'s key signed two different records under "
        "one number (it was in someone else's hands) and this device merged the other fork, or the service serves "
        "another record or an altered one now; nothing here tells which. No more of device {0}'s records merge here "
        "while it lasts{3}. If "
        "it lasts, {4}",
        past.removed.str(), past.merged, past.cut,
        past.merged > past.cut ? "; of the records past the cut, " + taken_back_text(past, kTakenBack) : std::string(),
        kDecideAgain);
  }
  return fmt::format(
      "this device had merged the trust records of the removed device {0} up to number {1}, but its removal "
      "accepts them only up to {2}: of records {3} to {1}, {4}",
      past.removed.str(), past.merged, past.cut, past.cut + 1, taken_back_text(past, kTakenBack));
}

}  // namespace mailseal::devices
