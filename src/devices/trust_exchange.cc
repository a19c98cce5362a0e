// Trust records that follow the person (docs/service.md, "Trust records"):
// the records keys and roster carried in key bundles, writing this device's
// log, sending it, and merging the other devices' logs after checking that
// the service served them whole, in order and unaltered.

#include "devices/internal/trust_exchange.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "devices/internal/decisions.h"
#include "devices/internal/merge.h"
#include "devices/internal/record_waits.h"
#include "devices/internal/records.h"
#include "devices/internal/roster.h"
#include "devices/internal/steps.h"
#include "mailseal/common/error.h"
#include "mailseal/crypto/keys.h"
#include "mailseal/crypto/symmetric.h"
#include "mailseal/profile/issuing.h"
#include "mailseal/store/store_error.h"
#include "mailseal/store/trust_records.h"
#include "mailseal/store/trust_sync.h"
#include "mailseal/udf/udf.h"

namespace mailseal::devices::internal {

namespace {

constexpr std::string_view kMaterialSetting = "records.material_sent";
constexpr std::string_view kLastSyncSetting = "records.last_sync";
// Followed by a removed device's id: what a sync did about its records
// merged past its cut, until a report says it (note_past_cut).
constexpr std::string_view kPastCutSetting = "records.past_cut_report.";
// The records key is kept as a P-256 private key, so that its file is a key
// file like the others (encrypted with the store's passphrase, carried in
// bundles as PKCS#8); the AES key is derived from its scalar.
constexpr std::string_view kRecordsKeyPurpose = "mailseal trust records";

SecretBytes read_records_key(store::LocalStore& store, const store::RecordsKeyRecord& key,
                             const KeyAccess& key_access) {
  SecretBytes pem = store.read_key_file(key.key_file);
  SecretBytes scalar = profile::read_key_file_pem(as_string_view(pem), key_access).ec_scalar();
  return crypto::derive_symmetric_key(ByteView(scalar.data(), scalar.size()), kRecordsKeyPurpose);
}

void store_records_key(store::LocalStore& store, const std::string& key_id, const crypto::PrivateKey& key,
                       store::KeyStatus status, const KeyAccess& key_access, TimePoint now) {
  store::KeyFile file = profile::key_file("records", key, key_access);
  store::TrustSync(store).add_records_key({key_id, file.name, status, now}, file);
}

std::vector<std::string> split_ref(const std::string& ref) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t end = ref.find('\n'); end != std::string::npos; end = ref.find('\n', start)) {
    out.push_back(ref.substr(start, end - start));
    start = end + 1;
  }
  out.push_back(ref.substr(start));
  return out;
}

}  // namespace

std::vector<BundleRecordsKey> bundle_records_keys(store::LocalStore& store, const KeyAccess& key_access) {
  std::vector<BundleRecordsKey> out;
  for (const auto& key : store::TrustSync(store).records_keys()) {
    SecretBytes pem = store.read_key_file(key.key_file);
    out.push_back({key.key_id, profile::read_key_file_pem(as_string_view(pem), key_access).to_pkcs8_pem(), key.status});
  }
  return out;
}

void take_records_material(store::LocalStore& store, const KeyBundle& bundle, const KeyAccess& key_access,
                           TimePoint now) {
  store::TrustSync sync(store);
  KeyStatuses held;
  for (const auto& key : sync.records_keys())
    held.emplace(key.key_id, key.status);
  KeyStatuses offered;
  for (const auto& key : bundle.records_keys)
    offered.emplace(key.key_id, key.status);
  // Two admin devices that rotated at once agree on one current key
  // (roster.h); a key archived anywhere stays archived.
  const KeyStatuses merged = merge_records_keys(held, offered);
  // Archived ones first, so the current one stays current.
  for (const auto status : {store::KeyStatus::Archived, store::KeyStatus::Current}) {
    for (const auto& key : bundle.records_keys) {
      if (merged.at(key.key_id) == status && !held.count(key.key_id)) {
        crypto::PrivateKey private_key = crypto::PrivateKey::from_pkcs8_pem(as_string_view(key.key), nullptr);
        store_records_key(store, key.key_id, private_key, status, key_access, now);
      }
    }
  }
  for (const auto& [key_id, status] : held) {
    if (merged.at(key_id) != status)
      sync.set_records_key_status(key_id, merged.at(key_id));
  }
  // The roster: a removal is final and a role only goes down, whatever
  // order bundles arrive in (an older one served again included).
  const crypto::Certificate root = crypto::Certificate::from_der(store.profile().root_certificate);
  apply_roster_changes(store, merge_roster(store.devices(), bundle.roster, root), now);
}

bool ensure_records_key(store::LocalStore& store, const KeyAccess& key_access, TimePoint now) {
  if (!store::TrustSync(store).records_keys().empty())
    return false;
  rotate_records_key(store, key_access, now);
  return true;
}

void rotate_records_key(store::LocalStore& store, const KeyAccess& key_access, TimePoint now) {
  store_records_key(store, to_hex(crypto::random_bytes(kRecordsKeyIdBytes)),
                    crypto::PrivateKey::generate(crypto::KeyType::P256), store::KeyStatus::Current, key_access, now);
}

namespace {

std::string material_state(store::LocalStore& store) {
  std::string state;
  for (const auto& key : store::TrustSync(store).records_keys())
    state += key.key_id + ":" + std::string(store::to_string(key.status)) + ";";
  for (const auto& device : store.devices()) {
    state += device.device_id.str() + ":" + std::string(store::to_string(device.role)) + ":" +
             std::string(store::to_string(device.status)) + ";";
    if (device.removal_cut)
      state += fmt::format("cut {} {};", device.removal_cut->seq, to_hex(device.removal_cut->hash));
  }
  return to_hex(crypto::sha256(as_bytes(state)));
}

}  // namespace

bool records_material_changed(store::LocalStore& store) {
  return store.setting(kMaterialSetting) != material_state(store);
}

void remember_records_material(store::LocalStore& store) {
  store.set_setting(kMaterialSetting, material_state(store));
}

// --- Writing this device's log ---

namespace {

// A removal: what it names is gone from the store, so the outbox entry's
// reference is the whole change. nullopt for other kinds.
std::optional<Change> removal_of(const store::OutboxEntry& entry, TimePoint now) {
  const std::vector<std::string> parts = split_ref(entry.ref);
  Change change;
  change.kind = entry.kind;
  change.at = now;
  if (entry.kind == store::kChangeUnpin && parts.size() == 2) {
    change.address = EmailAddress::parse(parts[0]);
    change.fingerprint = parts[1];
  } else if (entry.kind == store::kChangeUnanchor) {
    change.fingerprint = entry.ref;
  } else if (entry.kind == store::kChangeWithdrawal && parts.size() == 2) {
    change.issuer = parts[0];
    change.subject = parts[1];
  } else {
    return std::nullopt;
  }
  return change;
}

std::optional<Change> change_of(store::LocalStore& store, const store::OutboxEntry& entry, TimePoint now) {
  if (auto removal = removal_of(entry, now))
    return removal;
  store::TrustRecords records(store);
  const std::vector<std::string> parts = split_ref(entry.ref);
  Change change;
  change.kind = entry.kind;
  if (entry.kind == store::kChangePin && parts.size() == 3) {
    const EmailAddress address = EmailAddress::parse(parts[0]);
    auto pin = records.pin(address, parts[1], parts[2]);
    if (!pin)
      return std::nullopt;
    change.address = address;
    change.fingerprint = pin->fingerprint;
    change.pin_kind = pin->kind;
    change.at = pin->created_at;
  } else if (entry.kind == store::kChangeAnchor) {
    auto anchors = records.anchors();
    auto anchor = std::find_if(anchors.begin(), anchors.end(),
                               [&](const store::AnchorRecord& item) { return item.fingerprint == entry.ref; });
    if (anchor == anchors.end())
      return std::nullopt;
    change.fingerprint = anchor->fingerprint;
    change.certificate = anchor->certificate;
    change.amount = anchor->amount;
    change.at = anchor->added_at;
  } else if (entry.kind == store::kChangeEndorsement) {
    auto endorsement = records.endorsement(std::stoll(entry.ref));
    if (!endorsement)
      return std::nullopt;
    change.certificate = endorsement->certificate;
    change.issuer = endorsement->issuer.str();
    change.subject = endorsement->subject.str();
    change.amount = endorsement->amount;
    change.depth = endorsement->depth;
    change.scope = endorsement->scope;
    change.addresses = endorsement->addresses;
    change.endorsement_kind = endorsement->kind;
    change.exportable = endorsement->exportable;
    change.at = endorsement->created_at;
  } else if (entry.kind == store::kChangeIdentity) {
    auto certificate = records.identity_certificate(Identity(entry.ref));
    if (!certificate)
      return std::nullopt;
    change.fingerprint = entry.ref;
    change.certificate = *certificate;
  } else if (entry.kind == store::kChangeObservation && parts.size() == 2) {
    const EmailAddress address = EmailAddress::parse(parts[0]);
    auto observation = records.observation(address, Identity(parts[1]));
    if (!observation)
      return std::nullopt;
    change.address = address;
    change.fingerprint = parts[1];
    change.certificate_fingerprint = observation->certificate;
    change.source = observation->source;
    change.first_seen = observation->first_seen;
    change.last_seen = observation->last_seen;
    change.days = observation->days;
    change.messages = observation->messages;
  } else if (entry.kind == store::kChangeContact && parts.size() == 2) {
    const EmailAddress address = EmailAddress::parse(parts[0]);
    for (const auto& contact : store.contact_certificates(address)) {
      if (contact.fingerprint != parts[1])
        continue;
      change.address = address;
      change.certificate = contact.certificate;
      change.capabilities = contact.capabilities;
      change.source = contact.source;
      change.first_seen = contact.first_seen;
      change.last_seen = contact.last_seen;
      return change;
    }
    return std::nullopt;
  } else {
    return std::nullopt;
  }
  return change;
}

Frontier frontier_of(const std::vector<store::RecordPosition>& positions, const DeviceId& self) {
  Frontier frontier;
  for (const auto& position : positions) {
    if (position.device_id != self)
      frontier[position.device_id] = position.seq;
  }
  return frontier;
}

// The proof of each frontier entry whose record this device merged with its
// head statement (docs/service.md, "Frontier proofs"); an entry naming a
// record of version 1 has none.
std::map<DeviceId, HeadProof> proofs_of(store::TrustSync& sync, const Frontier& frontier) {
  std::map<DeviceId, HeadProof> proofs;
  for (const auto& [device, seq] : frontier) {
    if (auto head = sync.head_proof(device, seq))
      proofs[device] = {head->digest, head->signature};
  }
  return proofs;
}

// The highest time of the records this device's next record names (docs/
// service.md, "Trust records", the clock rule): its own last one and the
// last one merged of every device that may decide (a read-only device's
// time orders nothing, so it moves no other device's clock).
std::int64_t highest_lamport(store::LocalStore& store, const std::vector<store::RecordPosition>& positions,
                             const DeviceId& self) {
  std::set<DeviceId> read_only;
  for (const auto& device : store.devices()) {
    if (device.role == store::DeviceRole::Read)
      read_only.insert(device.device_id);
  }
  std::int64_t out = 0;
  for (const auto& position : positions) {
    if (position.device_id == self || !read_only.count(position.device_id))
      out = std::max(out, position.lamport);
  }
  return out;
}

Identity root_identity(profile::Profile& profile) {
  return Identity{profile.root_certificate().key_fingerprint().to_string(udf::kFullBits)};
}

struct Writer {
  store::LocalStore& store;
  const KeyAccess& key_access;
  store::DeviceRecord self;
  crypto::PrivateKey signature_key;
  Identity profile;
  Identity own_root;
  TimePoint now;
};

// One record of this device's log from outbox entries, written with the
// entries' removal in one transaction.
void write_record(Writer& writer, const std::vector<store::OutboxEntry>& entries, std::int64_t after_id) {
  store::TrustSync sync(writer.store);
  store::Transaction transaction(writer.store.database());
  TrustRecord record;
  record.profile = writer.profile;
  record.device = writer.self.device_id;
  record.made_at = writer.now;
  for (const auto& entry : entries) {
    if (auto change = change_of(writer.store, entry, writer.now))
      record.changes.push_back(std::move(*change));
  }
  auto positions = sync.positions();
  auto own = std::find_if(positions.begin(), positions.end(),
                          [&](const store::RecordPosition& position) { return position.device_id == record.device; });
  record.seq = own == positions.end() ? 1 : own->seq + 1;
  if (own != positions.end())
    record.previous = own->hash;
  const std::int64_t lamport = highest_lamport(writer.store, positions, record.device);
  if (lamport >= kMaxLamport)
    throw Error(ErrorCode::RejectedByPolicy, "the trust records' clock has reached its end: no record can follow",
                "a device of this profile wrote records with an impossible time; remove it ('mailseal device remove')");
  record.lamport = lamport + 1;
  record.frontier = frontier_of(positions, record.device);
  record.proofs = proofs_of(sync, record.frontier);
  const auto keys = sync.records_keys();
  const SecretBytes key = read_records_key(writer.store, keys.front(), writer.key_access);
  const Bytes sealed = seal_record(record, writer.signature_key,
                                   crypto::Certificate::from_der(writer.self.signature_certificate),
                                   from_hex(keys.front().key_id), ByteView(key.data(), key.size()));
  sync.add_own_record(record.seq, sealed);
  sync.set_position({record.device, record.seq, crypto::sha256(sealed), record.lamport});
  std::set<std::string> touched;
  note_decisions(sync, record, writer.own_root, touched);
  for (const auto& subject : touched)
    judge_conflict(sync, subject);
  sync.discard_outbox(after_id, entries.back().id);
  transaction.commit();
}

int write_own_records(Writer& writer) {
  store::TrustSync sync(writer.store);
  auto outbox = sync.outbox();
  int written = 0;
  std::int64_t after_id = 0;
  for (std::size_t start = 0; start < outbox.size(); start += kMaxChangesPerRecord) {
    std::vector<store::OutboxEntry> batch(
        outbox.begin() + static_cast<std::ptrdiff_t>(start),
        outbox.begin() + static_cast<std::ptrdiff_t>(std::min(outbox.size(), start + kMaxChangesPerRecord)));
    write_record(writer, batch, after_id);
    after_id = batch.back().id;
    ++written;
  }
  return written;
}

int upload_own_records(store::LocalStore& store, keyservice::Client& client, const Identity& profile,
                       const DeviceId& self, const keyservice::RequestSigner& signer) {
  store::TrustSync sync(store);
  int uploaded = 0;
  for (const auto& record : sync.own_records()) {
    if (record.uploaded)
      continue;
    try {
      client.put_record(profile, {self, record.seq, record.sealed}, signer);
    } catch (const Error& error) {
      throw Error(error.code(),
                  fmt::format("the key service did not take record {} of this device's trust records: {}", record.seq,
                              error.what()),
                  "'mailseal sync' tries again; if the service lost this device's records, tell its operator");
    }
    sync.mark_uploaded(record.seq);
    ++uploaded;
  }
  return uploaded;
}

}  // namespace

// --- Reading the other devices' logs ---

namespace {

using Logs = std::map<DeviceId, std::vector<keyservice::StoredRecord>>;

struct Fetched {
  Logs logs;
  std::map<DeviceId, std::int64_t> heads;
};

// Asks from one before each position (the service must serve the record
// this device merged last again, so that two different records under one
// number show), and again while an answer was cut short.
Fetched fetch_records(keyservice::Client& client, const Identity& profile,
                      const std::vector<store::RecordPosition>& positions, const keyservice::RequestSigner& signer) {
  std::map<DeviceId, std::int64_t> after;
  for (const auto& position : positions)
    after[position.device_id] = std::max<std::int64_t>(position.seq - 1, 0);
  Fetched fetched;
  for (int round = 0; round < 1000; ++round) {
    keyservice::RecordBatch batch =
        client.records(profile, std::vector<std::pair<DeviceId, std::int64_t>>(after.begin(), after.end()), signer);
    for (const auto& [device, seq] : batch.heads)
      fetched.heads[device] = seq;
    if (batch.records.empty())
      break;
    for (auto& record : batch.records) {
      after[record.device_id] = std::max(after[record.device_id], record.seq);
      fetched.logs[record.device_id].push_back(std::move(record));
    }
  }
  return fetched;
}

// One device's records as served (none when the service served none).
const std::vector<keyservice::StoredRecord>& log_of(const Fetched& fetched, const DeviceId& device) {
  static const std::vector<keyservice::StoredRecord> kNone;
  auto served = fetched.logs.find(device);
  return served == fetched.logs.end() ? kNone : served->second;
}

// The record numbered `seq` among those served; nullptr when not served.
const keyservice::StoredRecord* record_numbered(const std::vector<keyservice::StoredRecord>& served, std::int64_t seq) {
  auto at = std::find_if(served.begin(), served.end(),
                         [seq](const keyservice::StoredRecord& stored) { return stored.seq == seq; });
  return at == served.end() ? nullptr : &*at;
}

[[noreturn]] void tampered(const std::string& what) {
  throw Error(ErrorCode::BadSignature, "the key service misbehaved with the trust records: " + what,
              "nothing was merged; 'mailseal sync' tries again, and if this repeats the service is not to be trusted");
}

struct Verified {
  SignedRecord record;
  Bytes hash;
};

using Times = std::map<DeviceId, std::map<std::int64_t, std::int64_t>>;

struct Plan {
  std::vector<Verified> merge;
  std::map<DeviceId, std::int64_t> reached;  // positions after the merge
  std::set<DeviceId> waiting;                // devices whose records wait for a key or the roster
  int deferred = 0;
  int unserved = 0;  // of those, waiting for a removed device's record the service does not serve
  std::set<DeviceId> unserved_logs;  // the devices whose records those are
  int refused = 0;
  std::map<DeviceId, std::int64_t> refused_heads;       // removed devices with records refused: the head served
  std::map<DeviceId, OverreachingRecord> overreaching;  // by writer: its log waits from there
  std::map<std::pair<DeviceId, DeviceId>, RemovedDifference> removed_differences;  // by (removed, other)
  std::vector<PastCut> past_cut;  // removed devices this one merged past the cut of
};

struct Context {
  store::LocalStore& store;
  Identity profile;
  Identity own_root;
  DeviceId self;
  crypto::Certificate root;
  std::map<std::string, SecretBytes> keys;  // by key id, hex
  std::map<DeviceId, store::DeviceRecord> roster;
};

// The first record of its writer that is held back (check_frontiers, verify_log).
// On one record, a verdict charging its writer for sure is the one shown.
void note_overreach(Plan& plan, const OverreachingRecord& found) {
  auto [at, inserted] = plan.overreaching.emplace(found.writer, found);
  if (inserted)
    return;
  const auto definite = [](FrontierVerdict verdict) {
    return verdict == FrontierVerdict::Forged || verdict == FrontierVerdict::Downgraded;
  };
  const bool surer = found.seq == at->second.seq && definite(found.verdict) && !definite(at->second.verdict);
  if (found.seq < at->second.seq || surer) {
    const int waiting = at->second.waiting;  // held by verify_log already
    at->second = found;
    at->second.waiting += waiting;
  }
}

void check_own_log(Context& context, const Fetched& fetched) {
  std::int64_t uploaded = 0;
  std::map<std::int64_t, Bytes> written;
  for (auto& record : store::TrustSync(context.store).own_records()) {
    if (record.uploaded)
      uploaded = record.seq;
    written[record.seq] = std::move(record.sealed);
  }
  auto head = fetched.heads.find(context.self);
  const std::int64_t held = head == fetched.heads.end() ? 0 : head->second;
  if (held < uploaded) {
    tampered(fmt::format("it holds {} of this device's records, and this device wrote and sent {}", held, uploaded));
  }
  auto served = fetched.logs.find(context.self);
  if (served == fetched.logs.end())
    return;
  for (const auto& record : served->second) {
    auto mine = written.find(record.seq);
    if (mine != written.end() && mine->second != record.sealed)
      tampered(fmt::format("it served record {} of this device altered", record.seq));
  }
}

// The version of record `seq` of `device` as merged here: 2 when its head
// proof is kept (set_head_proof), else 1 (or nothing merged yet).
int version_known(Context& context, const DeviceId& device, std::int64_t seq) {
  return store::TrustSync(context.store).head_proof(device, seq) ? kRecordVersion : kUnprovenRecordVersion;
}

// A device's log waits from record `seq` on (`waiting` records), charged
// as `verdict` says: a record without proofs after its device signed them
// (only its writer's key made it, to escape the checks of its frontier:
// docs/service.md, "Frontier proofs"), or one that does not open, verify or
// decode ("Records that do not open").
void hold_log_from(Plan& plan, const DeviceId& device, std::int64_t seq, std::int64_t head, int waiting,
                   FrontierVerdict verdict, std::string problem = {}) {
  note_overreach(plan, {device, seq, device, seq, head, waiting, verdict, std::move(problem)});
  plan.deferred += waiting;
  plan.waiting.insert(device);
}

FrontierVerdict verdict_of(RecordFault fault) {
  switch (fault) {
    case RecordFault::Malformed:
      return FrontierVerdict::Malformed;
    case RecordFault::Newer:
      return FrontierVerdict::Newer;
    case RecordFault::Unopened:
      break;
  }
  return FrontierVerdict::Unopened;
}

// Why a device's log is held back from a record that names a records key
// not known here.
struct KeyIdHold {
  std::int64_t seq;
  FrontierVerdict verdict;
  std::string problem;
};

// A record naming a records key this device does not hold waits for a key
// bundle, unless the device's own later records show that the log as
// served is not the one the device wrote: each record names its
// predecessor's SHA-256 (sealed bytes, key id included) under the device's
// signature, so a key id replaced by the service shows in the next record
// that opens here, whatever keys this device holds (docs/service.md, "A key
// id this device does not hold"; review of b30d091, G2). The later records
// are judged here as they would be in their turn, which never comes while
// the log waits: a gap fails the sync (only the service numbers records), a
// record under a key held here that does not open holds the log back, as
// does one that opens and does not follow the record before it (review
// i14i, finding 1). `first` is the index of the first record that waits;
// nullopt while nothing proves more than a wait.
std::optional<KeyIdHold> replaced_key_id(Context& context, const DeviceId& device,
                                         const std::vector<keyservice::StoredRecord>& served, std::size_t first) {
  for (std::size_t later = first + 1; later < served.size(); ++later) {
    const keyservice::StoredRecord& before = served[later - 1];
    const keyservice::StoredRecord& stored = served[later];
    if (stored.seq != before.seq + 1) {
      tampered(fmt::format("record {} of device {} came after record {}: records were dropped or reordered", stored.seq,
                           device.str(), before.seq));
    }
    auto key = context.keys.find(to_hex(sealed_key_id(stored.sealed)));
    if (key == context.keys.end())
      continue;
    Bytes follows;  // what the device's signature says came before it
    try {
      follows = open_record(stored.sealed, context.profile, device, stored.seq,
                            ByteView(key->second.data(), key->second.size()), context.root)
                    .record.previous;
    } catch (const RecordRefused& refused) {
      return KeyIdHold{stored.seq, verdict_of(refused.fault()), refused.detail()};
    }
    if (follows == crypto::sha256(before.sealed))
      return std::nullopt;  // the device's own record: it was sealed under a key not received yet
    return KeyIdHold{before.seq, FrontierVerdict::Unopened,
                     fmt::format("names a records key this device does not have, and is not the record that the "
                                 "device's record {} (which opens here) follows: its key id was replaced or it was "
                                 "altered",
                                 stored.seq)};
  }
  return std::nullopt;
}

// Checks one device's log as served after `position`: numbered without a
// gap (only the service numbers them), each naming the previous one's hash,
// opening and verifying. A record going back to version 1 after one of
// version 2 waits with the rest of the log, as does one that does not open,
// verify or decode: the device can upload any bytes into its own log, and
// stopping every merge over them would let one stolen device silence all
// the others (fifth review of issue 14, F3). This device's own log, taken
// back from the service, is refused instead.
void verify_log(Context& context, const DeviceId& device, const std::vector<keyservice::StoredRecord>& served,
                const store::RecordPosition& position, std::int64_t head, Plan& plan) {
  std::int64_t seq = position.seq;
  Bytes hash = position.hash;
  int version = version_known(context, device, position.seq);
  std::size_t next = 0;
  if (position.seq > 0) {
    if (head < position.seq) {
      tampered(fmt::format("it holds {} records of device {}, and this device merged {} of them", head,
                           device.str(), position.seq));
    }
    if (served.empty() || served.front().seq != position.seq)
      tampered(fmt::format("it withheld record {} of device {}", position.seq, device.str()));
    if (crypto::sha256(served.front().sealed) != position.hash) {
      tampered(fmt::format("it served two different records as number {} of device {}", position.seq, device.str()));
    }
    // Merged before: its time is what the records that name it are held to.
    auto key = context.keys.find(to_hex(sealed_key_id(served.front().sealed)));
    if (key != context.keys.end()) {
      const TrustRecord merged = open_record(served.front().sealed, context.profile, device, position.seq,
                                             ByteView(key->second.data(), key->second.size()), context.root)
                                     .record;
      version = merged.version;
    }
    next = 1;
  }
  for (; next < served.size(); ++next) {
    const keyservice::StoredRecord& stored = served[next];
    if (stored.seq != seq + 1) {
      tampered(fmt::format("record {} of device {} came after record {}: records were dropped or reordered",
                           stored.seq, device.str(), seq));
    }
    const int from_here = static_cast<int>(served.size() - next);
    std::optional<SignedRecord> opened;
    try {
      auto key = context.keys.find(to_hex(sealed_key_id(stored.sealed)));
      if (key == context.keys.end()) {
        if (auto held = replaced_key_id(context, device, served, next)) {
          if (device == context.self)
            tampered(fmt::format("record {} of this device {}", held->seq, held->problem));
          hold_log_from(plan, device, held->seq, head, from_here, held->verdict, std::move(held->problem));
          break;
        }
        // Sealed under a key this device has not received yet: later.
        plan.deferred += from_here;
        plan.waiting.insert(device);
        break;
      }
      opened = open_record(stored.sealed, context.profile, device, stored.seq,
                           ByteView(key->second.data(), key->second.size()), context.root);
      if (opened->record.previous != hash) {
        const std::string what = "does not follow the record this device has before it";
        throw RecordRefused(RecordFault::Unopened, ErrorCode::BadSignature,
                            fmt::format("record {} of device {} {}", stored.seq, device.str(), what), what);
      }
    } catch (const RecordRefused& refused) {
      if (device == context.self)
        throw;
      hold_log_from(plan, device, stored.seq, head, from_here, verdict_of(refused.fault()), refused.detail());
      break;
    }
    if (downgrades(version, opened->record)) {
      hold_log_from(plan, device, stored.seq, head, from_here, FrontierVerdict::Downgraded);
      break;
    }
    version = opened->record.version;
    hash = crypto::sha256(stored.sealed);
    seq = stored.seq;
    plan.merge.push_back({std::move(*opened), hash});
  }
  if (seq < head && !plan.waiting.count(device))
    tampered(fmt::format("it says device {} wrote {} records but served {}", device.str(), head, seq));
  plan.reached[device] = seq;
}

// A store restored from a backup is behind its own log as the service holds
// it: the records after its own position, checked as another device's are
// (in order, each naming the previous one's hash, opening under a records
// key, signed by this device's key that the root certified), are taken back
// as this device's own, before it writes anything new under their numbers.
// Their changes are merged with the other devices' records.
std::vector<Verified> take_back_own_log(Context& context, const Fetched& fetched) {
  store::TrustSync sync(context.store);
  auto head = fetched.heads.find(context.self);
  store::RecordPosition position{context.self, 0, {}, 0};
  for (auto& known : sync.positions()) {
    if (known.device_id == context.self)
      position = std::move(known);
  }
  if (head == fetched.heads.end() || head->second <= position.seq)
    return {};
  const auto& served = log_of(fetched, context.self);
  Plan plan;
  verify_log(context, context.self, served, position, head->second, plan);
  if (!plan.waiting.empty())
    tampered("it served this device's own records under a records key this device does not have");
  store::Transaction transaction(context.store.database());
  for (const auto& verified : plan.merge) {
    const TrustRecord& record = verified.record.record;
    const keyservice::StoredRecord& stored = served[static_cast<std::size_t>(record.seq - served.front().seq)];
    sync.add_own_record(record.seq, stored.sealed);
    sync.mark_uploaded(record.seq);
    sync.set_position({context.self, record.seq, verified.hash, record.lamport});
  }
  transaction.commit();
  return std::move(plan.merge);
}

// --- Times of the records merged before schema 9 ---

// The devices whose records merged here are not all known by their time: a
// store from before schema 9 kept only those that carried a decision and
// each device's last one. Removed devices' are left: the clock rule bounds
// a removed device's records alike everywhere (named_times). This device's
// own are read from their sealed copies (own_time).
std::vector<store::RecordPosition> positions_lacking_times(Context& context) {
  store::TrustSync sync(context.store);
  std::map<DeviceId, std::int64_t> known;
  for (const auto& time : sync.record_times())
    ++known[time.device_id];
  std::vector<store::RecordPosition> out;
  for (auto& position : sync.positions()) {
    auto member = context.roster.find(position.device_id);
    if (position.device_id != context.self && member != context.roster.end() &&
        member->second.status == store::DeviceStatus::Active && known[position.device_id] < position.seq) {
      out.push_back(std::move(position));
    }
  }
  return out;
}

// A record served, opened and verified as its device's; nullopt when sealed
// under a records key this device does not hold.
std::optional<TrustRecord> open_served(Context& context, const DeviceId& device,
                                       const keyservice::StoredRecord& stored) {
  auto key = context.keys.find(to_hex(sealed_key_id(stored.sealed)));
  if (key == context.keys.end())
    return std::nullopt;
  return open_record(stored.sealed, context.profile, device, stored.seq,
                     ByteView(key->second.data(), key->second.size()), context.root)
      .record;
}

// The whole logs of `devices` as served, naming every other device the
// service holds records of at its head (`heads`), so that it serves none of
// theirs: it serves all of a device not named.
Fetched fetch_whole_logs(keyservice::Client& client, const Identity& profile, const std::vector<DeviceId>& devices,
                         const std::map<DeviceId, std::int64_t>& heads, const keyservice::RequestSigner& signer) {
  std::vector<store::RecordPosition> from;
  for (const auto& [device, head] : heads) {
    if (std::find(devices.begin(), devices.end(), device) == devices.end())
      from.push_back({device, head < std::numeric_limits<std::int64_t>::max() ? head + 1 : head, {}, 0});
  }
  for (const auto& device : devices)
    from.push_back({device, 1, {}, 0});
  return fetch_records(client, profile, from, signer);
}

// The times of one device's records up to its position, from the service's
// copy, checked back from the record merged last (its hash is kept; each
// record names its predecessor's). A record the service no longer serves
// (dropped, or a service restored from a backup) ends the walk: the records
// before it keep being judged by bounds, as before the upgrade. Refusing
// would stop every sync of this device for good over a record it merged
// long ago (review of issue 14, 2026-12-01); what is served is still checked.
void learn_times_of_log(Context& context, const store::RecordPosition& position,
                        const std::vector<keyservice::StoredRecord>& served) {
  std::map<std::int64_t, const keyservice::StoredRecord*> by_seq;
  for (const auto& stored : served)
    by_seq[stored.seq] = &stored;
  store::TrustSync sync(context.store);
  Bytes expected = position.hash;
  for (std::int64_t seq = position.seq; seq >= 1; --seq) {
    auto stored = by_seq.find(seq);
    if (stored == by_seq.end())
      return;
    const Bytes& sealed = stored->second->sealed;
    if (crypto::sha256(sealed) != expected) {
      tampered(fmt::format("it served two different records as number {} of device {}", seq, position.device_id.str()));
    }
    const std::optional<TrustRecord> record = open_served(context, position.device_id, *stored->second);
    if (!record) {
      tampered(
          fmt::format("it served record {} of device {}, merged here before, under a records key this device "
                      "does not have",
                      seq, position.device_id.str()));
    }
    sync.add_record_time({position.device_id, seq, record->lamport});
    expected = record->previous;
  }
}

// Once, after an upgrade from before schema 9: every record merged here is
// then known by its exact time, as on a device that merged it since (review
// of issue 14, finding 4).
void learn_missing_times(Context& context, keyservice::Client& client, const keyservice::RequestSigner& signer,
                         const std::map<DeviceId, std::int64_t>& heads) {
  std::vector<store::RecordPosition> lacking = positions_lacking_times(context);
  if (lacking.empty())
    return;
  std::vector<DeviceId> devices;
  for (const auto& position : lacking)
    devices.push_back(position.device_id);
  const Fetched fetched = fetch_whole_logs(client, context.profile, devices, heads, signer);
  store::Transaction transaction(context.store.database());
  for (const auto& position : lacking)
    learn_times_of_log(context, position, log_of(fetched, position.device_id));
  transaction.commit();
}

// --- The clock rule (merge.h, clock_breach) ---

[[noreturn]] void clock_broken(const TrustRecord& record, const std::string& what) {
  throw Error(ErrorCode::BadSignature,
              fmt::format("record {} of device {} breaks the trust records' clock and was refused: {}", record.seq,
                          record.device.str(), what),
              fmt::format("nothing was merged; the device signed it itself, so it is broken or in someone else's "
                          "hands: remove it on an admin device ('mailseal device remove {}'), and sync again",
                          record.device.str()));
}

// The time of record `seq` of this device's own log, from its sealed copy.
std::optional<std::int64_t> own_time(Context& context, std::int64_t seq) {
  for (const auto& own : store::TrustSync(context.store).own_records()) {
    if (own.seq != seq)
      continue;
    auto key = context.keys.find(to_hex(sealed_key_id(own.sealed)));
    if (key == context.keys.end())
      return std::nullopt;
    return open_record(own.sealed, context.profile, context.self, seq,
                       ByteView(key->second.data(), key->second.size()), context.root)
        .record.lamport;
  }
  return std::nullopt;
}

// Records of a removed device past its cut that the clock rule's bound
// counts (removed_records_named): more than any honest device merges in
// the moments between a removal's fetch and its bundle.
constexpr std::int64_t kRecordsPastCut = 1000;

struct Clocks {
  Times times;                              // every record time known here
  std::map<DeviceId, std::int64_t> heads;   // as the service says
  std::set<DeviceId> waiting;               // devices whose records wait (verify_log)
  std::map<DeviceId, std::int64_t> cut;     // a device's first record that waits here
  std::set<DeviceId> unserved;              // cut because they name a record the service does not serve
};

// Every record merged here before is known by its exact time (record_times),
// as is every record opened in this sync: two devices that merged the same
// records judge a record naming any of them alike, whichever sync merged it
// (review of issue 14, finding 4).
Clocks known_clocks(Context& context, const Plan& plan, const std::map<DeviceId, store::RecordPosition>& positions,
                    const Fetched& fetched) {
  // Only records this sync may merge give times: one held back (a forged
  // frontier, a wait) is no time here, or a record naming it would take
  // a time nothing merged here bounds (review of e393575, F1: a stolen
  // device's held record at the end of the clock, named by another stolen
  // device's, ended every honest device's clock).
  Clocks clocks{{}, fetched.heads, plan.waiting, {}, {}};
  for (const auto& verified : plan.merge)
    clocks.times[verified.record.record.device][verified.record.record.seq] = verified.record.record.lamport;
  for (const auto& known : store::TrustSync(context.store).record_times())
    clocks.times[known.device_id].emplace(known.seq, known.lamport);
  // Positions of read-only devices written before their times were kept
  // say 0: not a time.
  for (const auto& [device, position] : positions) {
    if (position.seq > 0 && position.lamport > 0)
      clocks.times[device].emplace(position.seq, position.lamport);
  }
  return clocks;
}

// The highest time known here, the claimed times of records not yet
// checked included: only where a record's previous record is not known here
// (this device's own log taken back from the service), which leaves the
// record unbounded from above, as before.
std::int64_t highest_known(const Clocks& clocks) {
  std::int64_t highest = 0;
  for (const auto& [device, times] : clocks.times) {
    for (const auto& [seq, lamport] : times)
      highest = std::max(highest, lamport);
  }
  return highest;
}

// How many records of a removed device a frontier entry naming its record
// `seq` counts in the clock rule's bound. With a cut, at most a few past it:
// a device merges past the cut only between the removing device's fetch and
// the removal's bundle, while the number comes from the writer and the
// service's head, which a thief holding the removed key and a hostile
// service can push near the end of the clock (review of 51781ba, F2).
std::int64_t removed_records_named(const store::DeviceRecord& removed, std::int64_t seq) {
  if (!removed.removal_cut)
    return seq;
  const std::int64_t cut = removed.removal_cut->seq;  // root-signed, yet bounded only by the decoder's checks
  return cut > std::numeric_limits<std::int64_t>::max() - kRecordsPastCut ? seq : std::min(seq, cut + kRecordsPastCut);
}

// What one record names, as times; false when the record must wait (it
// names a record of a device this one cannot read yet).
bool named_times(Context& context, Clocks& clocks, const TrustRecord& record, std::vector<TimeBound>& named) {
  if (record.seq > 1) {
    // Only its device's records before it: never the record itself, whose
    // claimed time would bound it by itself (review of issue 14, finding 3).
    const auto& own = clocks.times[record.device];
    const std::map<std::int64_t, std::int64_t> before(own.begin(), own.lower_bound(record.seq));
    auto previous = time_of(before, record.seq - 1);
    named.push_back(previous ? *previous : TimeBound{record.seq - 1, highest_known(clocks)});
  }
  std::int64_t unseen = 0;  // records of removed devices named, counted from each one's first
  for (const auto& [device, seq] : record.frontier) {
    if (seq <= 0)
      continue;
    std::optional<TimeBound> bound = time_of(clocks.times[device], seq);
    if (device == context.self && !(bound && bound->low == bound->high)) {
      // This device's own record, from its sealed copy; one it does not
      // hold (the service hides its records, or this store is a stale
      // copy of the device) makes the record wait.
      auto mine = own_time(context, seq);
      if (!mine)
        return false;
      clocks.times[device][seq] = *mine;
      bound = TimeBound{*mine, *mine};
    }
    auto member = context.roster.find(device);
    if (!bound && (member == context.roster.end() || clocks.waiting.count(device) || clocks.cut.count(device)))
      return false;
    if (!bound || member->second.status == store::DeviceStatus::Removed) {
      // A removed device's records (refused here, or merged before its
      // removal): the same bound on every device, whatever it merged of
      // them. One the service does not hold (it withheld it, or the writer
      // named a record never written) makes the record wait: only the
      // service's word says so, so the writer is not blamed.
      if (!bound && seq > clocks.heads[device]) {
        clocks.unserved.insert(record.device);
        return false;
      }
      unseen += removed_records_named(member->second, seq);
      continue;
    }
    // An older writer counted a read-only device's time: it may raise the
    // time a record carries but is never required.
    named.push_back(member->second.role == store::DeviceRole::Read ? TimeBound{0, bound->high} : *bound);
  }
  if (unseen > 0) {
    // Each of those records is at most one step past the times the writer
    // names otherwise (it had merged everything they named): sound for an
    // honest writer, and the same on every device that knows those times.
    std::int64_t base = 0;
    for (const auto& bound : named)
      base = std::max(base, bound.high);
    named.push_back({0, base + unseen});
  }
  return true;
}

// A device's log waits from record `seq` on (a record of it waits, or
// breaks the clock); a cut only moves back. The times of the records cut
// are forgotten for this sync: a record naming one of them waits too,
// instead of taking a time that nothing merged here bounds.
void cut_from(Clocks& clocks, const DeviceId& device, std::int64_t seq) {
  auto [cut, inserted] = clocks.cut.emplace(device, seq);
  if (!inserted)
    cut->second = std::min(cut->second, seq);
  auto& times = clocks.times[device];
  times.erase(times.lower_bound(cut->second), times.end());
}

// A writer's first record that breaks the clock rule, and how.
struct ClockBreach {
  std::int64_t seq = 0;
  std::string what;
};

// One pass of the clock rule over the records not cut; true when it cut
// a record (it waits, or breaks the rule: `broken`). The records judged
// before it in this pass may name it, so the caller passes again; every
// pass that cuts moves a cut back, so the passes end.
bool cut_one(Context& context, Clocks& clocks, const Plan& plan, std::map<DeviceId, ClockBreach>& broken) {
  for (const auto& verified : plan.merge) {
    const TrustRecord& record = verified.record.record;
    if (auto cut = clocks.cut.find(record.device); cut != clocks.cut.end() && record.seq >= cut->second)
      continue;
    std::vector<TimeBound> named;
    if (!named_times(context, clocks, record, named)) {
      // This device's own records taken back are in place already.
      if (record.device == context.self)
        continue;
      cut_from(clocks, record.device, record.seq);
      return true;
    }
    auto breach = clock_breach(record.lamport, named);
    if (!breach)
      continue;
    // This device's own log taken back cannot wait: it is in place.
    if (record.device == context.self)
      clock_broken(record, *breach);
    broken[record.device] = ClockBreach{record.seq, *breach};  // a later pass finds only earlier ones
    cut_from(clocks, record.device, record.seq);
    return true;
  }
  return false;
}

// Holds every record to the clock rule; a record that names what this
// device cannot read yet waits, with the rest of its device's log. A record
// breaking the rule holds back its writer's log, with a warning naming the
// writer (only its key signs its records), while the other devices' records
// merge: refusing the whole sync let one stolen device stop every device's
// merge until the person removed it (docs/service.md, "The clock").
void check_clocks(Context& context, const Fetched& fetched, Plan& plan,
                  const std::map<DeviceId, store::RecordPosition>& positions) {
  Clocks clocks = known_clocks(context, plan, positions, fetched);
  std::sort(plan.merge.begin(), plan.merge.end(), [](const Verified& a, const Verified& b) {
    return std::tie(a.record.record.device, a.record.record.seq) <
           std::tie(b.record.record.device, b.record.record.seq);
  });
  std::map<DeviceId, ClockBreach> broken;
  while (cut_one(context, clocks, plan, broken)) {
  }
  for (const auto& [device, first] : clocks.cut) {
    // Not captured as bindings: clang before 16 cannot (the fuzz build).
    const auto is_cut = [&cut_device = device, cut_from = first](const Verified& verified) {
      return verified.record.record.device == cut_device && verified.record.record.seq >= cut_from;
    };
    const auto waiting = static_cast<int>(std::count_if(plan.merge.begin(), plan.merge.end(), is_cut));
    std::erase_if(plan.merge, is_cut);
    plan.reached[device] = first - 1;
    if (auto breach = broken.find(device); breach != broken.end() && breach->second.seq == first) {
      hold_log_from(plan, device, first, clocks.heads[device], waiting, FrontierVerdict::ClockBroken,
                    breach->second.what);
      continue;
    }
    plan.deferred += waiting;
    if (clocks.unserved.count(device)) {
      plan.unserved += waiting;
      plan.unserved_logs.insert(device);
    }
    plan.waiting.insert(device);
  }
}

// The writers' logs wait from their first overreaching record on.
void hold_overreaching(Plan& plan) {
  for (auto& [writer, found] : plan.overreaching) {
    const auto is_held = [&held_writer = writer, from = found.seq](const Verified& verified) {
      return verified.record.record.device == held_writer && verified.record.record.seq >= from;
    };
    const auto held = static_cast<int>(std::count_if(plan.merge.begin(), plan.merge.end(), is_held));
    std::erase_if(plan.merge, is_held);
    found.waiting += held;
    plan.deferred += held;
    plan.waiting.insert(writer);
    auto reached = plan.reached.find(writer);
    if (reached == plan.reached.end() || reached->second >= found.seq)
      plan.reached[writer] = found.seq - 1;
  }
}

// What this device knows of the records frontier entries name: each
// device's signature certificate (the roster's; the device id is its key's,
// so a renewed certificate verifies the same), the first record known of
// each device that signs head statements, and the digests of records
// known here (docs/service.md, "Frontier proofs").
struct ProofKnowledge {
  std::map<DeviceId, crypto::Certificate> certificates;
  std::map<DeviceId, std::int64_t> first_proving;
  std::map<std::pair<DeviceId, std::int64_t>, Bytes> digests;
};

void know_proof(ProofKnowledge& known, const DeviceId& device, std::int64_t seq, const Bytes& digest) {
  auto [first, inserted] = known.first_proving.emplace(device, seq);
  if (!inserted)
    first->second = std::min(first->second, seq);
  known.digests[{device, seq}] = digest;
}

ProofKnowledge proof_knowledge(Context& context, const Plan& plan) {
  ProofKnowledge known;
  for (const auto& [device, member] : context.roster) {
    if (!member.signature_certificate.empty())
      known.certificates.emplace(device, crypto::Certificate::from_der(member.signature_certificate));
  }
  // From the store, only what the records judged here name.
  store::TrustSync sync(context.store);
  for (const auto& [device, member] : context.roster) {
    if (auto first = sync.first_head_proof(device))
      known.first_proving.emplace(device, *first);
  }
  for (const auto& verified : plan.merge) {
    for (const auto& [device, seq] : verified.record.record.frontier) {
      if (auto proof = sync.head_proof(device, seq))
        know_proof(known, device, seq, proof->digest);
    }
  }
  for (const auto& verified : plan.merge) {
    if (auto proof = head_proof_of(verified.record))
      know_proof(known, verified.record.record.device, verified.record.record.seq, proof->digest);
  }
  return known;
}

EntryProof prove_entry(const ProofKnowledge& known, const TrustRecord& record, const DeviceId& named,
                       std::int64_t seq) {
  auto certificate = known.certificates.find(named);
  auto first = known.first_proving.find(named);
  return judge_frontier_entry(record, named, seq,
                              certificate == known.certificates.end() ? nullptr : &certificate->second,
                              first != known.first_proving.end() && first->second <= seq);
}

// The number of this device's last record (its own log, taken back from
// the service after a restore included).
std::int64_t last_own_record(Context& context) {
  return store::TrustSync(context.store).last_own_record();
}

// Another device's frontier entry naming a record of this device past the
// last it wrote (review of e393575, F3: it waited silently for good). This
// device knows its own log, and its records past its first of version 2
// all carry head statements: without this device's valid proof the writer
// forged the entry; with one, this device wrote the record and lost it (a
// store restored from a backup) while the service no longer serves it.
FrontierVerdict own_record_verdict(const ProofKnowledge& known, const TrustRecord& record, const DeviceId& self,
                                   std::int64_t seq) {
  auto certificate = known.certificates.find(self);
  switch (judge_frontier_entry(record, self, seq,
                               certificate == known.certificates.end() ? nullptr : &certificate->second, true)) {
    case EntryProof::Proven:
      return FrontierVerdict::Withheld;
    case EntryProof::Forged:
      return FrontierVerdict::Forged;
    case EntryProof::Unproven:
      break;
  }
  return FrontierVerdict::Unproven;
}

// A proven entry naming a record known here with another digest: the named
// device signed two different records under one number. Only its own key
// signs its head statements, so it is in someone else's hands.
void check_named_digest(const ProofKnowledge& known, const TrustRecord& record, const DeviceId& named,
                        std::int64_t seq) {
  auto digest = known.digests.find({named, seq});
  if (digest == known.digests.end() || digest->second == record.proofs.at(named).digest)
    return;
  throw Error(ErrorCode::BadSignature,
              fmt::format("device {} signed two different trust records as number {} (record {} of device {} "
                          "proves the other one)",
                          named.str(), seq, record.seq, record.device.str()),
              fmt::format("nothing was merged; only device {0}'s own key signs its records: either it is in "
                          "someone else's hands, or its store was restored from a backup and it wrote the number "
                          "again. Either way remove it on an admin device ('mailseal device remove {0}') and sync "
                          "again; a device restored from a backup then joins anew",
                          named.str()));
}

// Records of other devices merged in this sync naming a removed device's
// record past what this device merged of it: those devices merged records
// this one now refuses (docs/security.md, G6). Only reported: nothing
// reconciles them. Run after every hold, so that a record held back (a
// forged frontier entry among them) claims nothing (review i14i, finding 3).
// Where the removal names a cut, every device merges up to it, so only a
// record up to the cut that waits here is a difference (one past the cut is
// the other device's to report, PastCut).
void note_removed_differences(const Context& context, Plan& plan,
                              const std::map<DeviceId, store::RecordPosition>& positions) {
  for (const auto& verified : plan.merge) {
    const TrustRecord& record = verified.record.record;
    if (record.device == context.self)
      continue;
    for (const auto& [device, seq] : record.frontier) {
      auto member = context.roster.find(device);
      if (member == context.roster.end() || member->second.status != store::DeviceStatus::Removed)
        continue;
      auto position = positions.find(device);
      auto reached = plan.reached.find(device);
      const std::int64_t ours = reached != plan.reached.end() ? reached->second
                                : position != positions.end() ? position->second.seq
                                                              : 0;
      const auto& cut = member->second.removal_cut;
      const std::int64_t theirs = cut ? std::min(seq, cut->seq) : seq;
      if (theirs <= ours)
        continue;
      auto [at, inserted] = plan.removed_differences.emplace(std::make_pair(device, record.device),
                                                             RemovedDifference{device, record.device, theirs, ours});
      if (!inserted)
        at->second.theirs = std::max(at->second.theirs, theirs);
    }
  }
}

// Withheld tails: a record names what its device had merged; this device
// must reach as far. A frontier entry without the named device's valid
// proof (where one is due) is forged by its writer; a proven one naming
// past the service's head is a record the service withholds; a record of
// version 1 naming past it is charged to neither for sure (Unproven). Each
// holds back its writer's log (note_overreach): stopping every merge would
// let one stolen device silence all the others (review of issue 14, F4).
// This device's own records taken back are its own word: the service
// withheld.
void check_frontiers(Context& context, const Fetched& fetched, Plan& plan,
                     const std::map<DeviceId, store::RecordPosition>& positions) {
  const ProofKnowledge known = proof_knowledge(context, plan);
  const std::int64_t own_last = last_own_record(context);
  for (const auto& verified : plan.merge) {
    const TrustRecord& record = verified.record.record;
    for (const auto& [device, seq] : record.frontier) {
      if (!context.roster.count(device))
        continue;
      auto head = fetched.heads.find(device);
      const std::int64_t served = head == fetched.heads.end() ? 0 : head->second;
      const EntryProof proof =
          record.device == context.self ? EntryProof::Unproven : prove_entry(known, record, device, seq);
      if (proof == EntryProof::Forged) {
        note_overreach(plan, {record.device, record.seq, device, seq, served, 0, FrontierVerdict::Forged});
        continue;
      }
      if (device == context.self && record.device != context.self && seq > own_last) {
        note_overreach(plan, {record.device, record.seq, device, seq, served, 0,
                              own_record_verdict(known, record, context.self, seq)});
        continue;
      }
      const bool active = context.roster.at(device).status == store::DeviceStatus::Active;
      // Once the device that signed two records under one number is
      // removed, nothing it signed is taken any more: the sync goes on, as
      // the error below tells the person to do.
      if (proof == EntryProof::Proven && active)
        check_named_digest(known, record, device, seq);
      if (device == context.self || plan.waiting.count(device) || !active)
        continue;
      auto reached = plan.reached.find(device);
      auto position = positions.find(device);
      std::int64_t have = reached != plan.reached.end() ? reached->second
                          : position != positions.end() ? position->second.seq
                                                        : 0;
      if (have >= seq)
        continue;
      if (seq > served && record.device != context.self) {
        const auto verdict = proof == EntryProof::Proven ? FrontierVerdict::Withheld : FrontierVerdict::Unproven;
        note_overreach(plan, {record.device, record.seq, device, seq, served, 0, verdict});
        continue;
      }
      tampered(fmt::format("it withheld the records of device {} after number {} (device {} has merged up to {})",
                           device.str(), have, record.device.str(), seq));
    }
  }
  hold_overreaching(plan);
}

// A count of records from a difference of numbers the service or a root-
// signed cut gave: never negative, never past what an int holds.
int clamped_count(std::int64_t records) {
  return static_cast<int>(std::clamp<std::int64_t>(records, 0, std::numeric_limits<int>::max()));
}

// A removed device's records after `kept` (its cut, or what this device
// merged) are refused.
void refuse(Plan& plan, const DeviceId& device, std::int64_t head, std::int64_t kept) {
  if (head <= kept)
    return;
  plan.refused += clamped_count(head - kept);
  plan.refused_heads[device] = head;
}

// A removed device's records up to its cut that the service does not
// serve wait, with a warning naming the service.
void wait_unserved(Plan& plan, const DeviceId& device, std::int64_t missing) {
  plan.deferred += clamped_count(missing);
  plan.unserved += clamped_count(missing);
  plan.unserved_logs.insert(device);
  plan.waiting.insert(device);
}

// A removed device's log up to the cut its removal names (docs/security.md,
// "The cut"), checked as any log (verify_log) and ending at the record the
// admin device signed in the removal: a thief holding the removed key may
// have signed another fork since, and the service would serve it. Records
// after the cut are refused. A record up to the cut that waits here (a key,
// a hold) keeps the log waiting with its note or warning; one the service
// no longer serves waits as `unserved`, with a warning naming the service.
// A device that merged past the cut (it synced between the removing
// device's fetch and the removal's bundle) took back what those records
// decided before the plan (take_back_past_cuts); one that merged another
// fork it could not leave (return_to_cuts) is reported (PastCut). Nothing
// of the log merges in a sync that does not reach the cut's hash; true when
// this plan reaches it.
bool merge_up_to_cut(Context& context, const DeviceId& device, const std::vector<keyservice::StoredRecord>& served,
                     const store::RecordPosition& position, std::int64_t head, const store::RemovalCut& cut,
                     Plan& plan) {
  refuse(plan, device, head, std::max(position.seq, cut.seq));
  plan.reached[device] = position.seq;
  // Past the cut: taken back before the plan (take_back_past_cuts), which
  // says so; no more of the log merges here.
  if (position.seq > cut.seq)
    return false;
  if (position.seq == cut.seq) {
    if (position.hash != cut.hash)
      plan.past_cut.push_back(
          {.removed = device, .cut = cut.seq, .merged = position.seq, .other_fork = true, .decide_again = {}});
    return position.hash == cut.hash;
  }
  // The record this device merged last, served otherwise: it merged another
  // fork (review of 51781ba, F1: the sync failed for good as the service's
  // tampering, where a removal had ended the failure before).
  if (position.seq > 0) {
    const keyservice::StoredRecord* at = record_numbered(served, position.seq);
    if (!at) {
      // Failing the sync as the service's tampering would last for good.
      wait_unserved(plan, device, cut.seq - position.seq);
      return false;
    }
    if (crypto::sha256(at->sealed) != position.hash) {
      plan.past_cut.push_back(
          {.removed = device, .cut = cut.seq, .merged = position.seq, .other_fork = true, .decide_again = {}});
      return false;
    }
  }
  std::vector<keyservice::StoredRecord> up_to_cut;
  std::copy_if(served.begin(), served.end(), std::back_inserter(up_to_cut),
               [&](const keyservice::StoredRecord& stored) { return stored.seq <= cut.seq; });
  const std::size_t first = plan.merge.size();
  verify_log(context, device, up_to_cut, position, std::min(head, cut.seq), plan);
  const bool waits = plan.waiting.count(device) > 0;
  const bool at_cut = !waits && plan.reached[device] == cut.seq && plan.merge.size() > first &&
                      plan.merge.back().record.record.device == device && plan.merge.back().hash == cut.hash;
  if (at_cut)
    return true;
  // Nothing of the log merges before its chain reaches the cut's hash: the
  // records below it may be a fork the thief signed after the removal
  // (review of 51781ba, F3: one merged on one device and not on another).
  const auto taken = static_cast<int>(plan.merge.size() - first);
  const std::int64_t reached = plan.reached[device];
  plan.merge.erase(plan.merge.begin() + static_cast<std::ptrdiff_t>(first), plan.merge.end());
  plan.reached[device] = position.seq;
  if (waits) {
    plan.deferred += taken;  // its wait or hold says why
    return false;
  }
  if (reached < cut.seq) {
    // The service holds fewer of its records than the admin device saw.
    wait_unserved(plan, device, cut.seq - position.seq);
    return false;
  }
  hold_log_from(plan, device, position.seq + 1, head, taken, FrontierVerdict::Unopened,
                fmt::format("is not in the log that the removal of device {} names as its last record {} (the cut): "
                            "the key service serves another fork of its log",
                            device.str(), cut.seq));
  return false;
}

// What a sync did about a removed device's records merged here past its
// cut, kept in the store's settings in the transaction that did it until a
// sync's report says it (review of 854b35c, F3: a sync that failed after the
// take-back lost what it took back, and what the person must decide again,
// for good). Two notes before a report add up.
void note_past_cut(store::LocalStore& store, const PastCut& past) {
  const std::string key = std::string(kPastCutSetting) + past.removed.str();
  PastCut sum = past;
  if (auto kept = store.setting(key)) {
    const nlohmann::json earlier = nlohmann::json::parse(*kept, nullptr, false);
    if (earlier.is_object()) {
      sum.merged = std::max(sum.merged, earlier.value("merged", std::int64_t{0}));
      sum.other_fork = sum.other_fork || earlier.value("other_fork", false);
      const std::int64_t fork_from = earlier.value("fork_from", std::int64_t{0});
      if (fork_from > 0 && (sum.fork_from == 0 || fork_from < sum.fork_from))
        sum.fork_from = fork_from;
      sum.taken_back += earlier.value("taken_back", 0);
      for (const auto& subject : earlier.value("decide_again", std::vector<std::string>{})) {
        if (std::find(sum.decide_again.begin(), sum.decide_again.end(), subject) == sum.decide_again.end())
          sum.decide_again.push_back(subject);
      }
    }
  }
  const nlohmann::json note = {{"cut", sum.cut},
                               {"merged", sum.merged},
                               {"other_fork", sum.other_fork},
                               {"fork_from", sum.fork_from},
                               {"taken_back", sum.taken_back},
                               {"decide_again", sum.decide_again}};
  store.set_setting(key, note.dump());
}

// The notes not yet reported, forgotten as they are read.
std::vector<PastCut> reported_past_cuts(Context& context) {
  std::vector<PastCut> out;
  for (const auto& [device, member] : context.roster) {
    const std::string key = std::string(kPastCutSetting) + device.str();
    auto kept = context.store.setting(key);
    if (!kept || kept->empty())
      continue;
    context.store.set_setting(key, "");
    const nlohmann::json note = nlohmann::json::parse(*kept, nullptr, false);
    if (!note.is_object())
      continue;
    out.push_back({.removed = device,
                   .cut = note.value("cut", std::int64_t{0}),
                   .merged = note.value("merged", std::int64_t{0}),
                   .other_fork = note.value("other_fork", false),
                   .fork_from = note.value("fork_from", std::int64_t{0}),
                   .taken_back = note.value("taken_back", 0),
                   .decide_again = note.value("decide_again", std::vector<std::string>{})});
  }
  return out;
}

// The removed devices whose removal names a cut, with it.
std::vector<std::pair<DeviceId, store::RemovalCut>> removal_cuts(const Context& context) {
  std::vector<std::pair<DeviceId, store::RemovalCut>> out;
  for (const auto& [device, member] : context.roster) {
    if (member.status == store::DeviceStatus::Removed && member.removal_cut)
      out.emplace_back(device, *member.removal_cut);
  }
  return out;
}

// The last record of a removed device's log merged here that the service
// serves alike, at most number `limit`, with its time (from the record
// served, which is the one merged): where another fork merged here parts
// from the log served; number 0 when they part at the first. Found from the
// top down: records name their predecessors' hashes, so below one alike all
// are. nullopt when a record merged before its hash was kept (schema 13)
// comes first: where they part is then not known here, and going back to
// the start on the service's word would let it take back every decision of
// that log (second review of 185f5f2, F1).
std::optional<store::RecordPosition> last_shared_record(Context& context, const DeviceId& device,
                                                        const std::vector<keyservice::StoredRecord>& served,
                                                        std::int64_t limit) {
  store::TrustSync sync(context.store);
  std::int64_t below = limit;  // every merged record above it differs from the one served
  for (auto stored = served.rbegin(); stored != served.rend(); ++stored) {
    if (stored->seq > below)
      continue;
    if (stored->seq != below)
      return std::nullopt;  // a gap in what is served: not known
    const std::optional<Bytes> merged = sync.record_hash(device, stored->seq);
    if (!merged)
      return std::nullopt;
    if (*merged == crypto::sha256(stored->sealed)) {
      auto record = open_served(context, device, *stored);
      if (!record)
        return std::nullopt;
      return store::RecordPosition{device, stored->seq, *merged, record->lamport};
    }
    --below;
  }
  if (below > 0)
    return std::nullopt;  // records not served: not known
  return store::RecordPosition{device, 0, {}, 0};
}

// Merged past the cut, by a store from before schema 13 that does not know
// whether its record at the cut's number is the cut's, where the log served
// (`served`, whole) holds the record it merged last: the cut, when the log
// served runs from the cut's record to this device's (each record names its
// predecessor's hash, so the records this device merged up to the cut are
// the cut's); nullopt otherwise.
std::optional<store::RecordPosition> cut_below_position(Context& context, const DeviceId& device,
                                                        const std::vector<keyservice::StoredRecord>& served,
                                                        const store::RecordPosition& position,
                                                        const store::RemovalCut& cut) {
  const keyservice::StoredRecord* at_cut = record_numbered(served, cut.seq);
  if (!at_cut)
    return std::nullopt;
  std::vector<keyservice::StoredRecord> through;
  std::copy_if(served.begin(), served.end(), std::back_inserter(through), [&](const keyservice::StoredRecord& stored) {
    return stored.seq >= cut.seq && stored.seq <= position.seq;
  });
  Plan trial;
  verify_log(context, device, through, {device, cut.seq, cut.hash, 0}, position.seq, trial);
  const std::optional<TrustRecord> record = open_served(context, device, *at_cut);
  if (!record || trial.reached[device] != position.seq || trial.merge.empty() ||
      trial.merge.back().hash != position.hash) {
    return std::nullopt;
  }
  return store::RecordPosition{device, cut.seq, cut.hash, record->lamport};
}

// Where another fork merged here parts from the log served (`served`,
// whole; last_shared_record), when the log served from there reaches the
// cut's hash, checked as a sync checks it; nullopt otherwise.
std::optional<store::RecordPosition> parting_point(Context& context, const DeviceId& device,
                                                   std::vector<keyservice::StoredRecord>& served, std::int64_t head,
                                                   const store::RecordPosition& position,
                                                   const store::RemovalCut& cut) {
  const std::optional<store::RecordPosition> shared =
      last_shared_record(context, device, served, std::min(position.seq, cut.seq));
  if (!shared)
    return std::nullopt;
  std::erase_if(served, [&](const keyservice::StoredRecord& stored) { return stored.seq < shared->seq; });
  Plan trial;
  if (!merge_up_to_cut(context, device, served, *shared, head, cut, trial))
    return std::nullopt;
  return shared;
}

// A removed device's log served whole, going back to where it parts from
// what this device merged (`position`: another fork, the thief signed two
// records under one number and this device merged the one the removal does
// not name; or, merged past the cut before schema 13, one not known to be
// the cut's). What merges is then what the removing admin device accepted:
// this device goes back and says so once; the removed device's decisions
// after that point are taken back after this device writes
// (take_back_past_cuts), and the log is merged again up to the cut in this
// sync (`fetched` serves it from there). false when no log served reaches
// the cut (the service serves the fork, or not the log): the fork is then
// reported, as before. A log served whole that holds the record this device
// merged last below the cut, where this sync's fetch served another, is the
// service serving two records under one number: the sync fails, and nothing
// is taken back (review of 185f5f2, F1: a service alone made a device take
// back the removed device's honest decisions).
struct Rejoin {
  keyservice::Client& client;
  const keyservice::RequestSigner& signer;
};

enum class Rejoined { Yes, OtherFork, NotKnown };

Rejoined rejoin_cut_log(Context& context, const Rejoin& rejoin, Fetched& fetched, const DeviceId& device,
                        const store::RecordPosition& position, const store::RemovalCut& cut) {
  Fetched whole = fetch_whole_logs(rejoin.client, context.profile, {device}, fetched.heads, rejoin.signer);
  std::vector<keyservice::StoredRecord>& served = whole.logs[device];
  const keyservice::StoredRecord* ours = record_numbered(served, position.seq);
  const bool holds_ours = ours && crypto::sha256(ours->sealed) == position.hash;
  if (holds_ours && position.seq <= cut.seq)
    tampered(fmt::format("it served two different records as number {} of device {}", position.seq, device.str()));
  std::optional<store::RecordPosition> back_to;
  try {
    // Past the cut, the record this device merged last may be served after
    // another fork's records below it: then it merged that fork.
    if (holds_ours)
      back_to = cut_below_position(context, device, served, position, cut);
    if (!back_to)
      back_to = parting_point(context, device, served, whole.heads[device], position, cut);
  } catch (const store::StoreError&) {
    throw;
  } catch (const Error&) {
    back_to.reset();  // a log that does not verify is not the cut's
  }
  // The record merged last served, not running from the cut's: this device
  // merged another fork, or the service serves one now.
  if (!back_to)
    return holds_ours ? Rejoined::OtherFork : Rejoined::NotKnown;
  std::erase_if(served, [&](const keyservice::StoredRecord& stored) { return stored.seq < back_to->seq; });
  store::Transaction transaction(context.store.database());
  store::TrustSync(context.store).rewind_position(*back_to);
  const bool fork = back_to->seq < std::min(position.seq, cut.seq);
  note_past_cut(context.store, {.removed = device,
                                .cut = cut.seq,
                                .merged = position.seq,
                                .fork_from = fork ? back_to->seq + 1 : 0,
                                .decide_again = {}});
  transaction.commit();
  fetched.logs[device] = std::move(whole.logs[device]);
  fetched.heads[device] = whole.heads[device];
  return Rejoined::Yes;
}

// A removed device's records merged here past the cut its removal names
// (docs/security.md, "The cut"; this device synced between the removing
// device's fetch and the removal's bundle), or another fork of its log
// (the service served it the thief's). Before this device writes, so that
// its next record neither names them nor takes its time from them: when
// the record it merged under the cut's number is the cut's (its hash, kept
// since schema 13), it goes back to the cut in that log, as if it had merged
// no further; otherwise back to where its log and the one served part, when
// that one reaches the cut (rejoin_cut_log). A fork it cannot leave is said
// at every sync, and no more of that log merges here.
void return_to_cuts(Context& context, const Rejoin& rejoin, Fetched& fetched) {
  store::TrustSync sync(context.store);
  std::map<DeviceId, store::RecordPosition> positions;
  for (auto& position : sync.positions())
    positions.emplace(position.device_id, std::move(position));
  for (const auto& [device, cut] : removal_cuts(context)) {
    auto found = positions.find(device);
    if (found == positions.end())
      continue;
    const store::RecordPosition& position = found->second;
    std::optional<Bytes> merged_at_cut;
    if (position.seq > cut.seq) {
      merged_at_cut = sync.record_hash(device, cut.seq);
      const std::optional<std::int64_t> time_at_cut = sync.record_time(device, cut.seq);
      if (cut.seq == 0 || (merged_at_cut == cut.hash && time_at_cut)) {
        store::Transaction transaction(context.store.database());
        sync.rewind_position({device, cut.seq, cut.hash, time_at_cut.value_or(0)});
        note_past_cut(context.store, {.removed = device, .cut = cut.seq, .merged = position.seq, .decide_again = {}});
        transaction.commit();
        continue;
      }
    } else {
      const keyservice::StoredRecord* at = record_numbered(log_of(fetched, device), position.seq);
      // The same log so far, or a record not served (merge_up_to_cut waits).
      // At the cut with its hash nothing more of that log is needed here:
      // what the service serves under its number does not matter (third
      // review of 185f5f2, N1: a restored service holding a thief's record
      // there failed every sync of those devices for good).
      if (position.seq == 0 || !at || crypto::sha256(at->sealed) == position.hash ||
          (position.seq == cut.seq && position.hash == cut.hash)) {
        continue;
      }
    }
    const Rejoined rejoined = rejoin_cut_log(context, rejoin, fetched, device, position, cut);
    if (rejoined == Rejoined::Yes)
      continue;
    // Merged past the cut, another fork: what is past the cut is taken back
    // (take_back_past_cuts); the fork is said at every sync. One below the
    // cut is said by merge_up_to_cut.
    if (rejoined == Rejoined::OtherFork || (merged_at_cut && *merged_at_cut != cut.hash)) {
      note_past_cut(
          context.store,
          {.removed = device, .cut = cut.seq, .merged = position.seq, .other_fork = true, .decide_again = {}});
    }
  }
}

// What a removed device's records past its cut, or past where this device
// went back to in its log (rejoin_cut_log), decided, taken back
// (take_back_decisions), after this device wrote its own record: a decision
// of its own not yet written (a pending change in its outbox) is then one
// of those that remain, which the take-back keeps (review of 854b35c, F2:
// it was lost). Found by the decisions themselves, not by the position, so
// that a take-back a failed sync left for later, or a store that warned of
// the cut before it could take back, takes them back too (F3, F4).
void take_back_past_cuts(Context& context, TimePoint now) {
  store::TrustSync sync(context.store);
  std::map<DeviceId, std::int64_t> positions;
  for (const auto& position : sync.positions())
    positions[position.device_id] = position.seq;
  for (const auto& [device, cut] : removal_cuts(context)) {
    // Decisions noted past the position: of records merged and gone back from.
    const std::int64_t kept = std::min(cut.seq, positions[device]);
    const auto decisions = sync.decisions_after(device, kept);
    if (decisions.empty())
      continue;
    std::int64_t merged = kept;
    for (const auto& decision : decisions)
      merged = std::max(merged, decision.seq);
    store::Transaction transaction(context.store.database());
    TakenBack taken = take_back_decisions(context.store, device, kept, context.own_root, now);
    note_past_cut(context.store, {.removed = device,
                                  .cut = cut.seq,
                                  .merged = merged,
                                  .fork_from = kept < cut.seq ? kept + 1 : 0,
                                  .taken_back = taken.decisions,
                                  .decide_again = std::move(taken.decide_again)});
    transaction.commit();
  }
}

// `own`: this device's own records taken back (take_back_own_log), merged
// with the others' and held to the same check of withheld tails.
Plan plan_merge(Context& context, const Fetched& fetched, std::vector<Verified> own) {
  std::map<DeviceId, store::RecordPosition> positions;
  for (auto& position : store::TrustSync(context.store).positions())
    positions[position.device_id] = std::move(position);
  Plan plan;
  for (const auto& [device, head] : fetched.heads) {
    if (device == context.self)
      continue;
    const auto& records = log_of(fetched, device);
    store::RecordPosition position{device, 0, {}, 0};
    if (auto known = positions.find(device); known != positions.end())
      position = known->second;
    auto member = context.roster.find(device);
    const std::int64_t fresh = head - position.seq;
    if (member == context.roster.end()) {
      plan.deferred += clamped_count(fresh);
      plan.waiting.insert(device);
      continue;
    }
    if (member->second.status == store::DeviceStatus::Removed) {
      if (member->second.removal_cut)
        merge_up_to_cut(context, device, records, position, head, *member->second.removal_cut, plan);
      else
        refuse(plan, device, head, position.seq);
      continue;
    }
    verify_log(context, device, records, position, head, plan);
  }
  // A removed device's log left out of the answer while this device is
  // below the cut: the records its removal accepts are withheld (review of
  // 185f5f2, F1: nothing was said).
  for (const auto& [device, cut] : removal_cuts(context)) {
    auto known = positions.find(device);
    const std::int64_t at = known == positions.end() ? 0 : known->second.seq;
    if (!fetched.heads.count(device) && at < cut.seq) {
      plan.reached[device] = at;
      wait_unserved(plan, device, cut.seq - at);
    }
  }
  for (const auto& [device, position] : positions) {
    if (device != context.self && !plan.reached.count(device) && context.roster.count(device) &&
        context.roster.at(device).status == store::DeviceStatus::Active) {
      tampered(fmt::format("it no longer serves the records of device {}", device.str()));
    }
  }
  plan.merge.insert(plan.merge.end(), std::make_move_iterator(own.begin()), std::make_move_iterator(own.end()));
  check_frontiers(context, fetched, plan, positions);
  check_clocks(context, fetched, plan, positions);
  note_removed_differences(context, plan, positions);
  return plan;
}

void apply_change(store::LocalStore& store, const Change& change, TimePoint now) {
  store::TrustRecords records(store);
  if (change.kind == store::kChangePin) {
    records.merge_pin({*change.address, change.fingerprint, change.pin_kind, change.at});
  } else if (change.kind == store::kChangeAnchor) {
    records.merge_anchor({change.fingerprint, change.certificate, change.amount, change.at});
  } else if (change.kind == store::kChangeEndorsement) {
    records.add_endorsement(endorsement_of(change));
  } else if (change.kind == store::kChangeIdentity) {
    records.add_identity(Identity(change.fingerprint), change.certificate, now);
    // The top of a chain: what certificates issued under it chain to.
    if (crypto::Certificate::from_der(change.certificate).is_ca())
      store.add_contact_chain_certificate(change.certificate, now);
  } else if (change.kind == store::kChangeObservation) {
    records.merge_observation({*change.address, Identity(change.fingerprint), change.certificate_fingerprint,
                               change.source, change.first_seen, change.last_seen, change.days, change.messages});
  } else if (change.kind == store::kChangeContact) {
    crypto::Certificate certificate = crypto::Certificate::from_der(change.certificate);
    store.upsert_contact_certificate({0, *change.address, change.certificate,
                                      certificate.fingerprint().to_string(udf::kFullBits),
                                      certificate.key_fingerprint().to_string(udf::kFullBits), change.capabilities,
                                      change.source, change.first_seen, change.last_seen});
  }
}

// An endorsement's issuer is the key that signed its certificate, where this
// device knows that key; and the profile's own root signs only what names it
// as issuer (second review of 854b35c, F2: the profile's own endorsement
// published again under another issuer kept the genuine one out, as a
// certificate is stored once). One from an issuer unknown here is taken as
// learned. Throws Error(Malformed): the writer's record.
void check_endorsement_issuer(Context& context, const Change& change) {
  const crypto::Certificate certificate = crypto::Certificate::from_der(change.certificate);
  const bool own = change.issuer == context.own_root.str();
  if (!own && certificate.is_issued_by(context.root))
    throw Error(ErrorCode::Malformed, "an endorsement this profile's root signed names another issuer");
  std::optional<crypto::Certificate> issuer;
  if (own) {
    issuer = context.root;
  } else if (auto der = store::TrustRecords(context.store).identity_certificate(Identity(change.issuer))) {
    issuer = crypto::Certificate::from_der(*der);
  }
  if (issuer && !certificate.is_issued_by(*issuer))
    throw Error(ErrorCode::Malformed, "an endorsement names an issuer that did not sign it");
}

// One record's changes, decisions and position.
void apply_record(Context& context, const Verified& verified, RecordsReport& report, std::set<std::string>& touched,
                  TimePoint now) {
  store::TrustSync sync(context.store);
  TrustRecord record = verified.record.record;
  const bool may_decide = context.roster.at(record.device).role != store::DeviceRole::Read;
  std::vector<Change> taken;
  for (const auto& change : record.changes) {
    if (is_decision(change) && !may_decide) {
      ++report.ignored;
      continue;
    }
    if (change.kind == store::kChangeEndorsement)
      check_endorsement_issuer(context, change);
    if (auto decided = decided_by(change, context.own_root)) {
      apply_decision(context.store, {record.device, record.seq, record.lamport, "", record.frontier}, change, *decided);
    } else {
      apply_change(context.store, change, now);
    }
    taken.push_back(change);
  }
  record.changes = std::move(taken);
  note_decisions(sync, record, context.own_root, touched);
  // This device's own records taken back are in place already (and its
  // position past them, when it wrote on).
  if (record.device == context.self)
    return;
  // A read-only device's time is kept (the clock rule bounds what an
  // older writer that counted it may write) but moves no clock here
  // (highest_lamport leaves it out).
  sync.set_position({record.device, record.seq, verified.hash, record.lamport});
  if (auto proof = head_proof_of(verified.record))
    sync.set_head_proof({record.device, record.seq, proof->digest, proof->signature});
  ++report.merged;
}

// Each record is applied in a savepoint: one whose content fails while
// applied (something the decoder does not check) is its writer's doing,
// signed by its key, and holds back its log from there like one that does
// not decode, instead of failing every sync of every device (review of
// b30d091, G1). What this store refuses (StoreError) fails the sync, as do
// this device's own records taken back. No such content is known since the
// decoder parses certificates and device ids: this is the net under it.
void apply_plan(Context& context, Plan& plan, RecordsReport& report, TimePoint now) {
  std::sort(plan.merge.begin(), plan.merge.end(), [](const Verified& a, const Verified& b) {
    const TrustRecord& x = a.record.record;
    const TrustRecord& y = b.record.record;
    return std::tie(x.lamport, x.device, x.seq) < std::tie(y.lamport, y.device, y.seq);
  });
  store::TrustSync sync(context.store);
  store::Transaction transaction(context.store.database());
  const std::int64_t mark = sync.outbox_mark();
  std::set<std::string> touched;
  std::map<DeviceId, std::size_t> failed;  // writer -> its entry in report.overreaching
  for (const auto& verified : plan.merge) {
    const TrustRecord& record = verified.record.record;
    if (auto held = failed.find(record.device); held != failed.end()) {
      ++report.overreaching[held->second].waiting;
      continue;
    }
    const int ignored = report.ignored;
    try {
      store::Transaction one_record(context.store.database());
      apply_record(context, verified, report, touched, now);
      one_record.commit();
    } catch (const store::StoreError&) {
      throw;  // this store's own failure is nobody's record's doing (review h, H2)
    } catch (const Error& error) {
      // Neither is a bug here.
      if (record.device == context.self || error.code() == ErrorCode::Io || error.code() == ErrorCode::Internal)
        throw;
      report.ignored = ignored;
      failed.emplace(record.device, report.overreaching.size());
      report.overreaching.push_back({record.device, record.seq, record.device, record.seq, record.seq, 1,
                                     FrontierVerdict::Malformed, fmt::format("it cannot be merged: {}", error.what())});
    }
  }
  // What came from other devices is not this device's to send again.
  sync.discard_outbox(mark, std::numeric_limits<std::int64_t>::max());
  for (const auto& subject : touched)
    judge_conflict(sync, subject);
  transaction.commit();
}

// The logs that wait here with no verdict and no warning of their own:
// neither held back (a verdict charges someone) nor waiting for a removed
// device's record the service does not serve (that warns, naming the
// service). They wait for a key bundle (a records key, the device list) or
// for a record they name, and a wait that never ends is a bundle withheld or
// a key id rewritten (docs/service.md, "A wait without end"). Read after the
// merge: from the first record not merged.
std::vector<WaitingLog> silent_waits(store::LocalStore& store, const Plan& plan, const Fetched& fetched,
                                     const RecordsReport& report) {
  std::map<DeviceId, std::int64_t> merged;
  for (const auto& position : store::TrustSync(store).positions())
    merged[position.device_id] = position.seq;
  std::set<DeviceId> warned = plan.unserved_logs;
  for (const auto& held : report.overreaching)
    warned.insert(held.writer);
  std::vector<WaitingLog> out;
  for (const auto& device : plan.waiting) {
    auto head = fetched.heads.find(device);
    const std::int64_t first = merged[device] + 1;
    if (warned.count(device) || head == fetched.heads.end() || head->second < first)
      continue;
    const std::int64_t waiting = std::min<std::int64_t>(head->second - first + 1, std::numeric_limits<int>::max());
    out.push_back({device, first, static_cast<int>(waiting)});
  }
  return out;
}

// Each difference once: it does not change (the removed device writes no
// more), and every record the other device writes names it again, so a
// device would otherwise warn at every sync, for good; one that joined
// after the removal too (review i14i, finding 2). A difference that grows
// is reported again. Kept in the store's settings, after the merge.
std::vector<RemovedDifference> first_reported(store::LocalStore& store,
                                              const std::map<std::pair<DeviceId, DeviceId>, RemovedDifference>& found) {
  std::vector<RemovedDifference> out;
  for (const auto& [devices, difference] : found) {
    const std::string key =
        fmt::format("records.removed_difference.{}.{}", difference.removed.str(), difference.other.str());
    const std::string theirs = std::to_string(difference.theirs);
    if (store.setting(key) == theirs)
      continue;
    store.set_setting(key, theirs);
    out.push_back(difference);
  }
  return out;
}

// The records of removed devices refused in this sync that no sync here
// refused before (kept in the store's settings: the head served): the
// service keeps serving them, and a warning at every sync, for good, would
// teach the person to skip warnings.
int newly_refused(store::LocalStore& store, const Plan& plan) {
  std::int64_t out = 0;
  for (const auto& [device, head] : plan.refused_heads) {
    const std::string key = fmt::format("records.refused.{}", device.str());
    std::int64_t told = 0;
    if (auto seen = store.setting(key)) {
      if (std::from_chars(seen->data(), seen->data() + seen->size(), told).ec != std::errc{})
        told = 0;  // damaged: warn again
    }
    if (head <= told)
      continue;
    // Each term and the sum stay within an int: a hostile head cannot overflow it.
    out = std::min<std::int64_t>(out + clamped_count(head - std::max<std::int64_t>(told, 0)), plan.refused);
    store.set_setting(key, std::to_string(head));
  }
  return clamped_count(out);
}

// Each once, like first_reported: merging past a cut does not change until
// the person decides again, and would otherwise be warned of at every sync.
// Another fork at this device's position is said at every sync, as an
// unserved log is: it may be the service's doing, and it stops the removed
// device's records merging here (review of d206923, finding 2).
std::vector<PastCut> first_reported(store::LocalStore& store, const std::vector<PastCut>& found) {
  std::vector<PastCut> out;
  for (const auto& past : found) {
    if (past.other_fork) {
      out.push_back(past);
      continue;
    }
    const std::string key = fmt::format("records.past_cut.{}", past.removed.str());
    const std::string seen = fmt::format("{}/{}", past.cut, past.merged);
    if (store.setting(key) == seen)
      continue;
    store.set_setting(key, seen);
    out.push_back(past);
  }
  return out;
}

// What every merge checks against: the profile, this device, the records
// keys and the roster held here.
Context context_of(profile::Profile& profile, const std::vector<store::RecordsKeyRecord>& keys,
                   const KeyAccess& key_access) {
  store::LocalStore& store = profile.store();
  Context context{store,
                  store.profile().fingerprint,
                  root_identity(profile),
                  this_device(store).device_id,
                  profile.root_certificate(),
                  {},
                  {}};
  for (const auto& key : keys)
    context.keys.emplace(key.key_id, read_records_key(store, key, key_access));
  for (auto& device : store.devices())
    context.roster.emplace(device.device_id, std::move(device));
  return context;
}

}  // namespace

CutFound removal_cut(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                     const DeviceId& device, TimePoint now) {
  store::LocalStore& store = profile.store();
  store::TrustSync sync(store);
  const auto positions = sync.positions();
  CutFound found;
  for (const auto& position : positions) {
    if (position.device_id == device)
      found.cut = {position.seq, position.hash};
  }
  const auto keys = sync.records_keys();
  if (keys.empty())
    return found;  // no records yet: none of its records
  try {
    Context context = context_of(profile, keys, key_access);
    const store::DeviceRecord self = this_device(store);
    KeySigner signer(profile.load_key(self.signature_key_file, key_access), self.device_id.str(), now);
    const Fetched fetched = fetch_records(client, context.profile, positions, signer.signer);
    // Every log, as a sync checks them (frontiers, the clock), without
    // merging anything: the cut is the device's last record that would be
    // merged here now.
    const Plan plan = plan_merge(context, fetched, {});
    auto reached = plan.reached.find(device);
    if (reached == plan.reached.end() || reached->second <= found.cut.seq)
      return found;
    for (const auto& verified : plan.merge) {
      if (verified.record.record.device == device && verified.record.record.seq == reached->second)
        found.cut = {reached->second, verified.hash};
    }
  } catch (const store::StoreError&) {
    throw;
  } catch (const Error& error) {
    found.problem = error.what();
  }
  return found;
}

RecordsReport exchange_records(profile::Profile& profile, keyservice::Client& client, const KeyAccess& key_access,
                               TimePoint now) {
  store::LocalStore& store = profile.store();
  store::TrustSync sync(store);
  RecordsReport report;
  const auto keys = sync.records_keys();
  if (keys.empty())
    return report;  // no admin device has made the records key yet
  report.has_key = true;
  const store::DeviceRecord self = this_device(store);
  const Identity fingerprint = store.profile().fingerprint;
  const Identity own_root = root_identity(profile);
  KeySigner signer(profile.load_key(self.signature_key_file, key_access), self.device_id.str(), now);
  Context context = context_of(profile, keys, key_access);
  // Fetched first: the service's copy of this device's own log is checked
  // (and taken back when this store is behind it) before anything new is
  // written under the next number.
  Fetched fetched = fetch_records(client, fingerprint, sync.positions(), signer.signer);
  check_own_log(context, fetched);
  std::vector<Verified> own = take_back_own_log(context, fetched);
  report.restored = static_cast<int>(own.size());
  learn_missing_times(context, client, signer.signer, fetched.heads);
  return_to_cuts(context, {client, signer.signer}, fetched);

  Writer writer{store,       key_access, self, profile.load_key(self.signature_key_file, key_access),
                fingerprint, own_root,   now};
  report.written = write_own_records(writer);
  take_back_past_cuts(context, now);
  report.uploaded = upload_own_records(store, client, fingerprint, self.device_id, signer.signer);
  Plan plan = plan_merge(context, fetched, std::move(own));
  report.deferred = plan.deferred - plan.unserved;
  report.unserved = plan.unserved;
  report.refused = plan.refused;
  report.refused_new = newly_refused(store, plan);
  for (const auto& held_back : plan.overreaching) {
    report.deferred -= held_back.second.waiting;
    report.overreaching.push_back(held_back.second);
  }
  apply_plan(context, plan, report, now);
  report.removed_differences = first_reported(store, plan.removed_differences);
  report.long_waits = note_waits(store, silent_waits(store, plan, fetched, report), now);
  report.past_cut = reported_past_cuts(context);
  for (auto& past : first_reported(store, plan.past_cut))
    report.past_cut.push_back(std::move(past));
  report.conflicts = static_cast<int>(sync.conflicts().size());
  store.set_setting(kLastSyncSetting, std::to_string(to_unix_seconds(now)));
  return report;
}

}  // namespace mailseal::devices::internal

namespace mailseal::devices {

RecordsStatus records_status(store::LocalStore& store) {
  store::TrustSync sync(store);
  RecordsStatus status;
  status.has_key = !sync.records_keys().empty();
  if (auto last = store.setting(internal::kLastSyncSetting))
    status.last_sync = from_unix_seconds(std::stoll(*last));
  status.pending_changes = static_cast<int>(sync.outbox().size());
  for (const auto& record : sync.own_records())
    status.pending_records += record.uploaded ? 0 : 1;
  for (const auto& wait : sync.record_waits()) {
    ++status.waiting_logs;
    if (!status.oldest_wait || wait.since < *status.oldest_wait)
      status.oldest_wait = wait.since;
  }
  std::map<DeviceId, std::string> names;
  for (const auto& device : store.devices())
    names[device.device_id] = device.name;
  auto name_of = [&](const DeviceId& device) {
    auto found = names.find(device);
    return found == names.end() ? device.str() : found->second;
  };
  for (const auto& conflict : sync.conflicts()) {
    status.conflicts.push_back({conflict.subject, store::subject_address(conflict.subject), name_of(conflict.device_a),
                                conflict.value_a, name_of(conflict.device_b), conflict.value_b});
  }
  return status;
}

}  // namespace mailseal::devices

namespace mailseal::devices {

std::string_view to_string(FrontierVerdict verdict) {
  switch (verdict) {
    case FrontierVerdict::Unproven:
      return "unproven";
    case FrontierVerdict::Forged:
      return "forged";
    case FrontierVerdict::Downgraded:
      return "downgraded";
    case FrontierVerdict::Withheld:
      return "withheld";
    case FrontierVerdict::Unopened:
      return "unopened";
    case FrontierVerdict::Malformed:
      return "malformed";
    case FrontierVerdict::Newer:
      return "newer";
    case FrontierVerdict::ClockBroken:
      return "clock";
  }
  return "unproven";
}

}  // namespace mailseal::devices
