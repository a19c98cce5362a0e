#include "service/internal/pages.h"

#include <algorithm>
#include <cctype>

#include <memory>

#include <fmt/format.h>

#include "mailseal/common/bytes.h"
#include "mailseal/common/escape.h"
#include "mailseal/common/qr_code.h"

namespace mailseal::service::pages {

const std::string_view kStylesheet =
    "body{font-family:sans-serif;max-width:40em;margin:0 auto;padding:0 1em;line-height:1.5}"
    "code{overflow-wrap:anywhere}"
    "input{font-size:1em;width:100%;box-sizing:border-box;padding:.4em}"
    "button{font-size:1em;padding:.4em 1em;margin-top:.5em}";
const std::string_view kStyleHash = "'sha256-0/F0g8Y+EkKy54ncGsyYDZv2z/1b+WZXn4zuPSlFj2M='";
// No scripts, no images, no external anything; forms post only here; the
// page cannot be framed. Verification tokens are in URLs: no referrer
// leaves a page and nothing is cached.
const std::string_view kSecurityPolicy =
    "default-src 'none'; style-src 'sha256-0/F0g8Y+EkKy54ncGsyYDZv2z/1b+WZXn4zuPSlFj2M='; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

namespace {

// Percent-encodes all but RFC 3986's unreserved characters: a path segment
// or a query value inside an href (then escaped as markup too).
std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

// A QR code of `text` as inline SVG (no image fetched: the policy allows
// none), black modules on a white square with a four-module quiet zone;
// empty if `text` does not fit in one.
std::string qr_svg(const std::string& text) {
  const std::optional<QrCode> code = encode_qr(text);
  if (!code)
    return "";
  std::string path;
  for (int y = 0; y < code->width; ++y) {
    for (int x = 0; x < code->width; ++x) {
      if (code->dark(x, y))
        path += fmt::format("M{} {}h1v1h-1z", x, y);
    }
  }
  return fmt::format("<svg class=\"qr\" viewBox=\"-4 -4 {0} {0}\" "
                     "width=\"200\" height=\"200\" role=\"img\" aria-label=\"QR code of the strong address\">"
                     "<rect x=\"-4\" y=\"-4\" width=\"{0}\" height=\"{0}\" fill=\"#fff\"/>"
                     "<path fill=\"#000\" d=\"{1}\"/></svg>",
                     code->width + 8, path);
}

constexpr std::string_view kLookupForm =
    "<form method=\"get\" action=\"/lookup\">\n"
    "<label for=\"q\">Email address or fingerprint</label>\n"
    "<input id=\"q\" name=\"q\" type=\"text\" required maxlength=\"256\" autocomplete=\"off\" "
    "autocapitalize=\"none\" spellcheck=\"false\" value=\"{}\">\n"
    "<button type=\"submit\">Look up</button>\n</form>\n";

constexpr std::string_view kFooter = "<p><a href=\"/\">Look up another</a> · <a href=\"/about\">What this service "
                                     "stores</a></p>";

}  // namespace

HttpResponse page(int status, std::string_view title, std::string_view body) {
  return HttpResponse{status,
                      fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                                  "<title>{0}</title><style>{2}</style></head>\n<body><h1>{0}</h1>\n{1}\n</body>"
                                  "</html>\n",
                                  escape_markup(title), body, kStylesheet),
                      "text/html; charset=utf-8",
                      {{"Content-Security-Policy", std::string(kSecurityPolicy)},
                       {"X-Content-Type-Options", "nosniff"},
                       {"X-Frame-Options", "DENY"},
                       {"Referrer-Policy", "no-referrer"},
                       {"Cache-Control", "no-store"}}};
}

HttpResponse home() {
  return page(200, "mailseal key service",
              fmt::format("<p>Look up the profile someone published here: its fingerprint, the addresses it "
                          "serves, its certificates.</p>\n{}{}",
                          fmt::format(fmt::runtime(kLookupForm), ""),
                          "<p><a href=\"/about\">What this service stores</a></p>"));
}

HttpResponse about() {
  return page(
      200, "What this service stores",
      fmt::format(
          "<p>This is a mailseal key service. It stores only public data and ciphertext:</p>\n<ul>\n"
          "<li>published profiles: a root certificate, device certificates, endorsements and revocations;</li>\n"
          "<li>which profile claims which email address, and whether a mail to that address confirmed it "
          "(the confirmation link's token is kept only as a digest);</li>\n"
          "<li>requests of new devices to join a profile, and invitations by PIN identifier;</li>\n"
          "<li>key bundles sealed to a device's key, and an escrow sealed to the profile's root secret: "
          "the service cannot open either;</li>\n"
          "<li>for a few minutes, the random values of signed requests (against replays), and counters of "
          "recent requests by network address (against abuse).</li>\n</ul>\n"
          "<p>It never holds a private key or a password and cannot read mail. A dishonest service can "
          "withhold data; it cannot impersonate anyone or add a device unnoticed.</p>\n{}",
          kFooter));
}

HttpResponse profile(const ProfileView& view) {
  std::string addresses;
  for (std::size_t i = 0; i < view.addresses.size(); ++i) {
    addresses += fmt::format("<li><code>{}</code>", escape_markup(view.addresses[i]));
    if (i < view.strong_addresses.size())
      addresses += fmt::format("<br>strong: <code class=\"strong\">{}</code><br>{}",
                               escape_markup(view.strong_addresses[i]), qr_svg(view.strong_addresses[i]));
    addresses += "</li>\n";
  }
  std::string verified;
  if (view.verified)
    verified = *view.verified
                   ? "<p>The service proved, by a mail with a link, that this profile receives mail at the address "
                     "you looked up.</p>\n"
                   : "<p><strong>Not verified:</strong> this service does not check addresses; anyone could "
                     "have published this profile for it. Compare the fingerprint with its owner.</p>\n";
  const std::string link = "/certificates/" + url_encode(view.fingerprint);
  return page(200, "Profile",
              fmt::format("<p>Looked up: <code>{}</code></p>\n<dl>\n<dt>Name</dt><dd>{}</dd>\n"
                          "<dt>Fingerprint</dt><dd><code id=\"fingerprint\">{}</code></dd>\n</dl>\n{}"
                          "<h2>Addresses</h2>\n<p>Give the strong form to your correspondents: it carries the fingerprint, so "
                          "their mailseal pins this profile.</p>\n<ul>\n{}</ul>\n<h2>Certificates</h2>\n<ul>\n"
                          "<li><a id=\"pem\" href=\"{}.pem\">PEM</a></li>\n"
                          "<li><a id=\"p7c\" href=\"{}.p7c\">PKCS#7 (.p7c, for mail clients)</a></li>\n</ul>\n{}",
                          escape_markup(view.query), escape_markup(view.name), escape_markup(view.fingerprint),
                          verified, addresses, escape_markup(link), escape_markup(link), kFooter));
}

HttpResponse not_found(std::string_view query) {
  return page(404, "Not found",
              fmt::format("<p>No profile is published here for <code>{}</code>, or its address is not "
                          "verified yet.</p>\n{}{}",
                          escape_markup(query), fmt::format(fmt::runtime(kLookupForm), escape_markup(query)),
                          kFooter));
}

HttpResponse mismatch(std::string_view query, std::string_view served) {
  return page(409, "Does not match",
              fmt::format("<p><strong>Careful:</strong> the strong address <code>{}</code> names another profile "
                          "than the one this service hands out for its address, <code>{}</code>. Someone may "
                          "have replaced the profile, or the strong address is wrong: ask its owner. No "
                          "certificates are offered here.</p>\n{}",
                          escape_markup(query), escape_markup(served), kFooter));
}

HttpResponse bad_query(std::string_view query) {
  return page(400, "Not an address or a fingerprint",
              fmt::format("<p><code>{}</code> is neither an email address, a strong address nor a profile's fingerprint.</p>\n{}{}",
                          escape_markup(query), fmt::format(fmt::runtime(kLookupForm), escape_markup(query)),
                          kFooter));
}

HttpResponse verify(VerifyPage which, int status, const VerifyView& view) {
  if (which == VerifyPage::Unknown)
    return page(status, "Unknown link",
                "<p>This link is not known here. It was never sent, or its claim is gone: the address was verified "
                "for another profile, the claim expired, or its owner withdrew it.</p>");
  const std::string what = fmt::format("<p>Address: <strong>{}</strong></p>\n<p>Profile: <code>{}</code></p>\n",
                                       escape_markup(view.address), escape_markup(view.account));
  switch (which) {
    case VerifyPage::Expired:
      return page(status, "This link has expired",
                  what + "<p>Nothing was changed. Publish the profile again (<code>mailseal publish</code>) for a "
                         "new mail.</p>");
    case VerifyPage::ConfirmedAlready:
      return page(status, "Confirmed already",
                  what + "<p>This address was confirmed for this profile already; this link cannot be used again. "
                         "Nothing was changed.</p>");
    case VerifyPage::OtherProfile:
      return page(status, "This address belongs to another profile",
                  what + fmt::format(
                             "<p>The key service hands out another profile for this address, <code>{}</code>: "
                             "it was confirmed from this mailbox before. If you did not just make a new profile "
                             "yourself, someone else published the one above: ignore this mail; nothing "
                             "changes.</p>\n<p>If you did replace your profile, confirm from a device of the new "
                             "one: <code>mailseal address confirm</code> with this link. A button cannot "
                             "replace an address.</p>",
                             escape_markup(view.other)));
    case VerifyPage::ConfirmedFirst:
      return page(status, "This address belongs to another profile",
                  what + "<p>Another profile's claim to this address was confirmed first. Nothing was "
                         "changed.</p>");
    case VerifyPage::Confirm:
      return page(status, "Confirm your address",
                  what + "<p>If you published this profile, press the button: the key service then hands it "
                         "out to whoever looks up your address. If you did not, close this page; nothing "
                         "changes.</p>\n<form method=\"post\"><button type=\"submit\">Confirm</button></form>");
    case VerifyPage::Confirmed:
    case VerifyPage::Unknown:
      break;
  }
  return page(status, "Address confirmed",
              what + "<p>The key service now hands out this profile for this address.</p>");
}

std::optional<std::string> query_parameter(std::string_view target, std::string_view name) {
  auto question = target.find('?');
  if (question == std::string_view::npos)
    return std::nullopt;
  std::string_view rest = target.substr(question + 1);
  while (!rest.empty()) {
    std::string_view pair = rest.substr(0, rest.find('&'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    auto equals = pair.find('=');
    if (pair.substr(0, equals) != name)
      continue;
    std::string_view value = equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '+') {
        out.push_back(' ');
      } else if (value[i] == '%') {
        if (i + 2 >= value.size())
          return std::nullopt;
        std::string_view hex = value.substr(i + 1, 2);
        if (!std::isxdigit(static_cast<unsigned char>(hex[0])) || !std::isxdigit(static_cast<unsigned char>(hex[1])))
          return std::nullopt;
        out.push_back(static_cast<char>(from_hex(hex)[0]));
        i += 2;
      } else {
        out.push_back(value[i]);
      }
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace mailseal::service::pages
