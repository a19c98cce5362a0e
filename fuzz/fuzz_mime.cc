// MIME parsing of untrusted messages: entities, multipart bodies, transfer
// encodings, address lists, single mailboxes read strictly, Content-Type parameters, dates.

#include "fuzz.h"
#include "mailseal/common/error.h"
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

}  // namespace

void run(std::span<const std::uint8_t> input) {
  try {
    walk(as_string_view(input), 0);
  } catch (const Error&) {
  }
  (void)mime::to_crlf(as_string_view(input));
}

}  // namespace mailseal::fuzz

MAILSEAL_FUZZ_TARGET
