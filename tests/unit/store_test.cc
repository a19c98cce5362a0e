// The local store on its own (records in, the same records out): creation
// that leaves nothing behind when it fails, key files 0600, mail keys all or
// nothing, the trust records, migration of older schemas, and transactions.
// The store decides nothing, so the records here are plain values, not real
// certificates.

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/store/local_store.h"
#include "mailseal/store/sqlite.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"
#include "scratch.h"

namespace mailseal::store {
namespace {

using test::ScratchDirectory;

const EmailAddress kAlice = EmailAddress::parse("alice@example.com");
const EmailAddress kBob = EmailAddress::parse("bob@example.org");

// A point in time given as Unix seconds.
TimePoint at(std::int64_t seconds) {
  return from_unix_seconds(seconds);
}

Bytes blob(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

SecretBytes secret(std::string_view text) {
  return SecretBytes(text.begin(), text.end());
}

ProfileRecord profile_record() {
  ProfileRecord profile;
  profile.fingerprint = Identity("MPROFILE");
  profile.name = "Alice";
  profile.suite = Suite::Modern;
  profile.addresses = {kAlice, EmailAddress::parse("alice@example.net")};
  profile.root_certificate = blob("root DER");
  profile.root_key_file = "root-1.pem";
  profile.root_seed_file = "seed-1.pem";
  profile.created_at = at(1000);
  return profile;
}

DeviceRecord device_record(const std::string& id, bool self) {
  DeviceRecord device;
  device.device_id = DeviceId(id);
  device.name = "laptop " + id;
  device.is_this_device = self;
  device.signature_certificate = blob("sig " + id);
  device.agreement_certificate = blob("agr " + id);
  device.signature_key_file = self ? "device-signature-" + id + ".pem" : "";
  device.created_at = at(1000);
  return device;
}

MailKeyRecord mail_key(const std::string& certificate, KeyPurpose purpose, const std::string& file) {
  MailKeyRecord key{.address = kAlice};
  key.purpose = purpose;
  key.certificate = blob(certificate);
  key.chain = {blob("root DER")};
  key.key_file = file;
  key.key_fingerprint = "K" + certificate;
  key.created_at = at(1000);
  return key;
}

LocalStore create_store(const std::filesystem::path& home) {
  return LocalStore::create(home, profile_record(), device_record("D1", true),
                            {mail_key("sign cert", KeyPurpose::Signing, "mail-1.pem"),
                             mail_key("enc cert", KeyPurpose::Encryption, "mail-2.pem")},
                            {{"root-1.pem", secret("root key")},
                             {"mail-1.pem", secret("signing key")},
                             {"mail-2.pem", secret("encryption key")}});
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

std::int64_t count_rows(Database& database, const std::string& table) {
  auto statement = database.prepare("SELECT COUNT(*) FROM " + table);
  EXPECT_TRUE(statement.step());
  return statement.column_int(0);
}

TEST(LocalStore, WhatIsCreatedReadsBack) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  EXPECT_FALSE(LocalStore::exists(home));
  {
    LocalStore created = create_store(home);
  }
  EXPECT_TRUE(LocalStore::exists(home));
  LocalStore store = LocalStore::open(home);
  ProfileRecord profile = store.profile();
  EXPECT_EQ(profile.fingerprint.str(), "MPROFILE");
  EXPECT_EQ(profile.name, "Alice");
  EXPECT_EQ(profile.suite, Suite::Modern);
  ASSERT_EQ(profile.addresses.size(), 2u);
  EXPECT_EQ(profile.addresses[1].str(), "alice@example.net") << "addresses keep their order";
  EXPECT_EQ(profile.root_certificate, blob("root DER"));
  EXPECT_EQ(profile.root_seed_file, "seed-1.pem");

  auto devices = store.devices();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].device_id.str(), "D1");
  EXPECT_TRUE(devices[0].is_this_device);
  EXPECT_EQ(devices[0].role, DeviceRole::Admin);

  auto keys = store.mail_keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].purpose, KeyPurpose::Signing);
  EXPECT_EQ(keys[1].certificate, blob("enc cert"));
  ASSERT_EQ(keys[1].chain.size(), 1u);
  EXPECT_EQ(keys[1].chain[0], blob("root DER"));
  EXPECT_TRUE(store.mail_keys(kBob).empty());

  SecretBytes key = store.read_key_file("mail-2.pem");
  EXPECT_EQ(std::string(key.begin(), key.end()), "encryption key");
  EXPECT_EQ(mode_of(home), 0700u);
  EXPECT_EQ(mode_of(home / "keys"), 0700u);
  EXPECT_EQ(mode_of(home / "keys" / "mail-1.pem"), 0600u);
  EXPECT_EQ(mode_of(home / "mailseal.db"), 0600u);
}

TEST(LocalStore, ASecondCreateChangesNothing) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  create_store(home);
  try {
    create_store(home);
    FAIL() << "a second profile in one home";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::AlreadyExists);
  }
  EXPECT_EQ(LocalStore::open(home).mail_keys().size(), 2u);
}

// A gateway session keeps its store open: it must notice a store replaced
// (a restore, a new init) or upgraded by a newer mailseal, and open it again
// (review of issue 15: a session kept writing a store of schema 999).
TEST(LocalStore, AStoreReplacedOrUpgradedIsNoLongerCurrent) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  LocalStore kept = create_store(home);
  EXPECT_TRUE(kept.still_current());
  LocalStore::open(home).database().set_user_version(999);
  EXPECT_FALSE(kept.still_current()) << "a newer mailseal's schema";
  kept.database().set_user_version(kSchemaVersion);
  EXPECT_TRUE(kept.still_current());
  auto other = scratch / "other";
  create_store(other);
  std::filesystem::rename(other / "mailseal.db", home / "mailseal.db");
  EXPECT_FALSE(kept.still_current()) << "another file in its place";
  EXPECT_TRUE(LocalStore::open(home).still_current());
}

TEST(LocalStore, AFailedCreateLeavesNothingBehind) {
  ScratchDirectory scratch;
  auto home = scratch / "deep" / "home";
  // Two mail keys with one certificate: the UNIQUE constraint fails after the
  // key files are written.
  EXPECT_THROW(LocalStore::create(home, profile_record(), device_record("D1", true),
                                  {mail_key("same", KeyPurpose::Signing, "mail-1.pem"),
                                   mail_key("same", KeyPurpose::Encryption, "mail-2.pem")},
                                  {{"mail-1.pem", secret("a")}, {"mail-2.pem", secret("b")}}),
               Error);
  EXPECT_TRUE(scratch.names().empty()) << "not even the folders made for it are left";
  EXPECT_FALSE(LocalStore::exists(home));
}

TEST(LocalStore, KeyFileNamesCannotLeaveTheKeysFolder) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  for (const char* name : {"../mailseal.db", ".hidden", "a/b", "", "x y"}) {
    SCOPED_TRACE(name);
    try {
      store.read_key_file(name);
      ADD_FAILURE() << "read";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::Malformed);
    }
    EXPECT_THROW(store.write_key_file({name, secret("k")}), Error);
  }
  store.write_key_file({"extra.pem", secret("k")});
  EXPECT_THROW(store.write_key_file({"extra.pem", secret("other")}), Error) << "never overwritten";
}

TEST(LocalStore, MailKeysAreAddedAllOrNothing) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  // The second key repeats a stored certificate: nothing of the batch stays.
  std::vector<std::pair<MailKeyRecord, KeyFile>> batch{
      {mail_key("new cert", KeyPurpose::Encryption, ""), {"mail-3.pem", secret("three")}},
      {mail_key("sign cert", KeyPurpose::Signing, ""), {"mail-4.pem", secret("four")}}};
  EXPECT_THROW(store.add_mail_keys(batch), Error);
  EXPECT_EQ(store.mail_keys().size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(scratch / "home" / "keys" / "mail-3.pem")) << "the key file is removed again";

  batch.pop_back();
  store.add_mail_keys(batch);
  auto keys = store.mail_keys();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[2].key_file, "mail-3.pem") << "the record takes its file's name";
  EXPECT_EQ(keys[2].created_at, at(1000)) << "the caller's time: the store reads no clock";

  MailKeyRecord reissued = mail_key("reissued cert", KeyPurpose::Encryption, "mail-3.pem");
  store.add_mail_certificate(reissued);
  store.set_mail_key_status(keys[2].id, KeyStatus::Archived);
  keys = store.mail_keys();
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[2].status, KeyStatus::Archived);
  EXPECT_EQ(keys[3].key_file, "mail-3.pem") << "a re-issued certificate shares its key's file";
  try {
    store.add_mail_certificate(mail_key("orphan", KeyPurpose::Signing, "missing.pem"));
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NotFound);
  }
}

TEST(LocalStore, DevicesInvitesContactsAndSettings) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  store.add_device(device_record("D2", false));
  store.set_device_status(DeviceId("D2"), DeviceStatus::Removed);
  EXPECT_EQ(store.devices()[1].status, DeviceStatus::Removed);
  EXPECT_THROW(store.set_device_status(DeviceId("nobody"), DeviceStatus::Removed), Error);

  InviteRecord invite{"PIN1", secret("mac key"), DeviceRole::Read, at(5000), std::nullopt, at(4000)};
  store.add_invite(invite);
  store.mark_invite_used("PIN1", at(4500));
  auto invites = store.invites();
  ASSERT_EQ(invites.size(), 1u);
  EXPECT_EQ(invites[0].role, DeviceRole::Read);
  EXPECT_EQ(invites[0].used_at, std::optional<TimePoint>(at(4500)));
  EXPECT_EQ(invites[0].expires_at, at(5000));
  EXPECT_EQ(invites[0].created_at, at(4000));
  EXPECT_EQ(std::string(invites[0].mac_key.begin(), invites[0].mac_key.end()), "mac key");

  ContactCertificateRecord contact{0, kBob, blob("bob cert"), "CBOB", "KBOB", "", "import", at(100), at(100)};
  EXPECT_TRUE(store.upsert_contact_certificate(contact));
  contact.capabilities = "aes256-gcm";
  contact.last_seen = at(300);
  EXPECT_FALSE(store.upsert_contact_certificate(contact));
  contact.capabilities = "";
  contact.last_seen = at(200);  // an older sighting moves nothing back, forgets no capability
  EXPECT_FALSE(store.upsert_contact_certificate(contact));
  auto contacts = store.contact_certificates(kBob);
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].first_seen, at(100));
  EXPECT_EQ(contacts[0].last_seen, at(300));
  EXPECT_EQ(contacts[0].capabilities, "aes256-gcm");
  EXPECT_TRUE(store.contact_certificates(kAlice).empty());

  store.add_contact_chain_certificate(blob("issuer"), at(20));
  store.add_contact_chain_certificate(blob("issuer"), at(30));
  store.add_contact_chain_certificate(blob("older issuer"), at(10));
  EXPECT_EQ(store.contact_chain_certificates(), (std::vector<Bytes>{blob("older issuer"), blob("issuer")}))
      << "once each, in the order of their times";

  EXPECT_EQ(store.setting("service"), std::nullopt);
  store.set_setting("service", "https://a.example");
  store.set_setting("service", "https://b.example");
  EXPECT_EQ(store.setting("service"), std::optional<std::string>("https://b.example"));
}

TEST(TrustRecords, ObservationsCountDaysAndMessagesAndRefuseReplays) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustRecords records(store);
  const std::int64_t day = 86400;
  TrustRecords::Sighting first{Identity("IBOB"), "C1", "message", at(10 * day), at(10 * day), std::string("digest-1")};
  EXPECT_TRUE(records.observe(kBob, first));
  EXPECT_FALSE(records.observe(kBob, first)) << "the same message again is a replay";
  TrustRecords::Sighting same_day{Identity("IBOB"),       "C1", "message", at(10 * day + 50), at(10 * day + 30),
                                  std::string("digest-2")};
  EXPECT_TRUE(records.observe(kBob, same_day));
  // Learned on day 12, dated on day 11: the message's day counts.
  TrustRecords::Sighting next_day{Identity("IBOB"),       "C2", "message", at(12 * day), at(11 * day + 5),
                                  std::string("digest-3")};
  EXPECT_TRUE(records.observe(kBob, next_day));
  TrustRecords::Sighting import{Identity("IBOB"), "C2", "import", at(13 * day), std::nullopt, std::nullopt};
  EXPECT_TRUE(records.observe(kBob, import));
  auto observations = records.observations(kBob);
  ASSERT_EQ(observations.size(), 1u);
  EXPECT_EQ(observations[0].messages, 3);
  EXPECT_EQ(observations[0].days, 2) << "an import is no message and no day";
  EXPECT_EQ(observations[0].first_seen, at(10 * day));
  EXPECT_EQ(observations[0].last_seen, at(13 * day));
  EXPECT_EQ(observations[0].certificate, "C2");
  EXPECT_TRUE(records.observations(kAlice).empty());
}

TEST(TrustRecords, PinsEndorsementsAnchorsRevocationsDiscoveries) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustRecords records(store);

  records.add_identity(Identity("IBOB"), blob("bob root"), at(1));
  records.add_identity(Identity("IBOB"), blob("another"), at(2));
  EXPECT_EQ(records.identity_certificate(Identity("IBOB")), std::optional<Bytes>(blob("bob root")))
      << "the first one stays";
  EXPECT_EQ(records.identity_certificate(Identity("INOBODY")), std::nullopt);

  records.add_pin({kBob, "MBOB-1234", "pin", at(5)});
  records.add_pin({kBob, "MBOB-1234", "accept", at(6)});
  EXPECT_EQ(records.pins(kBob).size(), 2u);
  EXPECT_TRUE(records.pins(kAlice).empty());

  EndorsementRecord endorsement;
  endorsement.issuer = Identity("IALICE");
  endorsement.subject = Identity("IBOB");
  endorsement.amount = 90;
  endorsement.depth = 1;
  endorsement.scope = {"example.org", ".example.org"};
  endorsement.addresses = {"bob@example.org"};
  endorsement.certificate = blob("cross 1");
  EXPECT_TRUE(records.add_endorsement(endorsement));
  EXPECT_FALSE(records.add_endorsement(endorsement)) << "the same certificate once";
  endorsement.certificate = blob("cross 2");
  endorsement.exportable = false;
  EXPECT_TRUE(records.add_endorsement(endorsement));
  auto by = records.endorsements_by(Identity("IALICE"));
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by[0].scope, (std::vector<std::string>{"example.org", ".example.org"}));
  EXPECT_EQ(by[0].addresses, std::vector<std::string>{"bob@example.org"});
  EXPECT_EQ(by[0].amount, 90);
  EXPECT_EQ(records.endorsements_of(Identity("IBOB")).size(), 2u);
  EXPECT_EQ(records.exportable_endorsements(Identity("IALICE")), std::vector<Bytes>{blob("cross 1")});
  EXPECT_TRUE(records.endorsements_by(Identity("IBOB")).empty());

  records.add_anchor({"CA1", blob("ca"), 60, at(7)});
  records.add_anchor({"CA1", blob("ca"), 90, at(8)});
  ASSERT_EQ(records.anchors().size(), 1u);
  EXPECT_EQ(records.anchors()[0].amount, 90) << "adding again sets the amount";

  EXPECT_TRUE(records.add_revocation(Identity("IBOB"), "0A", "crl", at(9)));
  EXPECT_FALSE(records.add_revocation(Identity("IBOB"), "0A", "crl", at(10)));
  EXPECT_TRUE(records.add_revocation(Identity("IBOB"), "0B", "crl", at(11)));
  EXPECT_TRUE(records.is_revoked(Identity("IBOB"), "0A"));
  EXPECT_FALSE(records.is_revoked(Identity("IALICE"), "0A"));
  EXPECT_EQ(records.revoked_serials(Identity("IBOB")), (std::vector<std::string>{"0A", "0B"}));
  EXPECT_EQ(records.revoking_issuers(), std::set<Identity>{Identity("IBOB")});

  EXPECT_FALSE(records.discovery(kBob, Identity("IBOB")));
  records.add_discovery(kBob, Identity("IBOB"), "https://keys.example", DiscoveryVerification::Unverified, at(12));
  EXPECT_EQ(records.discovery(kBob, Identity("IBOB")), DiscoveryVerification::Unverified);
  EXPECT_FALSE(records.discovery(kAlice, Identity("IBOB")));
  // Found again through a service that verified the address: the latest answer counts.
  records.add_discovery(kBob, Identity("IBOB"), "https://verifying.example", DiscoveryVerification::Verified, at(13));
  EXPECT_EQ(records.discovery(kBob, Identity("IBOB")), DiscoveryVerification::Verified);
  records.add_discovery(kBob, Identity("IBOB"), "https://keys.example", DiscoveryVerification::Unverified, at(14));
  EXPECT_EQ(records.discovery(kBob, Identity("IBOB")), DiscoveryVerification::Unverified);
}

// Trust records (schema 7): what this device decides or learns is noted in
// the outbox in the same transaction; what another device decided is merged
// without being noted again; observations merge as a union.
TEST(TrustSyncRecords, DecisionsReachTheOutboxAndMergesDoNot) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustRecords records(store);
  TrustSync sync(store);
  EXPECT_TRUE(sync.outbox().empty());
  records.add_pin({kBob, "MBOB", "pin", at(10)});
  records.add_pin({kBob, "MBOB", "pin", at(11)});
  records.add_anchor({"MANCHOR", blob("anchor"), 60, at(12)});
  auto outbox = sync.outbox();
  ASSERT_EQ(outbox.size(), 2u) << "one entry per pin, however often it is made";
  EXPECT_EQ(outbox[0].kind, kChangePin);
  EXPECT_EQ(outbox[0].ref, "bob@example.org\nMBOB\npin");
  EXPECT_EQ(outbox[1].kind, kChangeAnchor);
  records.merge_pin({kBob, "MOTHER", "pin", at(13)});
  EXPECT_EQ(sync.outbox().size(), 2u) << "a merged pin is not sent again";
  EXPECT_EQ(records.pins(kBob).size(), 2u);
  sync.discard_outbox(0, outbox[0].id);
  EXPECT_EQ(sync.outbox().size(), 1u);
  EXPECT_EQ(sync.outbox_mark(), outbox[1].id);
}

TEST(TrustSyncRecords, ALocalDecisionSettlesAConflict) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustSync sync(store);
  sync.set_conflict({kBob.str(), DeviceId("MA"), "pin MX", DeviceId("MB"), "pin MY"});
  sync.set_conflict({kAlice.str(), DeviceId("MA"), "pin MX", DeviceId("MB"), "pin MY"});
  EXPECT_EQ(sync.conflicts().size(), 2u);
  EXPECT_EQ(sync.conflicts(kBob.str()).at(0).value_b, "pin MY");
  TrustRecords(store).add_pin({kBob, "MY", "pin", at(10)});
  EXPECT_TRUE(sync.conflicts(kBob.str()).empty());
  EXPECT_EQ(sync.conflicts().size(), 1u);
}

TEST(TrustSyncRecords, RemovalsAreNotedAndSettleConflictsLikeDecisions) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustSync sync(store);
  TrustRecords records(store);
  records.add_pin({kBob, "MX", "pin", at(1)});
  records.add_pin({kBob, "MY", "accept", at(2)});
  records.add_pin({kAlice, "MZ", "pin", at(3)});
  sync.set_conflict({pin_subject(kBob), DeviceId("MA"), "pin MX", DeviceId("MB"), "unpin MX"});
  EXPECT_EQ(records.remove_pins(kBob, std::string("MX")), 1);
  ASSERT_EQ(records.pins(kBob).size(), 1u);
  EXPECT_TRUE(sync.conflicts(pin_subject(kBob)).empty()) << "an unpin made here knows both sides";
  EXPECT_EQ(records.remove_pins(kBob, std::nullopt), 1);
  EXPECT_TRUE(records.pins(kBob).empty());
  EXPECT_EQ(records.pins(kAlice).size(), 1u) << "another address keeps its pin";
  bool unpin_all = false;
  for (const auto& entry : sync.outbox())
    unpin_all = unpin_all || (entry.kind == kChangeUnpin && entry.ref == kBob.str() + "\n*");
  EXPECT_TRUE(unpin_all) << "removing every pin is noted as '*'";

  records.add_anchor({"MANCHOR", blob("ca"), 60, at(4)});
  sync.set_conflict(
      {anchor_subject("MANCHOR"), DeviceId("MA"), "anchor MANCHOR 60", DeviceId("MB"), "anchor MANCHOR 90"});
  records.add_anchor({"MANCHOR", blob("ca"), 90, at(5)});
  EXPECT_EQ(records.anchors().at(0).amount, 90);
  EXPECT_TRUE(sync.conflicts().size() == 0) << "changing the amount here settles it";
  EXPECT_TRUE(records.remove_anchor("MANCHOR"));
  EXPECT_FALSE(records.remove_anchor("MANCHOR")) << "nothing left to remove";
  EXPECT_TRUE(records.anchors().empty());

  EndorsementRecord endorsement;
  endorsement.issuer = Identity("IME");
  endorsement.subject = Identity("ICAROL");
  endorsement.certificate = blob("cross");
  records.add_endorsement(endorsement);
  endorsement.subject = Identity("IDAVE");
  endorsement.certificate = blob("cross2");
  records.add_endorsement(endorsement);
  EXPECT_EQ(records.withdraw_endorsements(Identity("IME"), Identity("ICAROL")), 1);
  ASSERT_EQ(records.endorsements_by(Identity("IME")).size(), 1u);
  EXPECT_EQ(records.endorsements_by(Identity("IME")).at(0).subject, Identity("IDAVE"));
  EXPECT_EQ(endorsement_subject(Identity("IME"), Identity("ICAROL")), "endorsement:IME:ICAROL");
  EXPECT_FALSE(subject_address(anchor_subject("MANCHOR")).has_value());
  EXPECT_EQ(subject_address(pin_subject(kBob)), kBob);
}

TEST(TrustSyncRecords, DecisionsReachTheOutboxInTheOrderTheyWereMade) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustRecords records(store);
  records.add_pin({kBob, "MX", "pin", at(1)});
  records.remove_pins(kBob, std::string("MX"));
  records.add_pin({kBob, "MX", "pin", at(2)});
  auto outbox = TrustSync(store).outbox();
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_EQ(outbox[0].kind, kChangeUnpin);
  EXPECT_EQ(outbox[1].kind, kChangePin) << "pinned again: the pin comes last, so it is what the record ends with";
}

TEST(TrustSyncRecords, AnotherDevicesUnpinKeepsWhatWasDecidedLater) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustRecords records(store);
  records.merge_pin({kBob, "MX", "pin", at(1)});
  records.merge_pin({kBob, "MY", "pin", at(2)});
  records.merge_unpin(kBob, std::string(kAllTargets), {"MY"});
  ASSERT_EQ(records.pins(kBob).size(), 1u);
  EXPECT_EQ(records.pins(kBob).at(0).fingerprint, "MY");
  records.merge_unpin(kBob, "MY", {});
  EXPECT_TRUE(records.pins(kBob).empty());
  EXPECT_TRUE(TrustSync(store).outbox().empty()) << "merged changes are not this device's to send";
}

TEST(TrustSyncRecords, ObservationsMergeAsAUnionAndTwiceChangesNothing) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustRecords records(store);
  records.observe(kBob, {Identity("IBOB"), "CERT1", "message", at(100), at(100), std::string("digest1")});
  ObservationRecord other{kBob, Identity("IBOB"), "CERT2", "message", at(50), at(500), 4, 7};
  records.merge_observation(other);
  records.merge_observation(other);
  auto merged = records.observation(kBob, Identity("IBOB"));
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(merged->first_seen, at(50));
  EXPECT_EQ(merged->last_seen, at(500));
  EXPECT_EQ(merged->days, 4);
  EXPECT_EQ(merged->messages, 7);
  EXPECT_EQ(merged->certificate, "CERT2") << "the newest sighting's certificate";
  ObservationRecord older{kBob, Identity("IBOB"), "CERT0", "import", at(60), at(70), 1, 1};
  records.merge_observation(older);
  auto again = records.observation(kBob, Identity("IBOB"));
  EXPECT_EQ(again->first_seen, at(50));
  EXPECT_EQ(again->last_seen, at(500));
  EXPECT_EQ(again->messages, 7) << "nothing is lost, nothing counted twice";
  EXPECT_EQ(again->certificate, "CERT2");
  records.merge_observation({kBob, Identity("INEW"), "CERT3", "message", at(1), at(2), 1, 1});
  EXPECT_EQ(records.observations(kBob).size(), 2u);
}

TEST(TrustSyncRecords, HeadProofsAreKeptByDeviceAndNumber) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustSync sync(store);
  EXPECT_EQ(sync.head_proof(DeviceId("MA"), 2), std::nullopt);
  EXPECT_EQ(sync.first_head_proof(DeviceId("MA")), std::nullopt);
  sync.set_head_proof({DeviceId("MA"), 3, blob("digest 3 first"), blob("signature 3 first")});
  sync.set_head_proof({DeviceId("MB"), 1, blob("digest 1"), blob("signature 1")});
  sync.set_head_proof({DeviceId("MA"), 2, blob("digest 2"), blob("signature 2")});
  sync.set_head_proof({DeviceId("MA"), 3, blob("digest 3"), blob("signature 3")});
  auto three = sync.head_proof(DeviceId("MA"), 3);
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->digest, blob("digest 3")) << "one per record: merged again, the last one is kept";
  EXPECT_EQ(three->signature, blob("signature 3"));
  EXPECT_EQ(sync.head_proof(DeviceId("MA"), 2)->digest, blob("digest 2"));
  EXPECT_EQ(sync.head_proof(DeviceId("MB"), 1)->signature, blob("signature 1"));
  EXPECT_EQ(sync.head_proof(DeviceId("MB"), 2), std::nullopt);
  EXPECT_EQ(sync.first_head_proof(DeviceId("MA")), 2);
  EXPECT_EQ(sync.first_head_proof(DeviceId("MB")), 1);
  EXPECT_EQ(sync.first_head_proof(DeviceId("MC")), std::nullopt);
}

// Schema 11: a record that waits keeps the time it first waited across
// syncs; a wait that ended (merged, judged) is forgotten, and a record
// waiting again later starts anew.
TEST(TrustSyncRecords, RecordWaitsKeepTheirFirstTimeAndForgetTheEnded) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustSync sync(store);
  EXPECT_TRUE(sync.record_waits().empty());
  sync.set_record_waits({{DeviceId("MA"), 4, at(10)}, {DeviceId("MB"), 2, at(10)}});
  sync.set_record_waits({{DeviceId("MA"), 4, at(20)}, {DeviceId("MB"), 2, at(20)}, {DeviceId("MC"), 1, at(20)}});
  auto waits = sync.record_waits();
  ASSERT_EQ(waits.size(), 3u);
  EXPECT_EQ(waits[0].device_id, DeviceId("MA"));
  EXPECT_EQ(waits[0].since, at(10)) << "a record still waiting keeps its first time";
  EXPECT_EQ(waits[1].since, at(10));
  EXPECT_EQ(waits[2].since, at(20)) << "a record found waiting now starts now";
  // MA's record 4 merged and its record 5 waits; MB's wait was judged.
  sync.set_record_waits({{DeviceId("MA"), 5, at(30)}, {DeviceId("MC"), 1, at(30)}});
  waits = sync.record_waits();
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_EQ(waits[0].seq, 5);
  EXPECT_EQ(waits[0].since, at(30)) << "the next record's wait starts when it is the first that waits";
  EXPECT_EQ(waits[1].device_id, DeviceId("MC"));
  EXPECT_EQ(waits[1].since, at(20));
  sync.set_record_waits({});
  EXPECT_TRUE(sync.record_waits().empty()) << "every wait ended";
}

TEST(TrustSyncRecords, RewindForgetsWhatWasMergedAfterThePositionOfThatDeviceOnly) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustSync sync(store);
  for (std::int64_t seq = 1; seq <= 4; ++seq) {
    sync.set_position({DeviceId("MA"), seq, blob("h" + std::to_string(seq)), seq * 2});
    sync.set_head_proof({DeviceId("MA"), seq, blob("digest"), blob("signature")});
  }
  sync.set_position({DeviceId("MB"), 3, blob("b3"), 7});
  sync.set_head_proof({DeviceId("MB"), 3, blob("digest"), blob("signature")});
  sync.rewind_position({DeviceId("MA"), 2, blob("h2"), 4});
  auto positions = sync.positions();
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].seq, 2);
  EXPECT_EQ(positions[0].lamport, 4);
  EXPECT_EQ(sync.record_hash(DeviceId("MA"), 2), blob("h2")) << "the records up to it stay";
  EXPECT_EQ(sync.record_hash(DeviceId("MA"), 3), std::nullopt) << "another fork's hashes are forgotten";
  EXPECT_EQ(sync.head_proof(DeviceId("MA"), 4), std::nullopt) << "and its head proofs";
  EXPECT_TRUE(sync.head_proof(DeviceId("MA"), 2).has_value());
  EXPECT_EQ(sync.record_hash(DeviceId("MB"), 3), blob("b3")) << "another device's are not touched";
  EXPECT_TRUE(sync.head_proof(DeviceId("MB"), 3).has_value());
  EXPECT_EQ(sync.record_times().size(), 5u) << "times stay: records that named them are judged by them";
  sync.rewind_position({DeviceId("MA"), 0, {}, 0});
  positions = sync.positions();
  ASSERT_EQ(positions.size(), 1u) << "back to none of its records";
  EXPECT_EQ(positions[0].device_id, DeviceId("MB"));
  EXPECT_EQ(sync.record_hash(DeviceId("MA"), 1), std::nullopt);
  EXPECT_EQ(sync.first_head_proof(DeviceId("MA")), std::nullopt);
}

TEST(TrustSyncRecords, PositionsTimesOwnRecordsAndDecisionsReadBack) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  TrustSync sync(store);
  EXPECT_EQ(sync.last_own_record(), 0) << "none yet";
  sync.add_own_record(1, blob("sealed one"));
  sync.add_own_record(2, blob("sealed two"));
  EXPECT_EQ(sync.last_own_record(), 2);
  sync.mark_uploaded(1);
  auto own = sync.own_records();
  ASSERT_EQ(own.size(), 2u);
  EXPECT_TRUE(own[0].uploaded);
  EXPECT_FALSE(own[1].uploaded);
  sync.set_position({DeviceId("MA"), 1, blob("h1"), 3});
  sync.set_position({DeviceId("MA"), 2, blob("h2"), 5});
  auto positions = sync.positions();
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0].seq, 2);
  EXPECT_EQ(positions[0].lamport, 5);
  sync.add_record_time({DeviceId("MB"), 1, 4});
  auto times = sync.record_times();
  ASSERT_EQ(times.size(), 3u) << "every record a position moved to keeps its time";
  EXPECT_EQ(times[0].seq, 1);
  EXPECT_EQ(times[0].lamport, 3);
  EXPECT_EQ(times[1].lamport, 5);
  EXPECT_EQ(times[2].device_id, DeviceId("MB"));
  EXPECT_EQ(times[2].lamport, 4);
  EXPECT_EQ(sync.record_time(DeviceId("MA"), 2), 5) << "one record's time";
  EXPECT_EQ(sync.record_time(DeviceId("MA"), 3), std::nullopt) << "not known";
  EXPECT_EQ(sync.record_hash(DeviceId("MA"), 1), blob("h1")) << "every record a position moved to keeps its hash";
  EXPECT_EQ(sync.record_hash(DeviceId("MA"), 2), blob("h2"));
  EXPECT_EQ(sync.record_hash(DeviceId("MB"), 1), std::nullopt) << "a time learned otherwise has no hash";
  sync.add_decision({kBob.str(), DeviceId("MB"), 1, 4, "pin MY", "", std::nullopt});
  sync.add_decision({kBob.str(), DeviceId("MA"), 2, 2, "pin MZ", "MB=0", "[]"});
  sync.add_decision({kBob.str(), DeviceId("MA"), 2, 2, "pin MX", "MB=0", R"([{"kind":"pin"}])"});
  sync.add_decision({"anchor:MQ", DeviceId("MA"), 3, 6, "anchor MQ 60", "MB=1", std::nullopt});
  auto decisions = sync.decisions(kBob.str());
  ASSERT_EQ(decisions.size(), 2u) << "one row per record and subject";
  EXPECT_EQ(decisions[0].value, "pin MX") << "the record's last word";
  EXPECT_EQ(decisions[0].device_id, DeviceId("MA")) << "by lamport";
  EXPECT_EQ(decisions[0].frontier, "MB=0");
  EXPECT_EQ(decisions[0].changes, R"([{"kind":"pin"}])") << "the changes kept with it";
  EXPECT_EQ(decisions[1].changes, std::nullopt) << "none noted";
  auto after = sync.decisions_after(DeviceId("MA"), 1);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].subject, kBob.str()) << "by number";
  EXPECT_EQ(after[1].subject, "anchor:MQ");
  EXPECT_TRUE(sync.decisions_after(DeviceId("MA"), 3).empty());
  sync.remove_decisions_after(DeviceId("MA"), 2);
  EXPECT_EQ(sync.decisions_after(DeviceId("MA"), 0).size(), 1u) << "only those after the number go";
  EXPECT_EQ(sync.decisions(kBob.str()).size(), 2u);
}

// A store as an older mailseal left it: the tables of later schemas removed,
// the version set back.
void make_schema(Database& database, std::int64_t version) {
  if (version < 13) {
    database.execute("ALTER TABLE record_decisions DROP COLUMN changes; DROP TABLE record_hashes;");
  }
  if (version < 12) {
    database.execute(
        "ALTER TABLE devices DROP COLUMN removal_cut_seq; ALTER TABLE devices DROP COLUMN removal_cut_hash;");
  }
  if (version < 11) {
    database.execute("DROP TABLE record_waits;");
  }
  if (version < 10) {
    database.execute("DROP TABLE record_head_proofs;");
  }
  if (version < 9) {
    database.execute("DROP TABLE record_times;");
  }
  if (version < 8) {
    database.execute("ALTER TABLE discoveries DROP COLUMN verified;");
  }
  if (version < 7) {
    database.execute(
        "DROP TABLE records_keys; DROP TABLE trust_outbox; DROP TABLE own_records; DROP TABLE record_positions; "
        "DROP TABLE record_decisions; DROP TABLE record_conflicts;");
  }
  if (version < 6) {
    database.execute("DROP TABLE client_setups;");
  }
  if (version < 5) {
    database.execute("DROP TABLE gateway_credentials;");
  }
  if (version < 4) {
    database.execute("DROP TABLE invites; ALTER TABLE profile DROP COLUMN root_seed_file;");
  }
  if (version < 3) {
    database.execute(
        "DROP TABLE identities; DROP TABLE pins; DROP TABLE observations; DROP TABLE learned_messages; "
        "DROP TABLE endorsements; DROP TABLE trust_anchors; DROP TABLE revocations; DROP TABLE discoveries;");
  }
  if (version < 2) {
    database.execute("DROP TABLE contact_certificates; DROP TABLE contact_chain_certificates;");
  }
  database.set_user_version(version);
}

class SchemaMigration : public ::testing::TestWithParam<int> {};

TEST_P(SchemaMigration, OlderStoresGainTheLaterTablesAndKeepTheirRecords) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  {
    LocalStore store = create_store(home);
    make_schema(store.database(), GetParam());
    EXPECT_EQ(store.database().user_version(), GetParam());
  }
  LocalStore store = LocalStore::open(home);
  EXPECT_EQ(store.database().user_version(), kSchemaVersion);
  EXPECT_EQ(store.profile().name, "Alice");
  EXPECT_EQ(store.profile().root_seed_file, GetParam() < 4 ? "" : "seed-1.pem");
  EXPECT_EQ(store.mail_keys().size(), 2u);
  // Every table of the current schema is usable.
  TrustRecords records(store);
  records.add_revocation(Identity("I"), "01", "crl", at(1));
  EXPECT_TRUE(records.is_revoked(Identity("I"), "01"));
  EXPECT_TRUE(store.upsert_contact_certificate({0, kBob, blob("c"), "F", "K", "", "import", at(1), at(1)}));
  store.add_invite({"P", secret("m"), DeviceRole::Full, at(2), std::nullopt, at(1)});
  EXPECT_EQ(store.invites().size(), 1u);
  store.add_gateway_credential({"mutt", blob("h"), {kAlice}, at(3)});
  EXPECT_EQ(store.gateway_credentials().size(), 1u);
  store.remember_client_setup({"thunderbird", "/p", "S", at(4)});
  EXPECT_EQ(store.client_setups().size(), 1u);
  records.add_discovery(kBob, Identity("IBOB"), "https://keys.example", DiscoveryVerification::Verified, at(5));
  EXPECT_EQ(records.discovery(kBob, Identity("IBOB")), DiscoveryVerification::Verified);
  TrustSync(store).set_head_proof({DeviceId("MA"), 1, blob("d"), blob("s")});
  EXPECT_TRUE(TrustSync(store).head_proof(DeviceId("MA"), 1).has_value());
  TrustSync(store).set_record_waits({{DeviceId("MA"), 2, at(6)}});
  EXPECT_EQ(TrustSync(store).record_waits().size(), 1u);
  // Schema 12: a device removed before names no cut; one removed since does.
  const DeviceId self = store.devices().front().device_id;
  EXPECT_EQ(store.devices().front().removal_cut, std::nullopt);
  store.set_device_removal_cut(self, {3, blob("h")});
  EXPECT_EQ(store.devices().front().removal_cut, (RemovalCut{3, blob("h")}));
  // Schema 13: decisions keep their changes, records their hashes.
  TrustSync(store).add_decision({kBob.str(), DeviceId("MA"), 1, 1, "pin MX", "", "[]"});
  EXPECT_EQ(TrustSync(store).decisions(kBob.str()).front().changes, "[]");
  TrustSync(store).set_position({DeviceId("MA"), 1, blob("h1"), 1});
  EXPECT_EQ(TrustSync(store).record_hash(DeviceId("MA"), 1), blob("h1"));
}

INSTANTIATE_TEST_SUITE_P(FromVersion, SchemaMigration, ::testing::Values(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13));

// Schema 8 adds whether a discovery was verified: one recorded before says
// nothing about it, so it stays unverified.
TEST(SchemaMigration, DiscoveriesFromBeforeVerificationWasRecordedAreUnverified) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  {
    LocalStore store = create_store(home);
    TrustRecords(store).add_discovery(kBob, Identity("IBOB"), "https://keys.example",
                                      DiscoveryVerification::Verified, at(1));
    make_schema(store.database(), 7);
  }
  LocalStore store = LocalStore::open(home);
  EXPECT_EQ(TrustRecords(store).discovery(kBob, Identity("IBOB")), DiscoveryVerification::Unverified);
}

// Schema 9 keeps the time of every record merged or written; a store from
// before gains the times it knew: of the records that carried a decision
// and of each device's last one (a read-only device's position kept as 0
// by older writers is no time).
TEST(SchemaMigration, RecordTimesFromBeforeSchema9AreTheDecisionsAndPositions) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  {
    LocalStore store = create_store(home);
    TrustSync sync(store);
    sync.set_position({DeviceId("MA"), 4, blob("h4"), 9});
    sync.set_position({DeviceId("MR"), 2, blob("r2"), 0});
    sync.add_decision({kBob.str(), DeviceId("MA"), 2, 5, "pin MX", "", std::nullopt});
    sync.add_decision({"anchor:MY", DeviceId("MA"), 2, 5, "anchor MY 120", "", std::nullopt});
    sync.add_decision({kBob.str(), DeviceId("MB"), 1, 3, "pin MZ", "", std::nullopt});
    make_schema(store.database(), 8);
  }
  LocalStore store = LocalStore::open(home);
  std::vector<std::tuple<std::string, std::int64_t, std::int64_t>> times;
  for (const auto& time : TrustSync(store).record_times())
    times.emplace_back(time.device_id.str(), time.seq, time.lamport);
  EXPECT_EQ(times, (std::vector<std::tuple<std::string, std::int64_t, std::int64_t>>{
                       {"MA", 2, 5}, {"MA", 4, 9}, {"MB", 1, 3}}));
}

// Schema 11 keeps since when records wait; a store from before knew of no
// wait, keeps what it held, and its waits start at the next sync.
TEST(SchemaMigration, AStoreFromBeforeSchema11KnowsNoWaitAndKeepsItsPositions) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  {
    LocalStore store = create_store(home);
    TrustSync(store).set_position({DeviceId("MA"), 3, blob("h3"), 7});
    make_schema(store.database(), 10);
    EXPECT_EQ(store.database().user_version(), 10);
  }
  LocalStore store = LocalStore::open(home);
  EXPECT_EQ(store.database().user_version(), kSchemaVersion);
  TrustSync sync(store);
  EXPECT_TRUE(sync.record_waits().empty());
  ASSERT_EQ(sync.positions().size(), 1u);
  EXPECT_EQ(sync.positions()[0].seq, 3);
  sync.set_record_waits({{DeviceId("MA"), 4, at(40)}});
  ASSERT_EQ(sync.record_waits().size(), 1u);
  EXPECT_EQ(sync.record_waits()[0].since, at(40));
}

TEST(ClientSetups, RememberedByKindAndLocationTheLastStateWins) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  store.remember_client_setup({"thunderbird", "/home/a/.thunderbird/x", "S1", at(1)});
  store.remember_client_setup({"mutt", "/home/a/.mutt/mailseal", "M1", at(2)});
  store.remember_client_setup({"thunderbird", "/home/a/.thunderbird/x", "S2", at(3)});
  auto all = store.client_setups();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, "mutt");
  EXPECT_EQ(all[1].state, "S2");
  EXPECT_EQ(all[1].set_up_at, at(3));
}

TEST(GatewayCredentials, AddListReplaceRemove) {
  ScratchDirectory scratch;
  LocalStore store = create_store(scratch / "home");
  store.add_gateway_credential({"mutt", blob("h1"), {}, at(1)});
  store.add_gateway_credential({"laptop", blob("h2"), {kAlice, kBob}, at(2)});
  EXPECT_THROW(store.add_gateway_credential({"mutt", blob("h3"), {}, at(3)}), Error);
  auto all = store.gateway_credentials();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "laptop");
  EXPECT_EQ(all[0].addresses, (std::vector<EmailAddress>{kAlice, kBob}));
  EXPECT_EQ(all[1].secret_hash, blob("h1"));
  EXPECT_TRUE(all[1].addresses.empty());
  store.replace_gateway_credential({"mutt", blob("h4"), {kAlice}, at(4)});
  EXPECT_EQ(store.gateway_credentials()[1].secret_hash, blob("h4"));
  EXPECT_TRUE(store.remove_gateway_credential("mutt"));
  EXPECT_FALSE(store.remove_gateway_credential("mutt"));
  EXPECT_EQ(store.gateway_credentials().size(), 1u);
}

TEST(Schema, NewerAndUnknownVersionsAreRefused) {
  ScratchDirectory scratch;
  auto home = scratch / "home";
  create_store(home);
  {
    Database database = Database::open(home / "mailseal.db", OpenMode::ReadWrite);
    database.set_user_version(kSchemaVersion + 1);
  }
  try {
    LocalStore::open(home);
    FAIL() << "a newer schema";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(error.what()).find("newer mailseal"), std::string::npos) << error.what();
  }
  {
    Database database = Database::open(home / "mailseal.db", OpenMode::ReadWrite);
    database.set_user_version(0);
  }
  try {
    LocalStore::open(home);
    FAIL() << "schema 0";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Malformed);
  }
  try {
    LocalStore::open(scratch / "nowhere");
    FAIL() << "no store";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::NotFound);
    EXPECT_NE(error.hint().find("mailseal init"), std::string::npos);
  }
}

class TransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_.emplace(Database::open(scratch_ / "t.db", OpenMode::ReadWriteCreate));
    database_->execute("CREATE TABLE scratch (value INTEGER);");
  }
  void insert(int value) {
    database_->prepare("INSERT INTO scratch VALUES (?1)").bind(1, std::int64_t{value}).run();
  }
  std::int64_t rows() { return count_rows(*database_, "scratch"); }

  ScratchDirectory scratch_;
  std::optional<Database> database_;
};

TEST_F(TransactionTest, RolledBackUnlessCommitted) {
  {
    Transaction transaction(*database_);
    insert(1);
    EXPECT_EQ(rows(), 1);
  }
  EXPECT_EQ(rows(), 0);
  {
    Transaction transaction(*database_);
    insert(2);
    transaction.commit();
  }
  EXPECT_EQ(rows(), 1);
}

TEST_F(TransactionTest, AnExceptionRollsBack) {
  try {
    Transaction transaction(*database_);
    insert(1);
    database_->execute("INSERT INTO no_such_table VALUES (1);");
    transaction.commit();
  } catch (const Error&) {
  }
  EXPECT_EQ(rows(), 0);
}

TEST_F(TransactionTest, AnInnerTransactionRollsBackAloneInsideAnOuterOne) {
  {
    Transaction outer(*database_);
    insert(1);
    {
      Transaction inner(*database_);
      insert(2);
      // No commit: the savepoint is rolled back.
    }
    outer.commit();
  }
  auto sum = database_->prepare("SELECT COUNT(*), SUM(value) FROM scratch");
  ASSERT_TRUE(sum.step());
  EXPECT_EQ(sum.column_int(0), 1);
  EXPECT_EQ(sum.column_int(1), 1);
}

TEST_F(TransactionTest, ACommittedInnerOneGoesWithItsOuterOne) {
  {
    Transaction outer(*database_);
    {
      Transaction inner(*database_);
      insert(1);
      inner.commit();
    }
    // The outer transaction is not committed: the inner one's row goes too.
  }
  EXPECT_EQ(rows(), 0);
}

TEST_F(TransactionTest, ParametersAreBoundNeverSpliced) {
  database_->execute("CREATE TABLE names (name TEXT);");
  const std::string hostile = "x'); DROP TABLE names; --";
  database_->prepare("INSERT INTO names VALUES (?1)").bind(1, hostile).run();
  auto read = database_->prepare("SELECT name FROM names");
  ASSERT_TRUE(read.step());
  EXPECT_EQ(read.column_text(0), hostile);
  EXPECT_EQ(count_rows(*database_, "names"), 1);
}

}  // namespace
}  // namespace mailseal::store
