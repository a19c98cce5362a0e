// Reading a message layer by layer (docs/smime.md, "Reading"):
//  1. An outermost signature whose content is directly an encryption layer
//     is a transport signature: ignored (Thunderbird does the same).
//  2. Encryption is opened only as the message itself (after rule 1) or
//     inside another opened encryption layer; encrypted content under a
//     counted signature is signed ciphertext and is not opened.
//  3. Signatures stack; every counted layer must be valid, and its signer
//     must name the From its layer carries. A sealed message signed again (an
//     opaque signature inside an opaque one) is the one exception: its inner
//     layer may carry a From of its own, which its signer must name and which
//     then counts; an inner layer without a From speaks for no one, and its
//     signer is not held to the forwarder's From.
//  4. Only a layer that is the whole message counts: a signed part among
//     other parts does not make the message signed.
//  5. An encrypted part that is not the message itself is not opened (EFAIL's
//     direct exfiltration); ReadResult::encrypted_part_only says so.
// Identity (internal/identity.h): one From field with one mailbox in the
// message and in each layer with header fields, all the same address, and
// the counted signers naming it; otherwise identity_problems.

#include <algorithm>
#include <cctype>
#include <deque>

#include <openssl/obj_mac.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/mime/legacy_display.h"
#include "smime/internal/identity.h"
#include "smime/internal/reading.h"
#include "smime/internal/signed_reader.h"

namespace mailseal::smime {

namespace {

using internal::SignatureContext;

enum class LayerKind { Plain, SignedDetached, SignedOpaque, Encrypted };

using internal::is_p7m_octet_stream;
using internal::is_pkcs7_mime;

bool is_pkcs7_signature(const mime::ContentType& type) {
  return type.is("application", "pkcs7-signature") || type.is("application", "x-pkcs7-signature");
}

LayerKind classify(const mime::Entity& entity, Bytes& decoded) {
  const mime::ContentType& type = entity.content_type;
  if (type.is("multipart", "signed")) {
    std::string protocol = ascii_lower(type.parameter("protocol").value_or(""));
    if (protocol == "application/pkcs7-signature" || protocol == "application/x-pkcs7-signature") {
      return LayerKind::SignedDetached;
    }
    return LayerKind::Plain;  // e.g. OpenPGP: not ours to judge
  }
  if (!is_pkcs7_mime(type) && !is_p7m_octet_stream(entity))
    return LayerKind::Plain;
  std::string smime_type = ascii_lower(type.parameter("smime-type").value_or(""));
  if (smime_type == "certs-only")
    return LayerKind::Plain;
  decoded = mime::decode_body(entity);
  int content_type = internal::cms_content_type(decoded);
  if (content_type == NID_pkcs7_signed)
    return LayerKind::SignedOpaque;
  if (content_type == NID_pkcs7_enveloped || content_type == NID_id_smime_ct_authEnvelopedData) {
    return LayerKind::Encrypted;
  }
  if (content_type == NID_id_smime_ct_compressedData) {
    throw Error(ErrorCode::Unsupported, "compressed S/MIME content (RFC 3274) is not supported");
  }
  throw Error(ErrorCode::Malformed,
              fmt::format("the {} part does not hold a CMS structure mailseal reads", type.mime_type()));
}

// Two Content-Type or Content-Transfer-Encoding fields: clients differ in
// which one they use, so what is shown may not be what was checked.
void refuse_duplicate_content_fields(const mime::Headers& headers) {
  for (std::string_view name : {"Content-Type", "Content-Transfer-Encoding"}) {
    if (std::size_t count = headers.count(name); count > 1) {
      throw Error(ErrorCode::Malformed,
                  fmt::format("the message (or a signed or encrypted part of it) has {} {} fields; mail clients differ "
                              "in which one they use, so it is refused and nothing was written",
                              count, name));
    }
  }
}

// Content inside a signature or an encryption layer is a MIME entity, but
// some senders (openssl cms without -text) put a bare body there. Such
// content reads as a body without header fields (text/plain, RFC 2045).
mime::Entity parse_content(std::string_view bytes) {
  try {
    return mime::Entity::parse(bytes);
  } catch (const Error& error) {
    if (error.code() != ErrorCode::Malformed)
      throw;
    mime::Entity entity;
    entity.raw = bytes;
    entity.body = bytes;
    entity.transfer_encoding = "7bit";
    return entity;
  }
}

// The output message: an inner entity that carries its own header fields
// (RFC 9788 hp="cipher", or the LAMPS draft's protected-headers="v1") is the
// message; otherwise the outer header fields are put back on top of it.
std::string restore_message(const mime::Entity& top, const mime::Entity& innermost, bool same_entity,
                            std::string* owner) {
  if (same_entity || innermost.headers.get("From")) {
    // The common case for a large decrypted message: the whole buffer is the
    // message and already canonical, so it moves instead of being copied.
    if (owner != nullptr && owner->data() == innermost.raw.data() && owner->size() == innermost.raw.size() &&
        mime::is_crlf(*owner)) {
      return std::move(*owner);
    }
    return mime::to_crlf(innermost.raw);
  }
  std::string inner = mime::to_crlf(innermost.raw);
  mime::Headers outer;
  for (const auto& field : top.headers.fields()) {
    if (!mime::is_content_header(field.name))
      outer.append(field.name, field.raw_value);
  }
  outer.append("MIME-Version", "1.0");
  // A headerless inner body needs the empty line that ends the header block.
  bool bare_body = innermost.body.data() == innermost.raw.data();
  return outer.serialize() + (bare_body ? "\r\n" : "") + inner;
}

// A message being read, layer by layer.
struct Reading {
  ReadResult result;
  std::deque<std::string> storage;   // decoded layers the entities point into
  std::optional<TimePoint> date;     // of the Date header that counts
  mime::Entity current;              // the layer being read
  bool previous_opaque = false;      // the layer around it was an opaque signature
  bool outermost = true;
  std::optional<EmailAddress> outer_from;  // the From every protected From must equal
  std::vector<std::string> unparsed_from;  // From fields that are not one valid mailbox
  // The outermost layer, decrypted already (a message read as a stream).
  std::optional<internal::Decryption> predecrypted;
  // The outermost layer, an opaque signature read as a stream: what was
  // read of it, and the content reading goes on with.
  const internal::StreamedSignedData* streamed = nullptr;
  std::string streamed_content;
};

// Keeps a decrypted or signed layer's content for reading in the form it is
// released in: with CRLF line endings, as restore_message writes it. Its
// header fields are read from these bytes, never from the form before, where
// a bare CR (not a line break to the header parser) would hide a field that
// the release turns into one of its own: a From inside a Subject's value,
// verified as part of that value and released as a second From.
std::string_view keep_as_released(Reading& reading, std::string content) {
  if (!mime::is_crlf(content))
    content = mime::to_crlf(content);
  reading.storage.push_back(std::move(content));
  return reading.storage.back();
}

// The outermost header fields: the From address and Date signatures are
// checked against. Exactly one From field with one mailbox (identity rule).
// Two Date fields are two claims of when it was written, like two From fields.
void check_single_date(const mime::Headers& headers, std::string_view where, ReadResult& result) {
  if (std::size_t dates = headers.count("Date"); dates > 1) {
    result.identity_problems.push_back(
        fmt::format("{} has {} Date fields; exactly one is accepted", where, dates));
  }
}

void read_outer_headers(const mime::Entity& top, Reading& reading) {
  ReadResult& result = reading.result;
  check_single_date(top.headers, "the message", result);
  if (auto value = top.headers.get("Date"))
    reading.date = mime::parse_date(*value);
  reading.outer_from =
      internal::single_from(top.headers, "the message", result.identity_problems, reading.unparsed_from);
  if (reading.outer_from) {
    result.from = {*reading.outer_from};
    internal::check_shown_identity(top.headers, *reading.outer_from, result.warnings);
  } else if (auto value = top.headers.get("From")) {
    try {
      result.from = mime::parse_addresses(*value);
    } catch (const Error&) {
    }
  }
}

// A signed or decrypted layer with its own header fields speaks for itself
// (RFC 9788), and its From must be the message's: a protected From that is
// another address is an identity problem naming both. A sealed message
// signed again (an opaque signature inside an opaque one, rule 3) is another
// author's message: its From becomes the one deeper layers are held to.
void read_inner_headers(Reading& reading, LayerKind kind) {
  const mime::Headers& headers = reading.current.headers;
  if (!headers.get("From"))
    return;
  ReadResult& result = reading.result;
  std::optional<EmailAddress> inner =
      internal::single_from(headers, "a signed or encrypted part", result.identity_problems, reading.unparsed_from);
  const bool resealed = kind == LayerKind::SignedOpaque && reading.previous_opaque && !result.layers.empty();
  if (inner && reading.outer_from && !(*inner == *reading.outer_from)) {
    if (resealed) {
      // Its own signer must name it (read_signature checks that layer against it).
      result.warnings.push_back(fmt::format("{} signed a sealed message from {} again: the message shown is {}'s",
                                            reading.outer_from->str(), inner->str(), inner->str()));
    } else {
      result.identity_problems.push_back(fmt::format("the protected From {} differs from the message's From {}",
                                                     inner->str(), reading.outer_from->str()));
    }
  }
  if (inner) {
    result.from = {*inner};
    if (resealed || !reading.outer_from)
      reading.outer_from = inner;
    internal::check_shown_identity(headers, *inner, result.warnings);
  }
  check_single_date(headers, "a signed or encrypted part", result);
  if (auto value = headers.get("Date"))
    reading.date = mime::parse_date(*value);
}

// Rule 2: opens an encryption layer, unless it lies under a counted signature
// or inside another decrypted layer. False when reading stops here.
bool open_encryption(Reading& reading, const Bytes& decoded, KeyProvider& keys) {
  ReadResult& result = reading.result;
  if (!result.layers.empty()) {
    result.notes.push_back("the signed content is encrypted; signed ciphertext is not opened");
    return false;
  }
  if (result.decrypted) {
    result.notes.push_back("an encryption layer inside the decrypted content is not opened");
    return false;
  }
  result.encrypted = true;
  internal::Decryption decryption =
      reading.predecrypted ? std::move(*reading.predecrypted) : internal::decrypt_envelope(decoded, keys.keys());
  reading.predecrypted.reset();
  result.decrypted = true;
  result.content_cipher = decryption.cipher;
  result.authenticated_encryption = decryption.authenticated;
  reading.current = parse_content(keep_as_released(reading, std::move(decryption.plaintext)));
  reading.outermost = false;
  reading.previous_opaque = false;
  return true;
}

// The two parts of a multipart/signed: the signed content (canonical CRLF,
// RFC 8551 section 3.1.1, and as it stands) and the decoded signature.
struct DetachedParts {
  std::string canonical;
  std::string_view raw;
  Bytes signature;
};

DetachedParts split_detached(const mime::Entity& entity) {
  auto boundary = entity.content_type.parameter("boundary");
  if (!boundary)
    throw Error(ErrorCode::Malformed, "the multipart/signed part has no boundary");
  mime::MultipartBody body = mime::split_multipart(entity.body, *boundary);
  if (body.parts.size() != 2) {
    throw Error(ErrorCode::Malformed,
                fmt::format("a multipart/signed part must have 2 parts, this one has {}", body.parts.size()));
  }
  return DetachedParts{mime::to_crlf(body.parts[0]), body.parts[0], internal::detached_signature(body.parts[1])};
}

// After a signature layer's check: rule 1 leaves a transport signature
// around the encryption uncounted; a counted one is recorded, and reading
// steps inside it.
void step_inside(Reading& reading, internal::SignatureCheck check, bool opaque, const SignatureContext& context) {
  ReadResult& result = reading.result;
  mime::Entity inner = parse_content(keep_as_released(reading, std::move(check.content)));
  Bytes inner_decoded;
  bool wraps_encryption = false;
  try {
    wraps_encryption = classify(inner, inner_decoded) == LayerKind::Encrypted;
  } catch (const Error&) {
  }
  if (reading.outermost && wraps_encryption) {
    // Rule 1: a transport signature over ciphertext says nothing about the author.
    result.notes.push_back(fmt::format("an outer signature around the encryption was ignored{}",
                                       check.report.valid ? "" : " (it was not valid either)"));
  } else {
    // A counted signer that is not the From address is an identity problem:
    // no flag releases what it signs.
    if (context.check_from && check.report.signer && !check.report.from_matches && context.from.size() == 1)
      result.identity_problems.push_back(internal::signer_mismatch(*check.report.signer, context.from.front()));
    result.layers.push_back(std::move(check.report));
  }
  reading.outermost = false;
  reading.previous_opaque = opaque;
  reading.current = inner;
}

// The outermost signature, read as a stream already (read_verified): checked
// over the digests taken as it streamed; a detached one whose part was not
// in CRLF is checked again over its bytes as they stand, as read_signature does.
void read_streamed_signature(Reading& reading, LayerKind kind, const Policy& policy) {
  ReadResult& result = reading.result;
  SignatureContext context{result.from, reading.date, true, &policy};
  const internal::StreamedSignedData& streamed = *reading.streamed;
  reading.streamed = nullptr;
  std::string content = std::move(reading.streamed_content);
  internal::SignatureCheck check = internal::check_streamed_signature(streamed, content, context);
  if (streamed.detached && check.content_mismatch && streamed.exact_digests) {
    internal::SignatureCheck exact =
        internal::check_streamed_signature(streamed, std::move(content), context, internal::DigestsOf::Exact);
    if (!exact.content_mismatch)
      check = std::move(exact);
  }
  step_inside(reading, std::move(check), kind == LayerKind::SignedOpaque, context);
}

// Checks a signature layer (rule 3) and steps inside it; rule 1 leaves a
// transport signature around the encryption uncounted.
void read_signature(Reading& reading, LayerKind kind, Bytes decoded, const Policy& policy) {
  ReadResult& result = reading.result;
  std::optional<DetachedParts> detached;
  if (reading.streamed) {
    read_streamed_signature(reading, kind, policy);
    return;
  }
  if (kind == LayerKind::SignedDetached) {
    detached = split_detached(reading.current);
    decoded = std::move(detached->signature);
  }
  const bool opaque = kind == LayerKind::SignedOpaque;
  SignatureContext context{result.from, reading.date, true, &policy};
  // Rule 3: a sealed message signed again (an opaque signature inside an
  // opaque one) whose layer carries no From of its own claims no author: its
  // signer is not held to the forwarder's From. A layer that carries a From
  // (adopted by read_inner_headers) is always held to it.
  const bool resealed_without_from = opaque && reading.previous_opaque && !result.layers.empty() &&
                                     !reading.current.headers.get("From");
  context.check_from = !resealed_without_from;
  std::optional<std::string_view> content;
  if (detached)
    content = detached->canonical;
  internal::SignatureCheck check = internal::check_signature(decoded, content, context);
  if (detached && check.content_mismatch && detached->raw != detached->canonical) {
    // Content signed without line-ending canonicalisation (binary parts):
    // the exact bytes may be what was signed.
    internal::SignatureCheck exact = internal::check_signature(decoded, detached->raw, context);
    if (!exact.content_mismatch)
      check = std::move(exact);
  }
  step_inside(reading, std::move(check), opaque, context);
}

// The signature that vouches for the message: the outermost counted one,
// valid only if every counted layer is and the From fields agree. Rule 4: a
// signed or encrypted part among others is only a note.
void combine_signatures(ReadResult& result, const mime::Entity& innermost) {
  if (!result.layers.empty()) {
    SignatureReport combined = result.layers.front();
    for (std::size_t i = 1; i < result.layers.size(); ++i) {
      for (const auto& problem : result.layers[i].problems) {
        combined.problems.push_back(fmt::format("inner signature: {}", problem));
      }
    }
    for (const auto& problem : result.identity_problems) {
      if (std::find(combined.problems.begin(), combined.problems.end(), problem) == combined.problems.end())
        combined.problems.push_back(problem);
    }
    combined.valid = combined.problems.empty();
    result.signature = std::move(combined);
    return;
  }
  internal::PartialLayers partial = internal::find_partial_layers(innermost);
  result.signed_part_only = partial.signed_part;
  result.encrypted_part_only = partial.encrypted_part && !result.encrypted;
  result.parts_unchecked = partial.unchecked;
  if (partial.signed_part)
    result.notes.push_back("a part of this message is signed, but no signature covers the whole message");
  if (partial.unchecked) {
    result.notes.push_back(
        "a part of this message could not be looked into (malformed, nested too deep or one of too many): other "
        "mail programs may show it as signed or encrypted, but no signature covers the whole message");
  }
  if (result.encrypted_part_only) {
    result.notes.push_back(
        "a part of this message is encrypted, but the message itself is not: such a part is not decrypted");
  }
}

// Header protection (RFC 9788) of a signed message: the signed header fields
// are the message's; outer ones that differ are reported and never win (the
// output is the signed entity). Surreptitious forwarding: signed To/Cc that
// do not name the reader.
void check_signed_headers(ReadResult& result, const mime::Entity& top, const mime::Entity& innermost,
                          const Policy& policy) {
  if (!result.signature || !innermost.headers.get("From") || innermost.raw.data() == top.raw.data())
    return;
  if (!result.encrypted)
    internal::compare_with_signed(top.headers, innermost.headers, result.warnings);
  result.addressed_to_reader = internal::addressed_to(innermost.headers, policy.reader_addresses);
  if (result.addressed_to_reader == false) {
    std::vector<std::string> reader;
    for (const auto& address : policy.reader_addresses)
      reader.push_back(address.str());
    result.warnings.push_back(
        fmt::format("the signed To and Cc do not name you ({}): the signer wrote this to someone else, and it may "
                    "have been forwarded to you as if written to you",
                    fmt::join(reader, ", ")));
  }
}

// RFC 9788: the user-facing header fields a Legacy Display Element may repeat
// (of those mailseal protects; Message-ID and the reply fields are not shown).
bool is_user_facing(std::string_view name) {
  for (std::string_view shown : {"Subject", "From", "To", "Cc", "Date", "Reply-To"}) {
    if (mime::same_field_name(name, shown))
      return true;
  }
  return false;
}

// RFC 9788: a reader of protected header fields does not show the Legacy
// Display Elements of the main body parts. Only in a decrypted payload that
// carries them (hp="cipher"), the only place a sender obscures anything; and
// mime::remove_legacy_display removes an element only when each of its lines
// is one of these protected fields, which the output shows anyway, so no
// element, real or crafted, can hide anything else. One kept is reported.
void remove_legacy_display(const mime::Entity& innermost, std::string& output, ReadResult& result) {
  auto hp = innermost.content_type.parameter("hp");
  if (!result.decrypted || !hp || ascii_lower(*hp) != "cipher" || !innermost.headers.get("From"))
    return;
  std::vector<mime::DisplayedField> fields;
  for (const auto& field : innermost.headers.fields()) {
    if (is_user_facing(field.name))
      fields.push_back(mime::displayed_field(field.name, field.raw_value));
  }
  mime::LegacyDisplayRemoval removal;
  try {
    removal = mime::remove_legacy_display(output, fields);
  } catch (const Error&) {
    return;  // structure mailseal does not take apart is left as it is
  }
  if (removal.kept > 0) {
    result.warnings.push_back(
        "a body part is marked as carrying a legacy display element (RFC 9788) that does not just repeat the "
        "message's protected header fields; it was left in the body");
  }
  output = std::move(removal.entity);
}

}  // namespace

namespace {
ReadResult read_layers(const mime::Entity& top, Reading& reading, KeyProvider& keys, const Policy& policy);
}  // namespace

ReadResult read_message(ByteView message, std::span<const DecryptionKey> keys, const Policy& policy) {
  struct Fixed : KeyProvider {
    std::span<const DecryptionKey> fixed;
    std::span<const DecryptionKey> keys() override { return fixed; }
  } provider;
  provider.fixed = keys;
  return read_message(message, provider, policy);
}

ReadResult read_message(ByteView message, KeyProvider& keys, const Policy& policy) {
  if (message.size() > kMaxMessageSize) {
    throw Error(ErrorCode::RejectedByPolicy, "the message is larger than 1 GiB");
  }
  const mime::Entity top = mime::Entity::parse(as_string_view(message));
  if (top.headers.fields().empty()) {
    throw Error(ErrorCode::Malformed, "the input is not an email message: it has no header fields");
  }
  Reading reading;
  return read_layers(top, reading, keys, policy);
}

namespace internal {

Bytes detached_signature(std::string_view part) {
  mime::Entity signature_part = mime::Entity::parse(part);
  if (!is_pkcs7_signature(signature_part.content_type)) {
    throw Error(ErrorCode::Malformed, "the second part of multipart/signed is not an S/MIME signature");
  }
  return mime::decode_body(signature_part);
}

ReadResult read_decrypted(const mime::Entity& top, Decryption decryption, KeyProvider& keys, const Policy& policy) {
  Reading reading;
  reading.predecrypted = std::move(decryption);
  return read_layers(top, reading, keys, policy);
}

ReadResult read_verified(const mime::Entity& top, const StreamedSignedData& streamed, std::string content,
                         KeyProvider& keys, const Policy& policy) {
  Reading reading;
  reading.streamed = &streamed;
  reading.streamed_content = std::move(content);
  return read_layers(top, reading, keys, policy);
}

ReadResult read_decrypted_verified(const mime::Entity& top, Decryption decryption, const StreamedSignedData& streamed,
                                   std::string content, KeyProvider& keys, const Policy& policy) {
  Reading reading;
  reading.predecrypted = std::move(decryption);
  reading.streamed = &streamed;
  reading.streamed_content = std::move(content);
  return read_layers(top, reading, keys, policy);
}

}  // namespace internal

namespace {

ReadResult read_layers(const mime::Entity& top, Reading& reading, KeyProvider& keys, const Policy& policy) {
  read_outer_headers(top, reading);
  reading.current = top;
  for (int layer = 0;; ++layer) {
    if (layer >= policy.max_layers) {
      throw Error(ErrorCode::Malformed, "the message nests too many S/MIME layers");
    }
    refuse_duplicate_content_fields(reading.current.headers);
    Bytes decoded;
    LayerKind kind = reading.predecrypted ? LayerKind::Encrypted
                     : reading.streamed   ? (reading.streamed->detached ? LayerKind::SignedDetached
                                                                        : LayerKind::SignedOpaque)
                                          : classify(reading.current, decoded);
    if (layer > 0)
      read_inner_headers(reading, kind);
    if (kind == LayerKind::Plain)
      break;
    if (kind == LayerKind::Encrypted) {
      if (!open_encryption(reading, decoded, keys))
        break;
      continue;
    }
    read_signature(reading, kind, std::move(decoded), policy);
  }
  ReadResult& result = reading.result;
  const mime::Entity& innermost = reading.current;
  // A From that is not one valid mailbox is compared with nothing, yet mail
  // clients show it: under a signature it is an identity problem.
  for (auto& unparsed : reading.unparsed_from) {
    auto& list = result.layers.empty() ? result.notes : result.identity_problems;
    if (std::find(list.begin(), list.end(), unparsed) == list.end())
      list.push_back(std::move(unparsed));
  }
  combine_signatures(result, innermost);
  if (result.signature && !reading.date && !result.signature->signing_time) {
    result.warnings.push_back(
        "the message has no readable Date field and its signature no signing time: when it was written is unknown");
  }
  check_signed_headers(result, top, innermost, policy);
  std::string* owner = reading.storage.empty() ? nullptr : &reading.storage.back();
  std::string output = restore_message(top, innermost, innermost.raw.data() == top.raw.data(), owner);
  remove_legacy_display(innermost, output, result);
  result.content = HeldContent(std::move(output));
  return std::move(result);
}

}  // namespace

std::string signer_address(const SignatureReport& report, const std::vector<EmailAddress>& from) {
  if (!report.signer)
    return "";
  auto addresses = report.signer->email_addresses();
  for (const auto& address : addresses) {
    if (!from.empty() && address == from.front())
      return address.str();
  }
  return addresses.empty() ? std::string() : addresses.front().str();
}

}  // namespace mailseal::smime
