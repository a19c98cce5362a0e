#pragma once
// Identifiers that are strings in the store and on the wire but must never
// be mistaken for one another in code: an identity, a device id, a join
// request id. Each is its own type, made from a string only explicitly, with
// no conversion between them; str() gives the string back where it is
// written (SQLite, JSON, a URL path, a message). Constructing one checks
// nothing: where a string from outside becomes an id, the code that reads
// it checks it as before.

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

namespace mailseal {

template <typename Tag>
class Id {
 public:
  Id() = default;
  explicit Id(std::string text) : text_(std::move(text)) {}

  const std::string& str() const noexcept { return text_; }
  bool empty() const noexcept { return text_.empty(); }

  friend bool operator==(const Id&, const Id&) = default;
  friend std::strong_ordering operator<=>(const Id&, const Id&) = default;

 private:
  std::string text_;
};

// An identity: the UDF fingerprint, at full precision, of the key at the top
// of a certificate chain; for a mailseal user, of their profile root (a
// profile's fingerprint). The trust engine weighs evidence between identities.
using Identity = Id<struct IdentityTag>;

// A device of a profile: the fingerprint of its signature key at 100 bits
// (keyservice::device_id_of).
using DeviceId = Id<struct DeviceIdTag>;

// A device's request to join a profile, as the key service named it.
using RequestId = Id<struct RequestIdTag>;

}  // namespace mailseal

template <typename Tag>
struct std::hash<mailseal::Id<Tag>> {
  std::size_t operator()(const mailseal::Id<Tag>& id) const noexcept { return std::hash<std::string>{}(id.str()); }
};
