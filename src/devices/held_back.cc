// What a sync tells the person about a trust record it held back
// (connect.h, describe_held_back): one text for the CLI and the gateway.

#include <fmt/format.h>

#include "mailseal/common/escape.h"
#include "mailseal/devices/connect.h"

namespace mailseal::devices {

// Who lies, as the frontier proofs tell (docs/service.md, "Frontier
// proofs"): only a writer charged for sure is to be removed.
std::string describe_held_back(const OverreachingRecord& record) {
  const std::string writer = record.writer.str();
  const std::string named = record.named.str();
  switch (record.verdict) {
    case FrontierVerdict::Forged:
      return fmt::format(
          "trust record {1} of device {0} names record {3} of device {2} without device {2}'s signature for it: "
          "device {0} forged it, so it is stolen or compromised. {4} record(s) of device {0} wait, the other "
          "devices' records were merged, but for those that name it. Remove it ('mailseal device remove {0}' on an "
          "admin device)",
          writer, record.seq, named, record.named_seq, record.waiting);
    case FrontierVerdict::Downgraded:
      return fmt::format(
          "trust record {1} of device {0} goes back to the format without proofs after device {0} signed "
          "them: only device {0}'s key makes its records, so it is stolen or compromised. {2} record(s) of device "
          "{0} wait, the other devices' records were merged, but for those that name it. Remove it ('mailseal device "
          "remove {0}' on an admin "
          "device)",
          writer, record.seq, record.waiting);
    case FrontierVerdict::Withheld:
      return fmt::format(
          "the key service withheld the trust records of device {2} from this device: device {2} signed its "
          "record {3}, which device {0} merged, but the service serves that device's records only up to {4}. {5} "
          "record(s) of device {0} wait until it serves them; neither device is at fault. If this repeats, the key "
          "service is not to be trusted: move the profile to another",
          writer, record.seq, named, record.named_seq, record.served, record.waiting);
    case FrontierVerdict::Malformed:
      return fmt::format(
          "device {0} signed its trust record {1}, which is not a well-formed trust record ({3}): only device {0}'s "
          "key signs its records, so it is stolen, compromised or runs a broken mailseal. {2} record(s) of device "
          "{0} wait, the other devices' records were merged, but for those that name it. Remove it ('mailseal device "
          "remove {0}' on an admin "
          "device)",
          writer, record.seq, record.waiting, escape_for_terminal(record.problem));
    case FrontierVerdict::Newer:
      return fmt::format(
          "device {0} signed its trust record {1} in a format this mailseal does not read ({3}). {2} record(s) of "
          "device {0} wait, the other devices' records were merged, but for those that name it. Upgrade mailseal on "
          "this device; if it runs the "
          "newest version already, device {0} is stolen or compromised: remove it ('mailseal device remove {0}' on "
          "an admin device)",
          writer, record.seq, record.waiting, escape_for_terminal(record.problem));
    case FrontierVerdict::Unopened:
      return fmt::format(
          "trust record {1} of device {0} cannot be merged: it {3}. {2} record(s) of device {0} wait, the other "
          "devices' records were merged, but for those that name it. Only device {0} uploads into its log and only the "
          "profile's devices seal "
          "records, so either device {0} sent it so, or the key service altered it. If device {0} is not in your "
          "hands, remove it ('mailseal device remove {0}' on an admin device); if it is, the key service is not to be "
          "trusted: move the profile to another",
          writer, record.seq, record.waiting, escape_for_terminal(record.problem));
    case FrontierVerdict::Unproven:
      break;
  }
  return fmt::format(
      "trust record {1} of device {0} names record {3} of device {2}, but the key service holds that device's "
      "records only up to {4}: {5} record(s) of device {0} wait, the other devices' records were merged, but for those "
      "that name it. Either "
      "device {0} claims what no device wrote, or the key service withheld the records of device {2} from this "
      "device (its record is of the format without proofs, so nothing here can tell which). If device {0} is not "
      "in your hands, remove it ('mailseal device remove {0}' on an admin device); if it is, the key service is "
      "not to be trusted: move the profile to another",
      writer, record.seq, named, record.named_seq, record.served, record.waiting);
}

}  // namespace mailseal::devices
