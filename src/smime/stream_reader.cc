// Reading a large encrypted or signed message as a stream (docs/smime.md,
// "Large messages"): the outer layers with BerReader (or the multipart/signed
// body split as it arrives), the content decrypted or digested chunk by chunk
// into a 0600 temporary file, which holds the content until a Release lets it
// out; memory stays bounded whatever the size.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/openssl.h"
#include "mailseal/common/error.h"
#include "mailseal/common/text.h"
#include "mailseal/mime/legacy_display.h"
#include "smime/internal/compose.h"
#include "smime/internal/envelope_reader.h"
#include "smime/internal/identity.h"
#include "smime/internal/multipart_scan.h"
#include "smime/internal/multipart_stream.h"
#include "smime/internal/reading.h"
#include "smime/internal/signed_reader.h"

namespace mailseal::smime {

namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kBase64Chunk = 48 * 1024;
constexpr std::size_t kSpoolFlush = 1024 * 1024;
constexpr std::size_t kDirectWrite = 32 * 1024;  // written without a copy
// Base64 text enough to hold a ContentInfo's header and content type.
constexpr std::size_t kPeekText = 4096;
// Of a spooled content, the body that is read with the header block (where a
// Legacy Display Element would be, RFC 9788).
constexpr std::size_t kBodyPrefix = 64 * 1024;

// Up to `limit` bytes of `source` (fewer only at its end).
Bytes read_up_to(ByteSource& source, std::size_t limit, Bytes bytes = {}) {
  while (bytes.size() < limit) {
    std::size_t old_size = bytes.size();
    bytes.resize(std::min(limit, old_size + kReadChunk));
    std::size_t n = source.read(std::span<std::uint8_t>(bytes.data() + old_size, bytes.size() - old_size));
    bytes.resize(old_size + n);
    if (n == 0)
      break;
  }
  return bytes;
}

// Base64 (RFC 2045 section 6.8) decoded as it streams: white space and line
// breaks skipped, "=" padding only at the end (then only white space), any
// other character refused. Four characters at a time where a line allows.
class Base64Source : public ByteSource {
 public:
  explicit Base64Source(ByteSource& text) : text_(text), in_(kBase64Chunk), out_(kBase64Chunk / 4 * 3 + 3) {}

  std::size_t read(std::span<std::uint8_t> buffer) override {
    while (position_ == ready_) {
      if (ended_)
        return 0;
      refill();
    }
    std::size_t n = std::min(buffer.size(), ready_ - position_);
    std::memcpy(buffer.data(), out_.data() + position_, n);
    position_ += n;
    return n;
  }

 private:
  static constexpr std::uint8_t kSkip = 64;     // white space
  static constexpr std::uint8_t kPad = 65;      // "="
  static constexpr std::uint8_t kInvalid = 66;  // anything else

  static const std::array<std::uint8_t, 256>& table() {
    static const std::array<std::uint8_t, 256> values = [] {
      std::array<std::uint8_t, 256> t{};
      t.fill(kInvalid);
      const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      for (std::uint8_t i = 0; i < 64; ++i)
        t[static_cast<unsigned char>(alphabet[i])] = i;
      for (unsigned char c : {' ', '\t', '\r', '\n'})
        t[c] = kSkip;
      t['='] = kPad;
      return t;
    }();
    return values;
  }

  void refill() {
    position_ = ready_ = 0;
    std::size_t n = text_.read(in_);
    if (n == 0) {
      ended_ = true;
      if (count_ != 0)
        fail("invalid base64 content (truncated?)");
      return;
    }
    decode(in_.data(), n);
  }

  void decode(const std::uint8_t* text, std::size_t size) {
    const auto& t = table();
    std::uint8_t* out = out_.data();
    std::size_t i = 0;
    while (i < size) {
      if (count_ == 0 && padding_ == 0) {
        // The fast path: whole groups of four alphabet characters.
        while (i + 4 <= size) {
          std::uint32_t a = t[text[i]], b = t[text[i + 1]], c = t[text[i + 2]], d = t[text[i + 3]];
          if (((a | b | c | d) & 0xC0) != 0)
            break;
          std::uint32_t group = a << 18 | b << 12 | c << 6 | d;
          out[ready_++] = static_cast<std::uint8_t>(group >> 16);
          out[ready_++] = static_cast<std::uint8_t>(group >> 8);
          out[ready_++] = static_cast<std::uint8_t>(group);
          i += 4;
        }
        if (i >= size)
          break;
      }
      take(t[text[i++]]);
    }
  }

  // One character outside the fast path.
  void take(std::uint8_t value) {
    if (value == kSkip)
      return;
    if (value == kInvalid || (padding_ > 0 && value != kPad))
      fail("invalid base64 content");
    if (value == kPad) {
      // "xx==" ends in one byte, "xxx=" in two; padding elsewhere is an error.
      if (count_ < 2 || count_ + padding_ >= 4)
        fail("invalid base64 content (misplaced padding)");
      ++padding_;
      if (count_ + padding_ == 4) {
        for (int k = 0; k < count_ - 1; ++k)
          out_[ready_++] = static_cast<std::uint8_t>(group_ >> (6 * count_ - 8 * (k + 1)));
        count_ = 0;
      }
      return;
    }
    group_ = group_ << 6 | value;
    if (++count_ == 4) {
      out_[ready_++] = static_cast<std::uint8_t>(group_ >> 16);
      out_[ready_++] = static_cast<std::uint8_t>(group_ >> 8);
      out_[ready_++] = static_cast<std::uint8_t>(group_);
      group_ = 0;
      count_ = 0;
    }
  }

  [[noreturn]] static void fail(std::string_view what) { throw Error(ErrorCode::Malformed, std::string(what)); }

  ByteSource& text_;
  std::vector<std::uint8_t> in_;
  std::vector<std::uint8_t> out_;
  std::size_t position_ = 0;
  std::size_t ready_ = 0;
  std::uint32_t group_ = 0;
  int count_ = 0;    // characters of the group so far
  int padding_ = 0;  // "=" seen: the data has ended
  bool ended_ = false;
};

// Plaintext into a 0600 temporary file beside the spool path; removed unless
// its file is taken and released. The reader opens the file just written
// through its descriptor (/proc/self/fd), never by its name again: in a
// folder others may write to, a file renamed in between would otherwise be
// what is read back and released (found in review).
class SpoolSink : public ByteSink {
 public:
  explicit SpoolSink(const std::filesystem::path& beside)
      : file_(TemporaryFile::create_beside(beside, FileMode::Private)),
        reader_(::open(fmt::format("/proc/self/fd/{}", file_.fd()).c_str(), O_RDONLY | O_CLOEXEC)) {
    if (!reader_.valid()) {
      throw Error(ErrorCode::Io, fmt::format("cannot open the temporary file beside {}: {}", file_.target().string(),
                                             std::strerror(errno)));
    }
  }
  using ByteSink::write;
  void write(ByteView bytes) override {
    size_ += bytes.size();
    crlf_.update(bytes);
    if (buffer_.empty() && bytes.size() >= kDirectWrite) {
      write_all(file_.fd(), bytes, "the decrypted message (temporary file)");
      return;
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    if (buffer_.size() >= kSpoolFlush)
      finish();
  }
  void finish() override {
    write_all(file_.fd(), buffer_, "the decrypted message (temporary file)");
    buffer_.clear();
  }
  std::uint64_t size() const noexcept { return size_; }
  bool all_crlf() const noexcept { return crlf_.all_crlf(); }
  SpooledContent take(std::uint64_t offset) {
    return SpooledContent{std::move(file_), std::move(reader_), offset, crlf_.all_crlf()};
  }
  int reader() const noexcept { return reader_.get(); }

 private:
  TemporaryFile file_;
  UniqueFd reader_;
  Bytes buffer_;
  std::uint64_t size_ = 0;
  CrlfCheck crlf_;
};

// `count` bytes of a file from `offset` into `out`.
void read_at(int fd, std::uint8_t* out, std::size_t count, std::uint64_t offset) {
  for (std::size_t done = 0; done < count;) {
    ssize_t n = ::pread(fd, out + done, count - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      throw Error(ErrorCode::Io, fmt::format("cannot read the message back: {}",
                                             n < 0 ? std::strerror(errno) : "it is shorter than written"));
    done += static_cast<std::size_t>(n);
  }
}

// `count` bytes of a file from its start.
std::string read_back(int fd, std::size_t count) {
  std::string text(count, '\0');
  read_at(fd, reinterpret_cast<std::uint8_t*>(text.data()), count, 0);
  return text;
}

// Which outermost layers stream.
enum class StreamedLayer { None, Envelope, Signed, Detached };

// A multipart/signed with an S/MIME signature (as reading classifies one)
// and a boundary.
bool is_smime_multipart_signed(const mime::Entity& top) {
  if (!top.content_type.is("multipart", "signed") || !top.content_type.parameter("boundary"))
    return false;
  const std::string protocol = ascii_lower(top.content_type.parameter("protocol").value_or(""));
  return protocol == "application/pkcs7-signature" || protocol == "application/x-pkcs7-signature";
}

// Whether the message whose header block is `top` and whose body starts with
// `body` streams: its outermost layer is base64 (auth)enveloped data, or
// base64 opaque signed data.
StreamedLayer streamed_layer(const mime::Entity& top, std::string_view body) {
  if (top.headers.fields().empty() || top.headers.count("Content-Type") > 1 ||
      top.headers.count("Content-Transfer-Encoding") > 1) {
    return StreamedLayer::None;
  }
  if (is_smime_multipart_signed(top))
    return StreamedLayer::Detached;
  if (top.transfer_encoding != "base64")
    return StreamedLayer::None;
  if (!internal::is_pkcs7_mime(top.content_type) && !internal::is_p7m_octet_stream(top))
    return StreamedLayer::None;
  if (ascii_lower(top.content_type.parameter("smime-type").value_or("")) == "certs-only")
    return StreamedLayer::None;
  try {
    // Whole lines only: a partial base64 group at the end is not an error.
    std::size_t lines = body.rfind('\n', kPeekText);
    MemorySource text(as_bytes(body.substr(0, lines == std::string_view::npos ? 0 : lines + 1)));
    Base64Source decoded(text);
    Bytes start = read_up_to(decoded, kPeekText);
    MemorySource der(start);
    // Only the first headers are read here; a definite length (NSS,
    // openssl cms without -stream) counts the whole structure.
    internal::BerReader reader(der, kMaxMessageSize);
    int type = internal::read_content_info_type(reader);
    if (type == NID_pkcs7_enveloped || type == NID_id_smime_ct_authEnvelopedData)
      return StreamedLayer::Envelope;
    return type == NID_pkcs7_signed ? StreamedLayer::Signed : StreamedLayer::None;
  } catch (const Error&) {
    return StreamedLayer::None;  // read whole, where the same error is reported as for a small message
  }
}

// A CR that does not end a line (CRLF) is a line break only once released.
bool has_bare_cr(std::string_view text) {
  for (std::size_t at = text.find('\r'); at != std::string_view::npos; at = text.find('\r', at + 1)) {
    if (at + 1 == text.size() || text[at + 1] != '\n')
      return true;
  }
  return false;
}

// A header block in the form reading sees it (CRLF, keep_as_released in
// reader.cc), or nothing when that form differs in more than line endings:
// a bare CR, which only that form makes a line break, could hide a field.
std::optional<std::string> released_header_block(std::string_view raw) {
  if (has_bare_cr(raw))
    return std::nullopt;
  return mime::to_crlf(raw);
}

// Whether decrypted content whose header block is `inner` may stay spooled:
// one part that reading does not take apart (no S/MIME inside, no Legacy
// Display Element that is not at the top of a text/plain body it need not
// decode), or a multipart whose parts the scan of the file must judge
// (internal/multipart_scan.h). Judged on the form reading sees (CRLF,
// keep_as_released in reader.cc); a bare CR, which only that form makes a
// line break, means no: behind "Subject: x\r" a Content-Type naming a
// signature would be read as a layer, and the rest of the file released
// after that layer's content, which its signer never signed (found in
// review, 2026-12-01).
enum class Spooling { Whole, Stays, ScanParts };

Spooling spooling_of(std::string_view inner) {
  const std::optional<std::string> released = released_header_block(inner);
  if (!released)
    return Spooling::Whole;
  mime::Entity entity;
  try {
    entity = mime::Entity::parse(*released);
  } catch (const Error&) {
    return Spooling::Whole;
  }
  const mime::ContentType& type = entity.content_type;
  if (entity.headers.fields().empty() || internal::is_pkcs7_mime(type) || internal::is_p7m_octet_stream(entity) ||
      type.media_type == "message") {
    return Spooling::Whole;
  }
  if (type.is_multipart())
    return Spooling::ScanParts;
  if (!type.parameter(mime::kLegacyDisplayParameter))
    return Spooling::Stays;
  const std::string& encoding = entity.transfer_encoding;
  const bool plain_text = type.is("text", "plain") &&
                          (encoding == "7bit" || encoding == "8bit" || encoding == "binary" || encoding.empty());
  return plain_text ? Spooling::Stays : Spooling::Whole;
}

// Whether the content in `plain` stays in its file, of which `available`
// bytes may be read in memory: nullopt when not, else how many bytes the
// start read in memory must hold at least (internal::MultipartScan:
// needed_prefix). Its header block `inner` says so, or says its parts must be
// scanned and the scan of the file says so.
std::optional<std::uint64_t> start_to_read(const SpoolSink& plain, std::string_view inner, std::uint64_t available) {
  switch (spooling_of(inner)) {
    case Spooling::Stays:
      return 0;
    case Spooling::ScanParts:
      return internal::multipart_spooled_prefix(plain.reader(), plain.size(), available);
    case Spooling::Whole:
      break;
  }
  return std::nullopt;
}

// Reading goes on with the content in memory: all of it, or (the content
// staying in the file) its header block and the start of its body.
using ReadContent = std::function<ReadResult(std::string content)>;

// The layers read before the content in the file: reading its start must
// enter none more, or the rest of the file would be released after the
// content of a layer that does not cover it.
struct LayersBefore {
  std::size_t signatures = 0;
  bool decrypted = false;
};

// The rest of reading, once the content (decrypted, or signed) is in `plain`.
ReadResult read_spooled(SpoolSink& plain, std::string_view what, LayersBefore before, const ReadContent& read_content) {
  const std::uint64_t size = plain.size();
  if (size <= kStreamAbove)
    return read_content(read_back(plain.reader(), static_cast<std::size_t>(size)));
  std::string prefix = read_back(plain.reader(), static_cast<std::size_t>(std::min<std::uint64_t>(
                                                 size, mime::kMaxHeaderBlock + kBodyPrefix)));
  std::optional<std::size_t> body = internal::find_body(prefix);
  std::size_t cut = body ? prefix.rfind('\n', std::min(prefix.size() - 1, *body + kBodyPrefix)) : 0;
  std::optional<std::uint64_t> start;
  if (body && cut >= *body)
    start = start_to_read(plain, std::string_view(prefix).substr(0, *body), prefix.size());
  if (start && *start > cut + 1) {
    // A part reading changes (a Legacy Display Element) ends past the first
    // 64 KiB of the body, within what was read: the start goes to its end.
    if (prefix[*start - 1] == '\n')
      cut = static_cast<std::size_t>(*start - 1);
    else
      start.reset();
  }
  if (!start) {
    // Content read whole: S/MIME inside, parts reading judges, or not to be split.
    if (size > kMaxMessageSize)
      throw Error(ErrorCode::RejectedByPolicy, fmt::format("the {} is larger than 1 GiB", what));
    return read_content(read_back(plain.reader(), static_cast<std::size_t>(size)));
  }
  // The header block and the body's first lines are read as read_message
  // reads a message; the rest follows them from the file unchanged but for
  // its line endings, which is what read_message does with it.
  prefix.resize(cut + 1);
  ReadResult result = read_content(std::move(prefix));
  if (result.layers.size() != before.signatures || result.decrypted != before.decrypted) {
    // start_to_read judges as reading does, so this is not expected; if it
    // happens, the content is read whole, as a small message is.
    if (size > kMaxMessageSize)
      throw Error(ErrorCode::RejectedByPolicy, fmt::format("the {} is larger than 1 GiB", what));
    return read_content(read_back(plain.reader(), static_cast<std::size_t>(size)));
  }
  result.content.continue_with(plain.take(cut + 1));
  return result;
}

// Passes everything to `digests`.
class DigestsSink : public ByteSink {
 public:
  explicit DigestsSink(internal::ContentDigests& digests) : digests_(digests) {}
  using ByteSink::write;
  void write(ByteView bytes) override { digests_.update(bytes); }

 private:
  internal::ContentDigests& digests_;
};

// The digests `nids` of what `plain` holds: made canonical (CRLF, RFC 8551
// section 3.1.1), or as it stands.
internal::ContentDigests digest_spooled(const SpoolSink& plain, const std::vector<int>& nids, bool canonical) {
  internal::ContentDigests digests(nids);
  DigestsSink exact(digests);
  CrlfSink crlf(exact);
  ByteSink& sink = canonical && !plain.all_crlf() ? static_cast<ByteSink&>(crlf) : exact;
  std::vector<std::uint8_t> buffer(kReadChunk);
  for (std::uint64_t offset = 0; offset < plain.size();) {
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), plain.size() - offset));
    read_at(plain.reader(), buffer.data(), count, offset);
    sink.write(ByteView(buffer.data(), count));
    offset += count;
  }
  return digests;
}

// Reading goes on once a signature layer has streamed: its check and the
// layers inside it, with its content (or the start of it) in memory.
using ReadSigned = std::function<ReadResult(const internal::StreamedSignedData&, std::string content)>;

// A multipart/signed `entity` whose body is `body`: its first part streams
// into a temporary file, its signature part is read whole, the part's
// digests are taken from the file; the signature is checked before anything
// else is read from it. The outermost layer's part is also digested as it
// stands when it is not in CRLF, as read_signature does; a decrypted layer
// is read in CRLF, so a part inside one is taken canonical only.
ReadResult read_detached(const mime::Entity& entity, ByteSource& body, const std::filesystem::path& spool,
                         bool decrypted, const ReadSigned& read_on) {
  SpoolSink part(spool);
  internal::DetachedParts parts =
      internal::read_detached_parts(body, *entity.content_type.parameter("boundary"), kMaxMessageSize, part);
  part.finish();
  if (parts.parts != 2) {
    throw Error(ErrorCode::Malformed,
                fmt::format("a multipart/signed part must have 2 parts, this one has {}", parts.parts));
  }
  internal::StreamedSignedData streamed =
      internal::detached_signed_data(internal::detached_signature(parts.signature_part));
  streamed.digests = digest_spooled(part, streamed.digest_nids, true);
  if (!decrypted && !part.all_crlf())
    streamed.exact_digests = digest_spooled(part, streamed.digest_nids, false);
  return read_spooled(part, "signed message", LayersBefore{1, decrypted},
                      [&](std::string content) { return read_on(streamed, std::move(content)); });
}

// Opaque signed data: read as it streams, its content digested into a
// temporary file; the signature is checked before anything is read from
// that file.
ReadResult read_signed(ByteSource& der, const std::filesystem::path& spool, bool decrypted, const ReadSigned& read_on) {
  SpoolSink plain(spool);
  internal::StreamedSignedData streamed = internal::read_signed_stream(der, kMaxMessageSize, plain);
  plain.finish();
  return read_spooled(plain, "signed message", LayersBefore{1, decrypted},
                      [&](std::string content) { return read_on(streamed, std::move(content)); });
}

// Decrypted content that is itself a large signature layer (signed, then
// encrypted, as mailseal and most clients send) streams from the file it was
// decrypted into instead of being read whole. Layers are read in the form
// they are released in (CRLF, keep_as_released in reader.cc): a header block
// with a bare CR, where that form has line breaks the one read here has not,
// is read whole, as before; LF line endings map one to one.
std::optional<ReadResult> read_signed_inside(const mime::Entity& top, SpoolSink& plain,
                                             const internal::StreamedDecryption& decryption, KeyProvider& keys,
                                             const Policy& policy, const std::filesystem::path& spool) {
  if (plain.size() <= kStreamAbove)
    return std::nullopt;
  const std::string prefix =
      read_back(plain.reader(),
                static_cast<std::size_t>(std::min<std::uint64_t>(plain.size(), mime::kMaxHeaderBlock + kPeekText)));
  const std::optional<std::size_t> body = internal::find_body(prefix);
  if (!body)
    return std::nullopt;
  std::optional<std::string> header_block = released_header_block(std::string_view(prefix).substr(0, *body));
  if (!header_block)
    return std::nullopt;
  mime::Entity inner;
  try {
    inner = mime::Entity::parse(*header_block);
  } catch (const Error&) {
    return std::nullopt;
  }
  const StreamedLayer layer = streamed_layer(inner, std::string_view(prefix).substr(*body));
  if (layer != StreamedLayer::Signed && layer != StreamedLayer::Detached)
    return std::nullopt;
  if (::lseek(plain.reader(), static_cast<off_t>(*body), SEEK_SET) < 0)
    throw Error(ErrorCode::Io, fmt::format("cannot read the decrypted message back: {}", std::strerror(errno)));
  FdSource rest(plain.reader());
  internal::Decryption decrypted{std::move(*header_block), decryption.cipher, decryption.authenticated};
  const ReadSigned read_on = [&](const internal::StreamedSignedData& streamed, std::string content) {
    return internal::read_decrypted_verified(top, std::move(decrypted), streamed, std::move(content), keys, policy);
  };
  if (layer == StreamedLayer::Detached)
    return read_detached(inner, rest, spool, true, read_on);
  Base64Source der(rest);
  return read_signed(der, spool, true, read_on);
}

}  // namespace

ReadResult read_message(ByteSource& message, KeyProvider& keys, const Policy& policy,
                        const std::filesystem::path& spool) {
  Bytes head = read_up_to(message, kStreamAbove + 1);
  std::optional<std::size_t> body;
  if (head.size() > kStreamAbove)
    body = internal::find_body(as_string_view(ByteView(head).first(std::min(head.size(), mime::kMaxHeaderBlock))));
  const std::string header_text = body ? std::string(as_string_view(ByteView(head).first(*body))) : std::string();
  const mime::Entity top = body ? mime::Entity::parse(header_text) : mime::Entity();
  const StreamedLayer layer =
      body ? streamed_layer(top, as_string_view(ByteView(head).subspan(*body))) : StreamedLayer::None;
  if (layer == StreamedLayer::None) {
    // Read whole, as a message in memory (up to kMaxMessageSize).
    Bytes whole = read_up_to(message, kMaxMessageSize + 1, std::move(head));
    return read_message(ByteView(whole), keys, policy);
  }
  PrefixedSource text(Bytes(head.begin() + static_cast<std::ptrdiff_t>(*body), head.end()), message);
  Bytes().swap(head);
  const ReadSigned verified = [&](const internal::StreamedSignedData& streamed, std::string content) {
    return internal::read_verified(top, streamed, std::move(content), keys, policy);
  };
  if (layer == StreamedLayer::Detached)
    return read_detached(top, text, spool, false, verified);
  Base64Source der(text);
  if (layer == StreamedLayer::Signed)
    return read_signed(der, spool, false, verified);
  std::deque<SpoolSink> sinks;
  auto sink = [&](std::size_t candidate) -> ByteSink& {
    while (sinks.size() <= candidate)
      sinks.emplace_back(spool);
    return sinks[candidate];
  };
  internal::StreamedDecryption streamed = internal::decrypt_envelope_stream(der, keys.keys(), sink);
  // The other recipient entries' attempts are dropped at once: each holds a
  // copy of the content on disk (found in review: five at a time).
  SpoolSink plain = std::move(sinks[streamed.candidate]);
  sinks.clear();
  plain.finish();
  if (auto verified_inside = read_signed_inside(top, plain, streamed, keys, policy, spool))
    return std::move(*verified_inside);
  return read_spooled(plain, "decrypted message", LayersBefore{0, true}, [&](std::string content) {
    return internal::read_decrypted(top, internal::Decryption{std::move(content), streamed.cipher, streamed.authenticated},
                                    keys, policy);
  });
}

}  // namespace mailseal::smime
