// Taking back what a removed device's records past its removal's cut
// decided (docs/security.md, "The cut"), on a real store: decisions merged as
// a sync merges them, then taken back, and the pins, anchors, endorsements
// and conflicts that remain.
#include <gtest/gtest.h>

#include "devices/internal/decisions.h"
#include "mailseal/crypto/endorsement.h"
#include "mailseal/profile/profile.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"
#include "mailseal/udf/udf.h"
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

// A trust anchor, named by its certificate's fingerprint as a record names it.
Change anchor(const crypto::Certificate& certificate, int amount) {
  Change change;
  change.kind = std::string(store::kChangeAnchor);
  change.fingerprint = certificate.fingerprint().to_string(udf::kFullBits);
  change.certificate = certificate.der();
  change.amount = amount;
  change.at = at(1);
  return change;
}

Change unanchor(const Change& anchored) {
  Change change;
  change.kind = std::string(store::kChangeUnanchor);
  change.fingerprint = anchored.fingerprint;
  change.at = at(3);
  return change;
}

// Bob's identity: what the profile endorses.
std::string endorsed_identity() {
  return test::bob().root.key_fingerprint().to_string(udf::kFullBits);
}

// The profile's endorsement of `subject`'s root at `amount`, as a record
// carries it (what it says is what its certificate says).
Change endorsement(int amount) {
  const test::Person& subject = test::bob();
  crypto::EndorsementTerms terms;
  terms.amount = amount;
  terms.addresses = {subject.address};
  const crypto::Certificate certificate =
      crypto::issue_endorsement(subject.root, test::alice().root_key, test::alice().root, terms, at(0), at(1'000'000));
  Change change;
  change.kind = std::string(store::kChangeEndorsement);
  change.issuer = kRoot.str();
  change.subject = endorsed_identity();
  change.endorsement_kind = "endorsement";
  change.amount = amount;
  change.addresses = {subject.address.str()};
  change.certificate = certificate.der();
  change.at = at(2);
  return change;
}

Change withdrawal() {
  Change change;
  change.kind = std::string(store::kChangeWithdrawal);
  change.issuer = kRoot.str();
  change.subject = endorsed_identity();
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
  const Change first = endorsement(60);
  const Change thiefs = endorsement(120);
  merge(kLaptop, 1, 1, {}, {first});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {withdrawal(), thiefs});
  ASSERT_EQ(endorsed(), std::vector<Bytes>{thiefs.certificate});
  store::TrustSync sync(store());
  const auto outbox = sync.outbox().size();
  const TakenBack taken = take_back();
  EXPECT_TRUE(taken.decide_again.empty());
  EXPECT_EQ(endorsed(), std::vector<Bytes>{first.certificate});
  EXPECT_EQ(sync.outbox().size(), outbox) << "what is put back is not this device's to send";
}

TEST_F(TakeBack, AnAnchorAmountComesBackFromTheDecisionWithoutItsChanges) {
  const crypto::Certificate& one = test::alice().root;
  merge(kLaptop, 1, 1, {}, {anchor(one, 90)});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {anchor(one, 30), anchor(test::bob().root, 120)});
  forget_changes();
  EXPECT_TRUE(take_back().decide_again.empty());
  const auto anchors = store::TrustRecords(store()).anchors();
  ASSERT_EQ(anchors.size(), 1u);
  EXPECT_EQ(anchors[0].certificate, one.der());
  EXPECT_EQ(anchors[0].amount, 90);
}

TEST_F(TakeBack, AnAnchorRemovedWhoseCertificateIsGoneIsLeftToThePerson) {
  const Change anchored = anchor(test::alice().root, 90);
  merge(kLaptop, 1, 1, {}, {anchored});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {unanchor(anchored)});
  forget_changes();
  EXPECT_EQ(take_back().decide_again, std::vector<std::string>{store::anchor_subject(anchored.fingerprint)});
  EXPECT_TRUE(store::TrustRecords(store()).anchors().empty());
}

TEST_F(TakeBack, AnAnchorRemovedComesBackWholeFromItsChanges) {
  const Change anchored = anchor(test::alice().root, 90);
  merge(kLaptop, 1, 1, {}, {anchored});
  merge(kStolen, 2, 2, {{kLaptop, 1}}, {unanchor(anchored)});
  ASSERT_TRUE(store::TrustRecords(store()).anchors().empty());
  EXPECT_TRUE(take_back().decide_again.empty());
  const auto anchors = store::TrustRecords(store()).anchors();
  ASSERT_EQ(anchors.size(), 1u);
  EXPECT_EQ(anchors[0].certificate, anchored.certificate);
  EXPECT_EQ(anchors[0].amount, 90);
  EXPECT_EQ(anchors[0].added_at, anchored.at);
}

TEST_F(TakeBack, RecordsUpToTheCutStay) {
  merge(kStolen, 1, 1, {}, {pin(kKey, "pin", at(5))});
  const TakenBack taken = take_back();
  EXPECT_EQ(taken.decisions, 0);
  EXPECT_EQ(pins().size(), 1u);
}

// What a record says of an anchor or an endorsement is what its certificate
// says (review of 854b35c, F1): otherwise it is its writer's malformed
// record, refused before anything is applied.
TEST(TrustRecordContent, AnAnchorNamedOtherwiseThanItsCertificateIsMalformed) {
  Change named = anchor(test::alice().root, 90);
  EXPECT_EQ(decode_changes(encode_changes({named})), std::vector<Change>{named});
  Change other = named;
  other.fingerprint = test::bob().root.fingerprint().to_string(udf::kFullBits);
  EXPECT_EQ(test::error_code_of([&] { decode_changes(encode_changes({other})); }), ErrorCode::Malformed);
}

TEST(TrustRecordContent, AnEndorsementSayingOtherwiseThanItsCertificateIsMalformed) {
  const Change made = endorsement(60);
  EXPECT_EQ(decode_changes(encode_changes({made})), std::vector<Change>{made});
  Change higher = made;
  higher.amount = 120;
  Change deeper = made;
  deeper.depth = 9;
  Change elsewhere = made;
  elsewhere.subject = test::alice().root.key_fingerprint().to_string(udf::kFullBits);
  Change wider = made;
  wider.addresses.push_back("mallory@example.org");
  for (const auto& changed : {higher, deeper, elsewhere, wider})
    EXPECT_EQ(test::error_code_of([&] { decode_changes(encode_changes({changed})); }), ErrorCode::Malformed);
  // What an honest writer keeps may say less (second review of 854b35c, F1).
  Change local = made;
  local.exportable = false;
  local.depth = 0;
  Change scoped = made;
  scoped.scope = {"example.org"};
  Change fewer = made;
  fewer.addresses.clear();
  for (const auto& narrower : {local, scoped, fewer})
    EXPECT_EQ(decode_changes(encode_changes({narrower})), std::vector<Change>{narrower});
}

}  // namespace
}  // namespace mailseal::devices::internal
