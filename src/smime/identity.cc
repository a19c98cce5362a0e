// Whom a read message is from (docs/smime.md, "Identity").

#include "smime/internal/identity.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/obj_mac.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "smime/internal/reading.h"

namespace mailseal::smime::internal {

namespace {

// The fields a mail client shows, compared between outer and signed headers.
constexpr std::string_view kShownFields[] = {"From", "Sender", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID"};
constexpr int kMaxPartDepth = 8;

bool is_local_char(unsigned char c) {
  return std::isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

bool is_domain_char(unsigned char c) {
  return std::isalnum(c) || c == '.' || c == '-';
}

// Every address-like token (local@domain.tld) in decoded header text.
std::vector<std::string> addresses_in_text(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
    std::size_t begin = at;
    while (begin > 0 && is_local_char(static_cast<unsigned char>(text[begin - 1])))
      --begin;
    std::size_t end = at + 1;
    while (end < text.size() && is_domain_char(static_cast<unsigned char>(text[end])))
      ++end;
    while (end > at + 1 && text[end - 1] == '.')
      --end;
    // A dotless domain ("alice@example") still looks like an address.
    if (begin < at && end > at + 1)
      out.push_back(ascii_lower(std::string(text.substr(begin, end - begin))));
  }
  return out;
}

// A character of decoded header text that makes one address look like
// another: an @ look-alike (U+FF20, U+FE6B), an invisible format character
// (U+200B..U+200F, U+FEFF) or a bidi control (U+202A..U+202E,
// U+2066..U+2069), as "U+XXXX"; or " @ " for an @ with space around it.
std::optional<std::string> deceptive_character(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = [&](std::size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0; };
    const bool space_before = i > 0 && std::isspace(static_cast<unsigned char>(text[i - 1]));
    if (text[i] == '@' && (space_before || std::isspace(byte(1)))) {
      return std::string("an @ with space around it");
    }
    unsigned code = 0;
    if (byte(0) == 0xE2 && (byte(1) == 0x80 || byte(1) == 0x81) && byte(2) >= 0x80 && byte(2) <= 0xBF)
      code = 0x2000 + ((byte(1) & 0x3F) << 6) + (byte(2) & 0x3F);
    else if (byte(0) == 0xEF && byte(1) >= 0xB8 && byte(1) <= 0xBF && byte(2) >= 0x80 && byte(2) <= 0xBF)
      code = 0xF000 + ((byte(1) & 0x3F) << 6) + (byte(2) & 0x3F);
    const bool format = (code >= 0x200B && code <= 0x200F) || (code >= 0x202A && code <= 0x202E) ||
                        (code >= 0x2066 && code <= 0x2069) || code == 0xFEFF;
    if (format || code == 0xFF20 || code == 0xFE6B)
      return fmt::format("U+{:04X}", code);
  }
  return std::nullopt;
}

std::string join_addresses(const std::vector<EmailAddress>& addresses) {
  std::vector<std::string> text;
  for (const auto& address : addresses)
    text.push_back(address.str());
  return fmt::format("{}", fmt::join(text, ", "));
}

std::vector<EmailAddress> addresses_of(const mime::Headers& headers, std::string_view name) {
  std::vector<EmailAddress> out;
  for (const auto& field : headers.fields()) {
    if (!mime::same_field_name(field.name, name))
      continue;
    try {
      auto addresses = mime::parse_addresses(field.value());
      out.insert(out.end(), addresses.begin(), addresses.end());
    } catch (const Error&) {
    }
  }
  return out;
}

// A signed or encrypted S/MIME entity, by its type (and, when the type does
// not say, by its CMS content).
void classify_part(const mime::Entity& part, PartialLayers& found) {
  const auto& type = part.content_type;
  if (type.is("multipart", "signed")) {
    found.signed_part = true;
    return;
  }
  if (!is_pkcs7_mime(type) && !is_p7m_octet_stream(part))
    return;
  std::string smime_type = ascii_lower(type.parameter("smime-type").value_or(""));
  if (smime_type == "signed-data") {
    found.signed_part = true;
  } else if (smime_type == "enveloped-data" || smime_type == "authenveloped-data") {
    found.encrypted_part = true;
  } else if (smime_type.empty()) {
    try {
      int nid = cms_content_type(mime::decode_body(part));
      found.signed_part = found.signed_part || nid == NID_pkcs7_signed;
      found.encrypted_part =
          found.encrypted_part || nid == NID_pkcs7_enveloped || nid == NID_id_smime_ct_authEnvelopedData;
    } catch (const Error&) {
    }
  }
}

bool is_container(const mime::Entity& entity) {
  return entity.content_type.is("message", "rfc822") || entity.content_type.is_multipart();
}

// Two Content-Type fields: mailseal reads the first, other readers (GMime)
// the last, so a signature could hide behind a harmless first one.
bool has_two_content_types(const mime::Entity& entity) {
  return entity.headers.count("Content-Type") > 1;
}

void find_in(const mime::Entity& entity, int depth, PartialLayers& found);

// One part as other readers see it: its type, then what it holds. A part
// that does not parse is not checked, and says so, rather than hiding its
// siblings.
void look_at_part(std::string_view bytes, int depth, PartialLayers& found) {
  mime::Entity part;
  try {
    part = mime::Entity::parse(bytes);
  } catch (const Error&) {
    found.unchecked = true;
    return;
  }
  if (has_two_content_types(part))
    found.unchecked = true;
  classify_part(part, found);
  find_in(part, depth + 1, found);
}

// Fails closed (PartialLayers::unchecked) wherever the search cannot see
// what another reader would show: too deep, too many parts, a part that
// does not parse.
void find_in(const mime::Entity& entity, int depth, PartialLayers& found) {
  if (!is_container(entity))
    return;
  if (depth > kMaxPartDepth) {
    found.unchecked = true;
    return;
  }
  if (entity.content_type.is("message", "rfc822")) {
    look_at_part(entity.body, depth, found);
    return;
  }
  auto boundary = entity.content_type.parameter("boundary");
  if (!boundary)
    return;  // no parts: readers show the body as text
  mime::MultipartBody body;
  try {
    body = mime::split_multipart(entity.body, *boundary);
  } catch (const Error&) {
    found.unchecked = true;
    return;
  }
  for (std::string_view bytes : body.parts)
    look_at_part(bytes, depth, found);
  if (body.unterminated)
    look_at_part(*body.unterminated, depth, found);
}

}  // namespace

bool is_pkcs7_mime(const mime::ContentType& type) {
  return type.is("application", "pkcs7-mime") || type.is("application", "x-pkcs7-mime");
}

bool is_p7m_octet_stream(const mime::Entity& entity) {
  if (!entity.content_type.is("application", "octet-stream"))
    return false;
  std::string name = ascii_lower(entity.content_type.parameter("name").value_or(""));
  return name.size() >= 4 && name.substr(name.size() - 4) == ".p7m";
}

std::optional<EmailAddress> single_from(const mime::Headers& headers, std::string_view where,
                                        std::vector<std::string>& problems, std::vector<std::string>& unparsed) {
  const std::size_t fields = headers.count("From");
  if (fields == 0)
    return std::nullopt;
  if (fields > 1) {
    std::vector<EmailAddress> all = addresses_of(headers, "From");
    problems.push_back(fmt::format("{} has {} From fields ({}); exactly one is accepted", where, fields,
                                   all.empty() ? std::string("none valid") : join_addresses(all)));
    return std::nullopt;
  }
  std::vector<EmailAddress> mailboxes;
  try {
    mailboxes = mime::parse_addresses(*headers.get("From"));
  } catch (const Error&) {
  }
  if (mailboxes.empty()) {
    unparsed.push_back(
        fmt::format("the From field of {} (\"{}\") is not one valid mailbox, so whom it is from "
                    "cannot be checked",
                    where, *headers.get("From")));
    return std::nullopt;
  }
  if (mailboxes.size() > 1) {
    problems.push_back(fmt::format("the From field of {} names {} mailboxes ({}); exactly one is accepted", where,
                                   mailboxes.size(), join_addresses(mailboxes)));
    return std::nullopt;
  }
  return mailboxes.front();
}

void check_shown_identity(const mime::Headers& headers, const EmailAddress& from, std::vector<std::string>& warnings) {
  if (auto value = headers.get("From")) {
    const std::string shown = mime::decode_header_text(*value);
    if (auto character = deceptive_character(shown)) {
      warnings.push_back(
          fmt::format("the From field holds {} (\"{}\"), which can make another address show; the "
                      "message is from {}",
                      *character, shown, from.str()));
    }
    for (const auto& token : addresses_in_text(shown)) {
      if (token != from.str()) {
        warnings.push_back(
            fmt::format("the From display name shows the address {}, but the message is from {}", token, from.str()));
        break;
      }
    }
  }
  for (std::string_view name : {"Sender", "Resent-From", "Resent-Sender"}) {
    for (const auto& field : headers.fields()) {
      if (!mime::same_field_name(field.name, name))
        continue;
      std::vector<EmailAddress> addresses;
      try {
        addresses = mime::parse_addresses(field.value());
      } catch (const Error&) {
      }
      // A field that does not parse is shown by clients all the same.
      if (addresses.size() != 1 || !(addresses.front() == from)) {
        warnings.push_back(
            fmt::format("the {} field says \"{}\", but the message is from {}; mail clients may show "
                        "either",
                        name, mime::decode_header_text(field.value()), from.str()));
        break;
      }
    }
  }
}

void compare_with_signed(const mime::Headers& outer, const mime::Headers& signed_fields,
                         std::vector<std::string>& warnings) {
  for (std::string_view name : kShownFields) {
    auto outside = outer.get(name);
    if (!outside)
      continue;
    auto inside = signed_fields.get(name);
    if (!inside) {
      warnings.push_back(
          fmt::format("the outer {} field is not signed (the signed header fields have none): "
                      "ignored",
                      name));
    } else if (*inside != *outside || outer.count(name) != signed_fields.count(name)) {
      warnings.push_back(
          fmt::format("the outer {} field \"{}\" differs from the signed one \"{}\": the signed one counts", name,
                      *outside, *inside));
    }
  }
}

std::optional<bool> addressed_to(const mime::Headers& signed_fields, std::span<const EmailAddress> reader) {
  if (reader.empty() || (!signed_fields.get("To") && !signed_fields.get("Cc")))
    return std::nullopt;
  std::vector<EmailAddress> recipients = addresses_of(signed_fields, "To");
  std::vector<EmailAddress> copied = addresses_of(signed_fields, "Cc");
  recipients.insert(recipients.end(), copied.begin(), copied.end());
  return std::any_of(recipients.begin(), recipients.end(), [&](const EmailAddress& recipient) {
    return std::find(reader.begin(), reader.end(), recipient) != reader.end();
  });
}

PartialLayers find_partial_layers(const mime::Entity& entity) {
  PartialLayers found;
  found.unchecked = has_two_content_types(entity);
  find_in(entity, 0, found);
  return found;
}

}  // namespace mailseal::smime::internal
