#pragma once
// The key service's pages for people (docs/service.md, "Pages"): server-
// rendered HTML, no scripts, no external assets, one inline stylesheet
// allowed by its hash in a strict Content-Security-Policy. Every string
// that came from outside is escaped here, once, with escape_markup; the
// callers pass text, never markup (except page()'s body).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/service/api.h"

namespace mailseal::service::pages {

// The inline stylesheet and the CSP source that allows it ('sha256-...',
// the base64 SHA-256 of kStylesheet; a unit test recomputes it).
extern const std::string_view kStylesheet;
extern const std::string_view kStyleHash;
extern const std::string_view kSecurityPolicy;

// What a lookup found: all of it attacker-controlled text.
struct ProfileView {
  std::string query;                   // what was looked up, as typed
  std::string name;                    // the root certificate's common name
  std::string fingerprint;             // the profile's
  std::vector<std::string> addresses;  // the addresses the service serves for it
  // The same addresses bound to the fingerprint (udf/strong_address.h,
  // Strong Internet Name form): typing one pins the key.
  std::vector<std::string> strong_addresses;
  std::optional<bool> verified;        // for a lookup by address: proved by a mail?
};

// A whole page: `title` is text, `body` is markup already.
HttpResponse page(int status, std::string_view title, std::string_view body);

HttpResponse home();
HttpResponse about();
HttpResponse profile(const ProfileView& view);
// 404: nothing (verified or listed) is served for `query`.
HttpResponse not_found(std::string_view query);
// 409: the profile served for a strong address's address is not the one
// its fingerprint names (`served`): no certificates are offered.
HttpResponse mismatch(std::string_view query, std::string_view served);
// 400: `query` is neither an address nor a fingerprint.
HttpResponse bad_query(std::string_view query);

// The pages of a challenge mail's link (GET /verify/TOKEN and its button's
// POST; docs/service.md, "Verified addresses"). The API decides which and
// its status; `address`, `account` and `other` (the profile served for the
// address instead) are text.
enum class VerifyPage {
  Unknown,           // no such token, or its claim is gone
  Expired,           // nothing changed
  ConfirmedAlready,  // for this profile; the link cannot be used again
  OtherProfile,      // another profile is served for the address: a button cannot replace it
  Confirm,           // what the link confirms, and the button
  Confirmed,         // the button did it
  ConfirmedFirst,    // another profile's claim was confirmed at the same moment, first
};
struct VerifyView {
  std::string address;
  std::string account;
  std::string other;
};
HttpResponse verify(VerifyPage which, int status, const VerifyView& view = {});

// The value of `name` in a query string (application/x-www-form-urlencoded:
// percent-escapes and '+'), or nullopt if absent or malformed.
std::optional<std::string> query_parameter(std::string_view target, std::string_view name);

}  // namespace mailseal::service::pages
