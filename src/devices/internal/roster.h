#pragma once
// Two admin devices (docs/service.md, "Two admin devices"): merging what
// another admin device knows of the profile (its device list, its mail keys,
// its records keys), read from the escrow it published (sealed under the
// root's secret) or a key bundle (signed by the root), so that every admin
// device reaches the same state whatever order the lists arrive in, and
// whatever old ones a key service serves again. The rules are pure functions
// of the two lists; roster.cc applies them to the store.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailseal/common/bytes.h"
#include "mailseal/crypto/certificate.h"
#include "mailseal/store/local_store.h"

namespace mailseal::devices::internal {

// The lesser of two roles: read < full < admin.
store::DeviceRole lesser_role(store::DeviceRole a, store::DeviceRole b) noexcept;

// A device of the profile whose root is `root`: both certificates issued by
// it as device certificates (not a CA, naming no address), and the device id
// the fingerprint of the signature key.
bool is_device_of(const store::DeviceRecord& device, const crypto::Certificate& root);

// What merging another admin device's list changes in the list held here.
struct RosterChanges {
  std::vector<store::DeviceRecord> added;  // devices not held here, with the other's role and status
  std::vector<DeviceId> removed;           // active here, removed there: a removal is final
  std::vector<std::pair<DeviceId, store::DeviceRole>> restricted;  // the lesser of the two roles
  // Admin devices here that the other list gives a lesser role: never taken
  // (only a holder of the root writes such a list, and roles never change
  // after joining, so it is a stolen admin device's), only reported.
  std::vector<std::pair<DeviceId, store::DeviceRole>> admins_lowered;
  std::vector<store::DeviceRecord> renewed;  // the same keys, certificates that last longer
  // Device certificates (DER) of devices removed on either side, those of
  // both sides: a renewal made before the removal was known is revoked, not
  // taken. Revoking again changes nothing, so empty() leaves them out.
  std::vector<Bytes> revoked;
  // Removed devices whose cut (store::RemovalCut) the merge moves
  // (agreed_cut).
  std::vector<std::pair<DeviceId, store::RemovalCut>> cuts;
  bool empty() const noexcept {
    return added.empty() && removed.empty() && restricted.empty() && renewed.empty() && cuts.empty();
  }
};

// The cut kept when two admin devices removed the same device (docs/
// security.md, "The cut"): theirs when they agree, else none of its records
// (number 0). Two cuts that differ may lie on two forks, one a thief signed
// after the first removal while the service hid that removal from the
// second admin device, and nothing at the merge of two lists tells which:
// keeping the higher merged the thief's longer fork, keeping the lower (or
// the lesser hash at one number) its shorter one (reviews of d206923 and
// ac0c460). Devices then keep what they had merged, as before the cut, and
// each that merged some is told (PastCut). A removal without a cut (an
// older mailseal) takes the other's. Commutative, associative, idempotent.
std::optional<store::RemovalCut> agreed_cut(const std::optional<store::RemovalCut>& a,
                                            const std::optional<store::RemovalCut>& b);

// Error(BadSignature) naming the device when `other` holds an entry that is
// not a device of the profile (is_device_of), or binds a device held here to
// other keys; nothing is merged then. Merging is commutative, idempotent and
// monotone: a removed device stays removed, a role only goes down (except
// an admin device's, which no list lowers: admins_lowered), and of
// two certificates for a device's keys the one that ends later (then the
// greater DER) is kept, except for a removed device, whose certificates are
// never renewed by a merge.
RosterChanges merge_roster(const std::vector<store::DeviceRecord>& held, const std::vector<store::DeviceRecord>& other,
                           const crypto::Certificate& root);

// What of another admin device's list is still merged when this device
// refuses it, because it removes `self` or lowers this device's role: what
// only shrinks who can read or sign. The removals of other devices (with the
// revocation of their device certificates) and lowered roles of devices that
// are not admin devices are kept, their cuts are not (a cut adds records to
// merge); this device's own entry is left out (its
// removal stays refused), no admin device is lowered (admins_lowered, F2),
// and nothing is added or renewed (the list may be a stolen admin device's,
// and an added device would read every key). Removals are final, so losing
// one would bring back a device the person removed (review of issue 14, F3;
// docs/service.md, "Two admin devices"). Throws like merge_roster.
RosterChanges shrinking_changes(const std::vector<store::DeviceRecord>& held,
                                const std::vector<store::DeviceRecord>& other, const DeviceId& self,
                                const crypto::Certificate& root);

// Records keys by id with their status. After merging: every id of either
// side; archived where either side archived it (a rotation archives every
// older key); of the others, the greatest id is current and the rest are
// archived (two admin devices that rotated at once agree on one).
using KeyStatuses = std::map<std::string, store::KeyStatus>;
KeyStatuses merge_records_keys(const KeyStatuses& held, const KeyStatuses& other);

// A mail certificate as merging sees it.
struct MailCertificate {
  EmailAddress address;
  store::KeyPurpose purpose = store::KeyPurpose::Signing;
  store::KeyOrigin origin = store::KeyOrigin::Profile;
  Bytes certificate;  // DER
  store::KeyStatus status = store::KeyStatus::Current;
};

// The status of every certificate of either side (by DER) after merging:
// archived where either side archived it (a removal's rotation, a renewal);
// every certificate for a key retired on either side (the profile's key,
// every certificate of which that side holds archived: rotated away) is
// archived, so a renewal made elsewhere before the rotation was known does
// not bring the key back; of the profile's certificates still current for one address and purpose,
// the one that begins last (then the greater DER) stays current and the
// others are archived. Imported identities keep the union of statuses.
std::map<Bytes, store::KeyStatus> merge_mail_certificates(const std::vector<MailCertificate>& held,
                                                          const std::vector<MailCertificate>& other);

// The profile's certificates (DER), signing and encryption, that `merged`
// archives although neither side had archived them: current on both devices
// that knew them, they lost the tie-break to one made at the same time
// elsewhere for another key (two rotations at once; not two renewals of one
// key), or their key was retired on the other side (a renewal that did not
// know of a rotation). Each may have been sealed to a device the other admin
// device removed meanwhile, so it is revoked, not only archived: a
// correspondent holding an encryption certificate of such a key would
// otherwise keep encrypting to it (docs/service.md, "Two admin devices").
std::vector<Bytes> certificates_superseded(const std::vector<MailCertificate>& held,
                                           const std::vector<MailCertificate>& other,
                                           const std::map<Bytes, store::KeyStatus>& merged);

}  // namespace mailseal::devices::internal
