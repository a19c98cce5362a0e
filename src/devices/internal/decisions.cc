#include "devices/internal/decisions.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/store/trust_records.h"

namespace mailseal::devices::internal {

namespace {

constexpr std::string_view kEndorsementKind = "endorsement";

std::string certificate_digest(ByteView certificate) {
  return to_hex(crypto::sha256(certificate));
}

// A decision with the changes kept with it (none before schema 13).
struct Noted {
  Decision decision;
  std::optional<std::string> changes;
};

Noted noted_of(const store::DecisionRecord& row) {
  return {{row.device_id, row.seq, row.lamport, row.value, parse_frontier(row.frontier)}, row.changes};
}

// The item of `decision` that decides `target`, the last in its record;
// nullopt when it names neither `target` nor every target.
std::optional<DecisionItem> item_for(const Decision& decision, const std::string& target) {
  std::optional<DecisionItem> out;
  for (auto& item : decision_items(decision.value)) {
    if (item.target == target || item.target == store::kAllTargets)
      out = std::move(item);
  }
  return out;
}

// The decision latest in the order that decides `target`.
const Noted* latest_naming(const std::vector<Noted>& noted, const std::string& target) {
  const Noted* out = nullptr;
  for (const auto& candidate : noted) {
    if (item_for(candidate.decision, target) && (!out || ordered_before(out->decision, candidate.decision)))
      out = &candidate;
  }
  return out;
}

// Whether an item puts something in place (a pin, an acceptance, an anchor,
// an endorsement) rather than taking it away.
bool puts_in_place(const DecisionItem& item) {
  return item.verb != store::kChangeUnpin && item.verb != "unanchor" && item.verb != "withdraw";
}

// The targets whose state the taken-back decisions may have set: their
// own, and for one that took away all of a subject's ("unpin *", "withdraw
// *"), every target a decision that remains names.
std::set<std::string> targets_touched(const std::vector<Noted>& taken, const std::vector<Noted>& remaining) {
  std::set<std::string> out;
  bool all = false;
  for (const auto& noted : taken) {
    for (auto& item : decision_items(noted.decision.value)) {
      if (item.target == store::kAllTargets)
        all = true;
      else
        out.insert(std::move(item.target));
    }
  }
  if (all) {
    for (const auto& noted : remaining) {
      for (auto& item : decision_items(noted.decision.value)) {
        if (item.target != store::kAllTargets)
          out.insert(std::move(item.target));
      }
    }
  }
  return out;
}

// The change of `noted` that decided `target`, from the changes kept with
// it; nullopt when none are kept (or they no longer read).
std::optional<Change> change_for(const Noted& noted, const std::string& target, const Identity& own_root) {
  if (!noted.changes)
    return std::nullopt;
  std::optional<Change> out;
  try {
    for (auto& change : decode_changes(*noted.changes)) {
      auto decided = decided_by(change, own_root);
      if (decided && decided->item.target == target)
        out = std::move(change);
    }
  } catch (const Error&) {
    return std::nullopt;  // written by this store: damaged, so rebuilt from what is here
  }
  return out;
}

// One subject's target put back as the decisions that remain say. false
// when what it needs is no longer here (then the person decides again).
class TargetRestorer {
 public:
  TargetRestorer(store::LocalStore& store, const std::string& subject, const Identity& own_root, TimePoint now)
      : records_(store), subject_(subject), own_root_(own_root), now_(now) {}

  // `latest`: the latest decision that remains naming `target`, if any.
  bool restore(const std::string& target, const Noted* latest) {
    const std::optional<DecisionItem> item = latest ? item_for(latest->decision, target) : std::nullopt;
    if (!item || !puts_in_place(*item)) {
      take_away(target);
      return true;
    }
    if (auto change = change_for(*latest, target, own_root_)) {
      put_in_place(*change);
      return true;
    }
    return put_in_place_from_here(target, *item);
  }

 private:
  void take_away(const std::string& target) {
    if (auto address = store::subject_address(subject_)) {
      records_.merge_unpin(*address, target, {});
    } else if (store::subject_anchor(subject_)) {
      records_.merge_anchor_removal(target);
    } else if (auto endorsement = store::subject_endorsement(subject_)) {
      for (const auto& made : records_.endorsements_by(endorsement->issuer)) {
        if (made.subject == endorsement->subject && made.kind == kEndorsementKind &&
            certificate_digest(made.certificate) == target) {
          records_.remove_endorsement(made.id);
        }
      }
    }
  }

  // A pin is one row per kind: the kind the decision says replaces both.
  void put_in_place(const Change& change) {
    if (change.kind == store::kChangePin) {
      records_.merge_unpin(*change.address, change.fingerprint, {});
      records_.merge_pin({*change.address, change.fingerprint, change.pin_kind, change.at});
    } else if (change.kind == store::kChangeAnchor) {
      records_.merge_anchor({change.fingerprint, change.certificate, change.amount, change.at});
    } else {
      records_.add_endorsement(endorsement_of(change));
    }
  }

  // A decision noted before its changes were kept: a pin's kind is in its
  // item (its time is now); an anchor's certificate and an endorsement only
  // in the rows still here.
  bool put_in_place_from_here(const std::string& target, const DecisionItem& item) {
    if (auto address = store::subject_address(subject_)) {
      records_.merge_unpin(*address, target, {});
      records_.merge_pin({*address, target, item.verb, now_});
      return true;
    }
    if (store::subject_anchor(subject_)) {
      for (const auto& anchor : records_.anchors()) {
        if (anchor.fingerprint != target)
          continue;
        int amount = anchor.amount;
        const auto [end, error] = std::from_chars(item.detail.data(), item.detail.data() + item.detail.size(), amount);
        records_.merge_anchor(
            {anchor.fingerprint, anchor.certificate, error == std::errc{} ? amount : anchor.amount, anchor.added_at});
        return true;
      }
      return false;
    }
    if (auto endorsement = store::subject_endorsement(subject_)) {
      const auto made = records_.endorsements_by(endorsement->issuer);
      return std::any_of(made.begin(), made.end(), [&](const store::EndorsementRecord& one) {
        return one.subject == endorsement->subject && certificate_digest(one.certificate) == target;
      });
    }
    return false;
  }

  store::TrustRecords records_;
  std::string subject_;
  Identity own_root_;
  TimePoint now_;
};

// Whether a taken-back decision took away targets no decision that
// remains describes (a pin made before trust records, or one this store
// never had): nothing here says what they were.
// A removal of one target that no remaining decision names took away a row
// made before trust records existed (mailseal's commands remove only what is
// there). One of every target ("unpin *", "withdraw *") may have too, but
// only a subject no remaining decision names says so: otherwise the rows it
// took are taken as those the remaining decisions put back, as a pin made
// before trust records is rare beside them.
bool took_away_unknown(const std::vector<Noted>& taken, const std::vector<Noted>& remaining) {
  for (const auto& noted : taken) {
    for (const auto& item : decision_items(noted.decision.value)) {
      if (puts_in_place(item))
        continue;
      if (item.target != store::kAllTargets ? !latest_naming(remaining, item.target) : remaining.empty())
        return true;
    }
  }
  return false;
}

// One subject: the targets a taken-back decision set last go back to what
// the decisions that remain say. false when the person must decide again.
bool restore_subject(store::LocalStore& store, const std::string& subject, const std::vector<Noted>& taken,
                     const Identity& own_root, TimePoint now) {
  store::TrustSync sync(store);
  std::vector<Noted> remaining;
  for (const auto& row : sync.decisions(subject))
    remaining.push_back(noted_of(row));
  std::vector<Noted> all = remaining;
  all.insert(all.end(), taken.begin(), taken.end());
  const std::set<std::string> targets = targets_touched(taken, remaining);
  TargetRestorer restorer(store, subject, own_root, now);
  bool whole = !took_away_unknown(taken, remaining);
  for (const auto& target : targets) {
    const Noted* latest = latest_naming(all, target);
    const bool set_by_taken =
        latest && std::any_of(taken.begin(), taken.end(), [&](const Noted& noted) {
          return noted.decision.device == latest->decision.device && noted.decision.seq == latest->decision.seq;
        });
    if (set_by_taken && !restorer.restore(target, latest_naming(remaining, target)))
      whole = false;
  }
  judge_conflict(sync, subject);
  return whole;
}

}  // namespace

std::optional<Decided> decided_by(const Change& change, const Identity& own_root) {
  if ((change.kind == store::kChangePin || change.kind == store::kChangeUnpin) && change.address) {
    const std::string verb = change.kind == store::kChangePin ? change.pin_kind : std::string(store::kChangeUnpin);
    return Decided{store::pin_subject(*change.address), {verb, change.fingerprint, ""}};
  }
  if (change.kind == store::kChangeAnchor) {
    return Decided{store::anchor_subject(change.fingerprint),
                   {"anchor", change.fingerprint, std::to_string(change.amount)}};
  }
  if (change.kind == store::kChangeUnanchor)
    return Decided{store::anchor_subject(change.fingerprint), {"unanchor", change.fingerprint, ""}};
  if (change.kind == store::kChangeEndorsement && change.endorsement_kind == kEndorsementKind &&
      change.issuer == own_root.str()) {
    return Decided{
        store::endorsement_subject(Identity(change.issuer), Identity(change.subject)),
        {"endorse", certificate_digest(change.certificate), fmt::format("{}/{}", change.amount, change.depth)}};
  }
  if (change.kind == store::kChangeWithdrawal && change.issuer == own_root.str()) {
    return Decided{store::endorsement_subject(Identity(change.issuer), Identity(change.subject)),
                   {"withdraw", std::string(store::kAllTargets), ""}};
  }
  return std::nullopt;
}

store::EndorsementRecord endorsement_of(const Change& change) {
  return {0,
          Identity(change.issuer),
          Identity(change.subject),
          change.amount,
          change.depth,
          change.scope,
          change.addresses,
          change.endorsement_kind,
          change.exportable,
          change.certificate,
          change.at};
}

std::vector<Decision> decisions_about(store::TrustSync& sync, const std::string& subject) {
  std::vector<Decision> decisions;
  for (const auto& row : sync.decisions(subject))
    decisions.push_back(noted_of(row).decision);
  return decisions;
}

int judge_conflict(store::TrustSync& sync, const std::string& subject) {
  auto conflict = conflict_of(decisions_about(sync, subject));
  if (!conflict) {
    sync.clear_conflict(subject);
    return 0;
  }
  sync.set_conflict(
      {subject, conflict->first.device, conflict->first.value, conflict->second.device, conflict->second.value});
  return 1;
}

void note_decisions(store::TrustSync& sync, const TrustRecord& record, const Identity& own_root,
                    std::set<std::string>& touched) {
  struct Made {
    std::vector<DecisionItem> items;
    std::vector<Change> changes;
  };
  std::map<std::string, Made> made;
  for (const auto& change : record.changes) {
    if (auto decided = decided_by(change, own_root)) {
      Made& subject = made[decided->subject];
      subject.items.push_back(std::move(decided->item));
      subject.changes.push_back(change);
    }
  }
  for (const auto& [subject, what] : made) {
    sync.add_decision({subject, record.device, record.seq, record.lamport, decision_value(what.items),
                       frontier_text(record.frontier), encode_changes(what.changes)});
    touched.insert(subject);
  }
}

void apply_decision(store::LocalStore& store, const Decision& here, const Change& change, const Decided& decided) {
  store::TrustSync sync(store);
  store::TrustRecords records(store);
  const std::vector<Decision> known = decisions_about(sync, decided.subject);
  if (overtaken(here, decided.item.target, known))
    return;
  const std::set<std::string> keep = decided_after(here, known);
  if (change.kind == store::kChangePin) {
    records.merge_pin({*change.address, change.fingerprint, change.pin_kind, change.at});
  } else if (change.kind == store::kChangeUnpin) {
    records.merge_unpin(*change.address, change.fingerprint, keep);
  } else if (change.kind == store::kChangeAnchor) {
    records.merge_anchor({change.fingerprint, change.certificate, change.amount, change.at});
  } else if (change.kind == store::kChangeUnanchor) {
    records.merge_anchor_removal(change.fingerprint);
  } else if (change.kind == store::kChangeWithdrawal) {
    for (const auto& endorsement : records.endorsements_by(Identity(change.issuer))) {
      if (endorsement.subject.str() == change.subject && endorsement.kind == kEndorsementKind &&
          !keep.contains(certificate_digest(endorsement.certificate))) {
        records.remove_endorsement(endorsement.id);
      }
    }
  } else {
    records.add_endorsement(endorsement_of(change));
  }
}

TakenBack take_back_decisions(store::LocalStore& store, const DeviceId& device, std::int64_t cut,
                              const Identity& own_root, TimePoint now) {
  store::TrustSync sync(store);
  std::map<std::string, std::vector<Noted>> taken;
  TakenBack out;
  for (const auto& row : sync.decisions_after(device, cut)) {
    taken[row.subject].push_back(noted_of(row));
    ++out.decisions;
  }
  if (taken.empty())
    return out;
  store::Transaction transaction(store.database());
  const std::int64_t mark = sync.outbox_mark();
  sync.remove_decisions_after(device, cut);
  for (const auto& [subject, decisions] : taken) {
    if (!restore_subject(store, subject, decisions, own_root, now))
      out.decide_again.push_back(subject);
  }
  // What is put back came from the decisions' devices: not this device's to send.
  sync.discard_outbox(mark, std::numeric_limits<std::int64_t>::max());
  transaction.commit();
  return out;
}

}  // namespace mailseal::devices::internal
