#pragma once
// The trust evidence a device keeps (schema 3): identities, pins and
// acceptances, observations (trust on first use), endorsements, trust anchors,
// revocations and discoveries. Records only; the trust engine weighs them.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/store/local_store.h"

namespace mailseal::store {

struct PinRecord {
  EmailAddress address;
  std::string fingerprint;  // a UDF presentation, as typed (at least 100 bits)
  std::string kind;         // "pin" (compared) or "accept" (a conflict resolved)
  TimePoint created_at{};
};

struct ObservationRecord {
  EmailAddress address;
  Identity identity;
  std::string certificate;  // certificate fingerprint of the last sighting
  std::string source;       // "message", "import"
  TimePoint first_seen{};
  TimePoint last_seen{};
  int days = 0;
  int messages = 0;
};

struct EndorsementRecord {
  std::int64_t id = 0;
  Identity issuer;
  Identity subject;
  int amount = 0;
  int depth = 0;
  std::vector<std::string> scope;      // name constraints on what the subject may introduce
  std::vector<std::string> addresses;  // the bindings certified
  std::string kind = "endorsement";    // or "rotation"
  bool exportable = true;
  Bytes certificate;  // the cross-certificate, DER
  TimePoint created_at{};
};

struct AnchorRecord {
  std::string fingerprint;  // of the certificate
  Bytes certificate;
  int amount = 60;
  TimePoint added_at{};
};

// Whether the key service a binding was found through said it verified the
// address (schema 8).
enum class DiscoveryVerification { Unverified, Verified };

class TrustRecords {
 public:
  explicit TrustRecords(LocalStore& store) : store_(store), database_(store.database()) {}

  // Every add_* and observe notes the change for trust records
  // (trust_sync.h), in the same transaction; merge_* take changes that
  // came from another device without noting them again.

  // Identities: the certificate at the top of a chain, by its identity.
  void add_identity(const Identity& identity, ByteView certificate, TimePoint at);
  std::optional<Bytes> identity_certificate(const Identity& identity);

  // A pin or acceptance made on this device: it also settles a conflict
  // between other devices' decisions about the address (trust_sync.h).
  void add_pin(const PinRecord& pin);
  void merge_pin(const PinRecord& pin);
  // Removes this device's pins and acceptances of `address` (of
  // `fingerprint` only, when given), noting the removal as a decision and
  // settling a conflict about the address, as add_pin does. Returns how many
  // rows went.
  int remove_pins(const EmailAddress& address, const std::optional<std::string>& fingerprint);
  // Another device's removal: the rows of `fingerprint` (every row when
  // kAllTargets) except those whose fingerprint is in `keep` (decided later).
  void merge_unpin(const EmailAddress& address, const std::string& fingerprint, const std::set<std::string>& keep);
  std::optional<PinRecord> pin(const EmailAddress& address, const std::string& fingerprint, const std::string& kind);
  std::vector<PinRecord> pins(const EmailAddress& address);

  // Records a sighting of `identity` for `address` at `at` (the local
  // clock: the first sighting is the baseline), of a message dated
  // `message_date` (its day, UTC, is what counts). The first creates the
  // row; later ones count messages and changes of day. A message whose
  // `message_digest` was learned before is not counted again (replays).
  struct Sighting {
    Identity identity;
    std::string certificate;
    std::string source;  // "message" or "import"
    TimePoint at{};
    std::optional<TimePoint> message_date;      // set for a message
    std::optional<std::string> message_digest;  // set for a message
  };
  // Returns false if the message was learned before (nothing changed).
  bool observe(const EmailAddress& address, const Sighting& sighting);
  std::vector<ObservationRecord> observations(const EmailAddress& address);
  std::optional<ObservationRecord> observation(const EmailAddress& address, const Identity& identity);
  // Another device's observation, merged as a union: the earliest
  // first_seen, the latest last_seen, the larger counts.
  void merge_observation(const ObservationRecord& observation);

  // Returns false if the same certificate is there already.
  bool add_endorsement(const EndorsementRecord& endorsement);
  std::vector<EndorsementRecord> endorsements_by(const Identity& issuer);
  std::optional<EndorsementRecord> endorsement(std::int64_t id);
  // The cross-certificates (DER) of `issuer`'s exportable endorsements.
  std::vector<Bytes> exportable_endorsements(const Identity& issuer);
  std::vector<EndorsementRecord> endorsements_of(const Identity& subject);
  // Withdraws the endorsements `issuer` made of `subject` on this device
  // (noted as a decision, settling a conflict); returns how many went.
  int withdraw_endorsements(const Identity& issuer, const Identity& subject);
  // Another device's withdrawal, or an endorsement it overtook.
  void remove_endorsement(std::int64_t id);

  // A trust anchor added (or its amount changed) on this device: noted, and
  // settles a conflict about the anchor.
  void add_anchor(const AnchorRecord& anchor);
  // Another device's anchor, with its amount.
  void merge_anchor(const AnchorRecord& anchor);
  // Removes a trust anchor on this device (noted as a decision, settling a
  // conflict); false if there was none with that fingerprint.
  bool remove_anchor(const std::string& fingerprint);
  void merge_anchor_removal(const std::string& fingerprint);
  std::vector<AnchorRecord> anchors();

  // A revoked certificate, by its issuer (the full-precision fingerprint of
  // the issuer's key, an identity when the issuer is a root) and serial
  // (hex). Returns false if it was recorded already.
  bool add_revocation(const Identity& issuer, const std::string& serial, const std::string& source, TimePoint at);
  bool is_revoked(const Identity& issuer, const std::string& serial);
  // Every issuer with a recorded revocation.
  std::set<Identity> revoking_issuers();
  // The serials `issuer` revoked.
  std::vector<std::string> revoked_serials(const Identity& issuer);

  // A binding found through a key service (`source`, its URL), and whether
  // that service said it verified the address. Found again, the row says
  // what the latest lookup said.
  void add_discovery(const EmailAddress& address, const Identity& identity, const std::string& source,
                     DiscoveryVerification verification, TimePoint at);
  // How the binding was discovered; nullopt when it was not.
  std::optional<DiscoveryVerification> discovery(const EmailAddress& address, const Identity& identity);

 private:
  LocalStore& store_;
  Database& database_;
};

}  // namespace mailseal::store
