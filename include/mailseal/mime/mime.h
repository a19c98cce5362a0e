#pragma once
// MIME entities as bytes (RFC 2045, 2046, 5322). Header and boundary splitting
// keep exact byte ranges, because a signed part must be verified over the
// bytes that were signed and is never re-serialised; GMime parses the field
// values that are hard to get right (addresses, Content-Type parameters
// including RFC 2231, encoded words, dates).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailseal/common/base64.h"
#include "mailseal/common/bytes.h"
#include "mailseal/common/email_address.h"
#include "mailseal/common/time.h"

namespace mailseal::mime {

// Limits against hostile input.
inline constexpr std::size_t kMaxHeaderBlock = 1024 * 1024;
inline constexpr std::size_t kMaxHeaderFields = 2000;
inline constexpr std::size_t kMaxParts = 1000;

// One header field as written: its name and its raw value (folding kept,
// without the line ending of the last line).
struct HeaderField {
  std::string name;
  std::string raw_value;

  // The value unfolded and trimmed.
  std::string value() const;
};

class Headers {
 public:
  // Splits a header block (the bytes before the empty line) into fields.
  // Throws Error(Malformed) for a line that is neither a field nor a
  // continuation, or a block over the limits.
  static Headers parse(std::string_view block);

  const std::vector<HeaderField>& fields() const noexcept { return fields_; }
  // The first field of that name (case-insensitive), unfolded.
  std::optional<std::string> get(std::string_view name) const;
  std::size_t count(std::string_view name) const;

  void remove(std::string_view name);
  // Replaces the first field of that name (removing later ones) or appends.
  void set(std::string_view name, std::string_view value);
  void append(std::string_view name, std::string_view value);

  // "Name: value\r\n" for each field: canonical line endings.
  std::string serialize() const;

 private:
  std::vector<HeaderField> fields_;
};

bool is_content_header(std::string_view name);

// Whether two header field names are the same (they compare without regard
// to case, RFC 5322 section 1.2.2).
bool same_field_name(std::string_view a, std::string_view b);

struct ContentType {
  std::string media_type = "text";
  std::string subtype = "plain";
  std::vector<std::pair<std::string, std::string>> parameters;

  // Parses a Content-Type value with GMime (RFC 2045, RFC 2231); lower-cases
  // the type, subtype and parameter names.
  static ContentType parse(std::string_view value);

  std::string mime_type() const;  // "type/subtype"
  std::optional<std::string> parameter(std::string_view name) const;
  bool is(std::string_view type, std::string_view subtype) const;
  bool is_multipart() const { return media_type == "multipart"; }
};

// The mailboxes of an address header (From, To, Cc, Bcc), group members
// included, parsed with GMime. Throws Error(Malformed) when a mailbox is not a
// valid address.
std::vector<EmailAddress> parse_addresses(std::string_view value);

// Exactly one mailbox, read strictly, for a field a signature vouches for
// (the gateway's From, Sender, Resent-From): `addr-spec` or
// `display-name <addr-spec>` with an address EmailAddress accepts; no group,
// no list, no empty `<>`, no quoted local part, and no display name or
// comment holding '@' or '<' (after RFC 2047 decoding), and GMime must read
// the same single address. Throws Error(Malformed) saying why.
EmailAddress parse_mailbox(std::string_view value);

// RFC 2047 encoded words decoded to UTF-8.
std::string decode_header_text(std::string_view value);

// A Date header as a point in time, if it parses.
std::optional<TimePoint> parse_date(std::string_view value);

// An RFC 5322 Date value for a point in time (UTC).
std::string format_date(TimePoint time);

// A MIME entity (or whole message) as bytes, split at the first empty line.
struct Entity {
  std::string_view raw;
  std::string_view header_block;  // without the empty line
  std::string_view body;
  Headers headers;
  ContentType content_type;       // text/plain when absent (RFC 2045)
  std::string transfer_encoding;  // lower case; "7bit" when absent

  static Entity parse(std::string_view bytes);
};

// The body parts of a multipart body, exact byte ranges (RFC 2046 section
// 5.1.1: the line break before a delimiter belongs to the delimiter).
struct MultipartBody {
  std::vector<std::string_view> parts;
  bool closed = false;  // the close delimiter was present
  // Without it, what follows the last delimiter: a part that other readers
  // (GMime, mail clients) show although no delimiter ends it.
  std::optional<std::string_view> unterminated;
};
MultipartBody split_multipart(std::string_view body, std::string_view boundary);

// The body with its Content-Transfer-Encoding undone. Throws Error(Malformed)
// for invalid base64 or an unknown encoding.
Bytes decode_body(const Entity& entity);
using mailseal::decode_base64;  // common/base64.h

// Every line ending becomes CRLF (RFC 5751 canonical form).
std::string to_crlf(std::string_view text);
// True when every line ending already is CRLF.
bool is_crlf(std::string_view text);
// Base64 in lines of 76 characters, each ended by CRLF.
std::string encode_base64_lines(ByteView data);
// A fresh MIME boundary, unlikely to occur in any content.
std::string make_boundary();

// Sets GMime up now instead of at the first message: the resident process
// (mailseal/resident/resident.h) does it once for every command it forks.
void warm_up();

}  // namespace mailseal::mime
