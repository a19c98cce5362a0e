#pragma once
// Decisions carried by trust records, on this store (docs/service.md,
// "Trust records"): what a change decides, noting it, applying another
// device's, judging conflicts, and taking back what a removed device's
// records past its removal's cut decided (docs/security.md, "The cut").
// The rules over decisions themselves are in merge.h.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "devices/internal/merge.h"
#include "devices/internal/records.h"
#include "mailseal/common/ids.h"
#include "mailseal/common/time.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"

namespace mailseal::devices::internal {

// What a change decides, and about what subject; nullopt for what is only
// learned (and for endorsements by other issuers: imported, not decided; a
// withdrawal of another issuer's endorsements is no one's decision here and
// is not applied).
struct Decided {
  std::string subject;
  DecisionItem item;
};
std::optional<Decided> decided_by(const Change& change, const Identity& own_root);

// The endorsement row an endorsement change stands for (merged, decided or
// put back alike).
store::EndorsementRecord endorsement_of(const Change& change);

// Every decision noted about `subject`, in the order they apply.
std::vector<Decision> decisions_about(store::TrustSync& sync, const std::string& subject);

// Recomputes the conflict about `subject` from every decision known; 1 when
// there is one.
int judge_conflict(store::TrustSync& sync, const std::string& subject);

// Notes what `record` decided, one row per subject (its items and changes
// in the record's order), and the subjects it touched.
void note_decisions(store::TrustSync& sync, const TrustRecord& record, const Identity& own_root,
                    std::set<std::string>& touched);

// A decision of another device (`here`: its record), unless a decision
// later in the order overtook it (what arrives out of order ends as in
// order). Call before noting it.
void apply_decision(store::LocalStore& store, const Decision& here, const Change& change, const Decided& decided);

// What a removed device's records after number `cut` decided, taken back:
// their decisions are forgotten and every target whose state one of them set
// last goes back to what the decisions that remain say (the latest one
// naming it, applied again whole from the changes kept with it), or to none
// when none does. `decide_again`: the subjects where what a taken-back
// decision replaced cannot be rebuilt here (a decision noted before schema
// 13 keeps no changes, and an anchor or endorsement it removed is gone), to
// be decided again by the person. What those records taught (observations,
// certificates) stays: it decides nothing.
struct TakenBack {
  int decisions = 0;
  std::vector<std::string> decide_again;
};
TakenBack take_back_decisions(store::LocalStore& store, const DeviceId& device, std::int64_t cut,
                              const Identity& own_root, TimePoint now);

}  // namespace mailseal::devices::internal
