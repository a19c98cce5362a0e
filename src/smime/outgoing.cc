// Outgoing messages: reading their header block and composing the entities
// that get signed or encrypted.

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "smime/internal/compose.h"

namespace mailseal::smime {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

}  // namespace

namespace internal {

// The end of the header block in `bytes` (offset of the body), if complete.
std::optional<std::size_t> find_body(std::string_view bytes) {
  std::size_t position = 0;
  while (position < bytes.size()) {
    std::size_t end = bytes.find('\n', position);
    if (end == std::string_view::npos)
      return std::nullopt;
    std::string_view line = bytes.substr(position, end - position);
    if (line.empty() || line == "\r")
      return end + 1;
    position = end + 1;
  }
  return std::nullopt;
}

}  // namespace internal

OutgoingMessage OutgoingMessage::read(ByteSource& source) {
  std::string head;
  std::vector<std::uint8_t> buffer(kReadChunk);
  std::optional<std::size_t> body_start;
  while (!(body_start = internal::find_body(head))) {
    if (head.size() > mime::kMaxHeaderBlock) {
      throw Error(ErrorCode::Malformed, "the message's header block is larger than 1 MiB");
    }
    std::size_t n = source.read(buffer);
    if (n == 0)
      break;
    head.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
  std::size_t header_end = body_start ? *body_start : head.size();
  std::string_view block(head.data(), header_end);
  // Drop the empty line itself from the block.
  while (!block.empty() && (block.back() == '\n' || block.back() == '\r'))
    block.remove_suffix(1);
  OutgoingMessage message;
  message.headers_ = mime::Headers::parse(block);
  if (message.headers_.fields().empty()) {
    throw Error(ErrorCode::Malformed, "the input is not an email message: it has no header fields");
  }
  Bytes rest(head.begin() + static_cast<std::ptrdiff_t>(header_end), head.end());
  message.body_ = std::make_unique<PrefixedSource>(std::move(rest), source);
  return message;
}

EmailAddress OutgoingMessage::from() const {
  auto value = headers_.get("From");
  if (!value) {
    throw Error(ErrorCode::Usage, "the message has no From header", "add a From: line with one of your addresses");
  }
  std::vector<EmailAddress> addresses;
  try {
    addresses = mime::parse_addresses(*value);
  } catch (const Error& error) {
    throw Error(ErrorCode::Usage, fmt::format("the From header is not valid: {}", error.what()));
  }
  if (addresses.size() != 1) {
    throw Error(ErrorCode::Usage,
                fmt::format("the From header must name exactly one address, not {}", addresses.size()));
  }
  return addresses.front();
}

std::vector<EmailAddress> OutgoingMessage::recipients() const {
  std::vector<EmailAddress> out;
  for (const auto& field : headers_.fields()) {
    if (mime::same_field_name(field.name, "To") || mime::same_field_name(field.name, "Cc") ||
        mime::same_field_name(field.name, "Bcc")) {
      for (auto& address : mime::parse_addresses(field.value())) {
        if (std::find(out.begin(), out.end(), address) == out.end())
          out.push_back(std::move(address));
      }
    }
  }
  return out;
}

void OutgoingMessage::complete_headers(TimePoint now) {
  if (!headers_.get("Date")) {
    headers_.append("Date", mime::format_date(now));
  }
  if (!headers_.get("Message-ID")) {
    Bytes random = crypto::random_bytes(16);
    headers_.append("Message-ID", fmt::format("<{}@{}>", to_hex(random), from().domain()));
  }
}

namespace internal {

bool is_protected_header(std::string_view name) {
  for (std::string_view protected_name :
       {"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References"}) {
    if (mime::same_field_name(name, protected_name))
      return true;
  }
  return false;
}

std::string message_headers(const OutgoingMessage& message, std::initializer_list<std::string_view> skip) {
  mime::Headers headers;
  for (const auto& field : message.headers().fields()) {
    if (mime::is_content_header(field.name))
      continue;
    if (std::any_of(skip.begin(), skip.end(),
                    [&](std::string_view name) { return mime::same_field_name(name, field.name); }))
      continue;
    headers.append(field.name, field.raw_value);
  }
  return headers.serialize();
}

namespace {

// The content entity with its body from `body`; `leading` (a text/plain Legacy
// Display Element) goes before the body, and then Content-Type is marked.
void write_entity(OutgoingMessage& message, ByteSource& body, ByteSink& out, Transport transport,
                  HeaderProtection protection, std::string_view leading) {
  const bool protect_headers = protection != HeaderProtection::None;
  std::string hp_parameter(protection == HeaderProtection::Clear ? "; hp=\"clear\"" : "; hp=\"cipher\"");
  if (!leading.empty())
    hp_parameter = mime::with_parameter(hp_parameter, mime::kLegacyDisplayParameter, "1");
  const mime::Headers& headers = message.headers();
  mime::Headers content;
  if (protect_headers) {
    for (const auto& field : headers.fields()) {
      if (is_protected_header(field.name))
        content.append(field.name, field.raw_value);
    }
  }
  const std::string encoding = ascii_lower(headers.get("Content-Transfer-Encoding").value_or("7bit"));
  mime::ContentType type;
  if (auto value = headers.get("Content-Type"))
    type = mime::ContentType::parse(*value);
  const bool binary = encoding == "binary";
  // Binary content is never line-canonicalised (RFC 8551 section 3.1.1), so a
  // reader that canonicalises would alter it: a single-part binary body is
  // always base64-encoded; an 8bit one too when it must cross 7-bit transport.
  const bool needs_base64 =
      !type.is_multipart() && (binary || (transport == Transport::SevenBit && encoding == "8bit"));
  bool has_content_type = false;
  for (const auto& field : headers.fields()) {
    if (!mime::is_content_header(field.name) || mime::same_field_name(field.name, "MIME-Version"))
      continue;
    std::string value = field.raw_value;
    if (mime::same_field_name(field.name, "Content-Type")) {
      has_content_type = true;
      if (protect_headers)
        value += hp_parameter;
    }
    if (mime::same_field_name(field.name, "Content-Transfer-Encoding") && needs_base64)
      value = "base64";
    content.append(field.name, value);
  }
  if (!has_content_type && protect_headers) {
    content.append("Content-Type", fmt::format("text/plain; charset=us-ascii{}", hp_parameter));
  }
  out.write(content.serialize());
  out.write(std::string_view("\r\n"));
  if (needs_base64) {
    Base64Sink base64(out);
    if (binary) {
      base64.write(leading);
      pump(body, base64);
    } else {
      CrlfSink canonical(base64);  // text lines become CRLF before encoding
      canonical.write(leading);
      pump(body, canonical);
    }
    base64.finish();
  } else if (binary) {
    out.write(leading);
    pump(body, out);
  } else {
    CrlfSink canonical(out);
    canonical.write(leading);
    pump(body, canonical);
  }
}

// A single text/plain body the element can be streamed into as it is: 7bit or
// 8bit, no disposition, and an ASCII element or a UTF-8 body in 8bit.
bool streams_with_element(const mime::Headers& headers, std::string_view element) {
  mime::ContentType type;
  if (auto value = headers.get("Content-Type"))
    type = mime::ContentType::parse(*value);
  const std::string encoding = ascii_lower(headers.get("Content-Transfer-Encoding").value_or("7bit"));
  if (!type.is("text", "plain") || headers.get("Content-Disposition") || (encoding != "7bit" && encoding != "8bit"))
    return false;
  const bool ascii = std::all_of(element.begin(), element.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  const std::string charset = ascii_lower(type.parameter("charset").value_or(""));
  return ascii || (encoding == "8bit" && (charset == "utf-8" || charset == "utf8"));
}

}  // namespace

void write_content_entity(OutgoingMessage& message, ByteSink& out, Transport transport, HeaderProtection protection,
                          std::span<const mime::DisplayedField> legacy_display) {
  if (legacy_display.empty()) {
    write_entity(message, message.body(), out, transport, protection, "");
    return;
  }
  const std::string element = mime::legacy_display_text(legacy_display);
  if (streams_with_element(message.headers(), element)) {
    write_entity(message, message.body(), out, transport, protection, element);
    return;
  }
  // Any other body is read whole (up to the limit) and given its elements.
  Bytes body;
  std::vector<std::uint8_t> chunk(kReadChunk);
  while (body.size() <= kMaxLegacyDisplayBody) {
    std::size_t n = message.body().read(chunk);
    if (n == 0)
      break;
    body.insert(body.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (body.size() > kMaxLegacyDisplayBody) {
    PrefixedSource rest(std::move(body), message.body());
    write_entity(message, rest, out, transport, protection, "");
    return;
  }
  MemorySource source(body);
  StringSink entity;
  write_entity(message, source, entity, transport, protection, "");
  std::optional<std::string> with_element;
  try {
    with_element = mime::add_legacy_display(entity.text(), legacy_display);
  } catch (const Error&) {
    // A body mailseal cannot take apart travels as it is, without an element.
  }
  out.write(with_element ? std::string_view(*with_element) : std::string_view(entity.text()));
}

void write_multipart_signed(OutgoingMessage& message, ByteSink& out, const SignerIdentity& signer, Transport transport,
                            HeaderProtection protection, std::string_view extra_headers,
                            std::span<const mime::DisplayedField> legacy_display) {
  const std::string boundary = mime::make_boundary();
  out.write(extra_headers);
  out.write(
      fmt::format("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n"
                  " boundary=\"{}\"\r\n\r\n"
                  "This is a cryptographically signed message in MIME format.\r\n\r\n--{}\r\n",
                  boundary, boundary));
  DetachedSigner detached(signer);
  TeeSink both(out, detached.content());
  write_content_entity(message, both, transport, protection, legacy_display);
  Bytes signature = detached.finish();
  out.write(
      fmt::format("\r\n--{}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
                  "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n"
                  "Content-Description: S/MIME Cryptographic Signature\r\n\r\n",
                  boundary));
  out.write(mime::encode_base64_lines(signature));
  out.write(fmt::format("\r\n--{}--\r\n", boundary));
}

}  // namespace internal
}  // namespace mailseal::smime
