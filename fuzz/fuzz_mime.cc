// MIME parsing of untrusted messages: entities, multipart bodies, transfer
// encodings, address lists, single mailboxes read strictly, Content-Type parameters, dates,
// and RFC 9788 Legacy Display Elements removed (as a reader of a decrypted
// payload does, with the entity's own fields) and added.

#include "fuzz.h"
#include "mailseal/common/error.h"
#include "mailseal/mime/legacy_display.h"
#include "mailseal/mime/mime.h"

namespace mailseal::fuzz {

namespace {

void walk(std::string_view bytes, int depth) {
  mime::Entity entity = mime::Entity::parse(bytes);
  for (const char* name : {"From", "To", "Cc"}) {
    if (auto value = entity.headers.get(name)) {
      try {
        (void)mime::parse_addresses(*value);
      } catch (const Error&) {
      }
      try {
        (void)mime::parse_mailbox(*value);
      } catch (const Error&) {
      }
    }
  }
  if (auto value = entity.headers.get("Date"))
    (void)mime::parse_date(*value);
  if (auto value = entity.headers.get("Subject"))
    (void)mime::decode_header_text(*value);
  (void)entity.headers.serialize();
  try {
    (void)mime::decode_body(entity);
  } catch (const Error&) {
  }
  if (entity.content_type.is_multipart() && depth < 4) {
    if (auto boundary = entity.content_type.parameter("boundary")) {
      for (auto part : mime::split_multipart(entity.body, *boundary).parts) {
        try {
          walk(part, depth + 1);
        } catch (const Error&) {
        }
      }
    }
  }
}

// Removal with the entity's own user-facing fields: nothing removed means
// nothing changed, and a removal never adds bytes beyond the parameter edit.
void legacy_display(std::string_view bytes) {
  mime::Entity entity = mime::Entity::parse(bytes);
  std::vector<mime::DisplayedField> fields;
  for (const auto& field : entity.headers.fields()) {
    for (const char* name : {"Subject", "From", "To", "Cc", "Date", "Reply-To"}) {
      if (mime::same_field_name(field.name, name))
        fields.push_back(mime::displayed_field(field.name, field.raw_value));
    }
  }
  mime::LegacyDisplayRemoval removal = mime::remove_legacy_display(bytes, fields);
  if (removal.removed == 0 && removal.entity != bytes)
    __builtin_trap();
  if (fields.empty())
    return;
  if (auto added = mime::add_legacy_display(bytes, std::span(fields).first(1)))
    (void)mime::remove_legacy_display(*added, fields);
  if (auto type = entity.headers.get("Content-Type"))
    (void)mime::without_parameter(*type, mime::kLegacyDisplayParameter);
}

}  // namespace

void run(std::span<const std::uint8_t> input) {
  try {
    walk(as_string_view(input), 0);
  } catch (const Error&) {
  }
  try {
    legacy_display(as_string_view(input));
  } catch (const Error&) {
  }
  (void)mime::to_crlf(as_string_view(input));
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
