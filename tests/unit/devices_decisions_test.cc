// Taking back what a removed device's records past its removal's cut
// decided (docs/security.md, "The cut"), on a real store: decisions merged as
// a sync merges them, then taken back, and the pins, anchors, endorsements
// and conflicts that remain.
#include <gtest/gtest.h>

#include "devices/internal/decisions.h"
#include "mailseal/profile/profile.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"
#include "test_identities.h"
#include "test_support.h"

namespace mailseal::devices::internal {
namespace {

const EmailAddress kBob = EmailAddress::parse("bob@example.org");
const Identity kRoot("MROOT-OWN");
const DeviceId kLaptop("MLAPTOP");
const DeviceId kStolen("MSTOLEN");
constexpr std::string_view kKey = "MBOBKEY-FIRST";
constexpr std::string_view kOtherKey = "MBOBKEY-OTHER";

TimePoint at(std::int64_t seconds) {
  return from_unix_seconds(1'800'000'000 + seconds);
}

Change pin(std::string_view fingerprint, std::string kind, TimePoint when) {
  Change change;
  change.kind = std::string(store::kChangePin);
  change.address = kBob;
  change.fingerprint = std::string(fingerprint);
  change.pin_kind = std::move(kind);
  change.at = when;
  return change;
}

Change unpin(std::string_view fingerprint) {
  Change change;
  change.kind = std::string(store::kChangeUnpin);
  change.address = kBob;
  change.fingerprint = std::string(fingerprint);
  change.at = at(0);
  return change;
}

Change anchor(std::string_view fingerprint, int amount) {
  Change change;
  change.kind = std::string(store::kChangeAnchor);
  change.fingerprint = std::string(fingerprint);
  change.certificate = test::alice().root.der();  // a record carries a certificate that parses
  change.amount = amount;
  change.at = at(1);
  return change;
}

// `certificate`: any that parses (a record's do).
Change endorsement(const crypto::Certificate& certificate) {
  Change change;
  change.kind = std::string(store::kChangeEndorsement);
  change.issuer = kRoot.str();
  change.subject = "MBOB-IDENTITY";
  change.endorsement_kind = "endorsement";
  change.amount = 120;
  change.certificate = certificate.der();
  change.at = at(2);
  return change;
}

Change withdrawal() {
  Change change;
  change.kind = std::string(store::kChangeWithdrawal);
  change.issuer = kRoot.str();
  change.subject = "MBOB-IDENTITY";
  change.at = at(3);
  return change;
}

class TakeBack : public ::testing::Test {
 protected:
  store::LocalStore& store() { return profile_->store(); }

  // A record of `device` merged as a sync merges it (apply_record).
  void merge(const DeviceId& device, std::int64_t seq, std::int64_t lamport, const Frontier& frontier,
             const std::vector<Change>& changes) {
    TrustRecord record;
    record.device = device;
    record.seq = seq;
    record.lamport = lamport;
    record.frontier = frontier;
    record.changes = changes;
    store::TrustSync sync(store());
    for (const auto& change : changes) {
      if (auto decided = decided_by(change, kRoot))
        apply_decision(store(), {device, seq, lamport, "", frontier}, change, *decided);
    }
    std::set<std::string> touched;
    note_decisions(sync, record, kRoot, touched);
    for (const auto& subject : touched)
      judge_conflict(sync, subject);
  }

  TakenBack take_back() { return take_back_decisions(store(), kStolen, 1, kRoot, at(99)); }

  std::vector<store::PinRecord> pins() { return store::TrustRecords(store()).pins(kBob); }

  std::vector<Bytes> endorsed() {
    std::vector<Bytes> out;
    for (const auto& made : store::TrustRecords(store()).endorsements_by(kRoot))
      out.push_back(made.certificate);
    return out;
  }

  void forget_changes() { store().database().execute("UPDATE record_decisions SET changes = NULL"); }

  test::TemporaryProfile profile_{"decisions", "alice@example.com"};
};

TEST_F(TakeBack, APinPastTheCutIsTakenAway) {
  merge(kStolen, 2, 2, {}, {pin(kKey, "pin", at(5))});
  ASSERT_EQ(pins().size(), 1u);
  const TakenBack taken = take_back();
  EXPECT_EQ(taken.decisions, 1);
  EXPECT_TRUE(taken.decide_again.empty());
  EXPECT_TRUE(pins().empty());
  EXPECT_TRUE(store::TrustSync(store()).decisions(store::pin_subject(kBob)).empty()) << "the decision is forgotten";
}

TEST_F(TakeBack, AnAcceptanceOverAnEarlierPinGoesBackToThePin) {
  merge(kLaptop, 1, 1, {}, {pin(kKey, "pin", at(5))});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {pin(kKey, "accept", at(6))});
  ASSERT_EQ(pins().size(), 2u);
  take_back();
  const auto left = pins();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].kind, "pin");
  EXPECT_EQ(left[0].created_at, at(5)) << "applied again whole, from the changes kept with it";
}

TEST_F(TakeBack, AnUnpinOfEveryKeyPutsBackThePinItTookAway) {
  merge(kLaptop, 1, 1, {}, {pin(kKey, "pin", at(5))});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {unpin(store::kAllTargets)});
  ASSERT_TRUE(pins().empty());
  const TakenBack taken = take_back();
  EXPECT_TRUE(taken.decide_again.empty());
  ASSERT_EQ(pins().size(), 1u);
  EXPECT_EQ(pins()[0].fingerprint, kKey);
  EXPECT_EQ(pins()[0].created_at, at(5));
}

TEST_F(TakeBack, APinNotedWithoutItsChangesComesBackWithItsKindAsOfNow) {
  merge(kLaptop, 1, 1, {}, {pin(kKey, "accept", at(5))});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {unpin(kKey)});
  forget_changes();
  EXPECT_TRUE(take_back().decide_again.empty());
  ASSERT_EQ(pins().size(), 1u);
  EXPECT_EQ(pins()[0].kind, "accept");
  EXPECT_EQ(pins()[0].created_at, at(99));
}

TEST_F(TakeBack, AnUnpinOfAPinNoDecisionNamesIsLeftToThePerson) {
  store::TrustRecords(store()).merge_pin({kBob, std::string(kKey), "pin", at(5)});  // made before trust records
  merge(kStolen, 2, 2, {}, {unpin(kKey)});
  const TakenBack taken = take_back();
  EXPECT_EQ(taken.decide_again, std::vector<std::string>{store::pin_subject(kBob)});
}

TEST_F(TakeBack, ADecisionLaterInTheOrderStands) {
  merge(kStolen, 2, 2, {}, {pin(kOtherKey, "pin", at(5))});
  merge(kLaptop, 1, 5, {{kStolen, 2}}, {unpin(kOtherKey)});
  ASSERT_TRUE(pins().empty());
  const TakenBack taken = take_back();
  EXPECT_EQ(taken.decisions, 1);
  EXPECT_TRUE(taken.decide_again.empty());
  EXPECT_TRUE(pins().empty());
}

TEST_F(TakeBack, TheConflictWithATakenBackDecisionEnds) {
  merge(kLaptop, 1, 2, {}, {pin(kKey, "pin", at(5))});
  merge(kStolen, 2, 2, {}, {unpin(kKey)});
  store::TrustSync sync(store());
  ASSERT_EQ(sync.conflicts().size(), 1u);
  take_back();
  EXPECT_TRUE(sync.conflicts().empty());
  ASSERT_EQ(pins().size(), 1u) << "the laptop's pin, which the stolen device's unpin had overtaken";
}

TEST_F(TakeBack, AnEndorsementComesBackAndOnePastTheCutGoes) {
  const crypto::Certificate& first = test::alice().signing;
  const crypto::Certificate& thiefs = test::bob().signing;
  merge(kLaptop, 1, 1, {}, {endorsement(first)});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {withdrawal(), endorsement(thiefs)});
  ASSERT_EQ(endorsed(), std::vector<Bytes>{thiefs.der()});
  store::TrustSync sync(store());
  const auto outbox = sync.outbox().size();
  const TakenBack taken = take_back();
  EXPECT_TRUE(taken.decide_again.empty());
  EXPECT_EQ(endorsed(), std::vector<Bytes>{first.der()});
  EXPECT_EQ(sync.outbox().size(), outbox) << "what is put back is not this device's to send";
}

TEST_F(TakeBack, AnAnchorAmountComesBackFromTheDecisionWithoutItsChanges) {
  merge(kLaptop, 1, 1, {}, {anchor("MCA-ONE", 90)});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {anchor("MCA-ONE", 30), anchor("MCA-THIEF", 120)});
  forget_changes();
  EXPECT_TRUE(take_back().decide_again.empty());
  const auto anchors = store::TrustRecords(store()).anchors();
  ASSERT_EQ(anchors.size(), 1u);
  EXPECT_EQ(anchors[0].fingerprint, "MCA-ONE");
  EXPECT_EQ(anchors[0].amount, 90);
}

TEST_F(TakeBack, AnAnchorRemovedWhoseCertificateIsGoneIsLeftToThePerson) {
  merge(kLaptop, 1, 1, {}, {anchor("MCA-ONE", 90)});
  Change removal;
  removal.kind = std::string(store::kChangeUnanchor);
  removal.fingerprint = "MCA-ONE";
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {removal});
  forget_changes();
  EXPECT_EQ(take_back().decide_again, std::vector<std::string>{store::anchor_subject("MCA-ONE")});
  EXPECT_TRUE(store::TrustRecords(store()).anchors().empty());
}

TEST_F(TakeBack, RecordsUpToTheCutStay) {
  merge(kStolen, 1, 1, {}, {pin(kKey, "pin", at(5))});
  const TakenBack taken = take_back();
  EXPECT_EQ(taken.decisions, 0);
  EXPECT_EQ(pins().size(), 1u);
}

}  // namespace
}  // namespace mailseal::devices::internal
