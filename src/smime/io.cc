#include "mailseal/smime/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mailseal/common/error.h"

namespace mailseal::smime {

namespace {
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kBase64LineBytes = 57;  // 76 characters
// Whether every line ending in `bytes` is CRLF: each LF after a CR, and no
// other CR. One pass comparing each byte with the one before it, 64 at a
// time: the fixed-length inner loop is vectorised (SSE2), about four times
// faster than the two memchr calls a line this was (7% of encrypting a large
// message, on the thread that reads it; bench/smime_profile.md).
bool all_crlf(ByteView bytes) {
  const std::uint8_t* p = bytes.data();
  const std::size_t n = bytes.size();
  if (n == 0)
    return true;
  if (p[0] == '\n' || p[n - 1] == '\r')
    return false;
  constexpr std::size_t kBlock = 64;
  std::size_t i = 1;  // each pair (p[i - 1], p[i]): an LF at i exactly when a CR at i - 1
  for (; i + kBlock <= n; i += kBlock) {
    std::uint8_t bad = 0;
    for (std::size_t j = 0; j < kBlock; ++j)
      bad |= static_cast<std::uint8_t>((p[i + j] == '\n') ^ (p[i + j - 1] == '\r'));
    if (bad != 0)
      return false;
  }
  for (; i < n; ++i) {
    if ((p[i] == '\n') != (p[i - 1] == '\r'))
      return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<FdSource> FdSource::open(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    throw Error(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io,
                fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  }
  return std::unique_ptr<FdSource>(new FdSource(std::move(fd)));
}

std::size_t FdSource::read(std::span<std::uint8_t> buffer) {
  while (true) {
    ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n >= 0)
      return static_cast<std::size_t>(n);
    if (errno != EINTR) {
      throw Error(ErrorCode::Io, fmt::format("cannot read the input: {}", std::strerror(errno)));
    }
  }
}

std::size_t MemorySource::read(std::span<std::uint8_t> buffer) {
  std::size_t n = std::min(buffer.size(), bytes_.size() - position_);
  if (n == 0)
    return 0;  // an empty view may have no data pointer at all (memcpy from null is undefined)
  std::memcpy(buffer.data(), bytes_.data() + position_, n);
  position_ += n;
  return n;
}

std::size_t PrefixedSource::read(std::span<std::uint8_t> buffer) {
  if (position_ < prefix_.size()) {
    std::size_t n = std::min(buffer.size(), prefix_.size() - position_);
    std::memcpy(buffer.data(), prefix_.data() + position_, n);
    position_ += n;
    return n;
  }
  return rest_.read(buffer);
}

OutputSink::OutputSink(int fd, UniqueFd in_place, std::optional<TemporaryFile> temporary)
    : fd_(fd), in_place_(std::move(in_place)), temporary_(std::move(temporary)) {}

std::unique_ptr<OutputSink> OutputSink::standard_output() {
  return std::unique_ptr<OutputSink>(new OutputSink(STDOUT_FILENO, UniqueFd(), std::nullopt));
}

std::unique_ptr<OutputSink> OutputSink::file(const std::filesystem::path& path) {
  OutputTarget target = resolve_output_target(path);
  if (target.kind == OutputTarget::Kind::InPlace) {
    UniqueFd fd = open_in_place(target.path);
    int raw = fd.get();
    return std::unique_ptr<OutputSink>(new OutputSink(raw, std::move(fd), std::nullopt));
  }
  TemporaryFile temporary = TemporaryFile::create_beside(target.path, FileMode::Private);
  int raw = temporary.fd();
  return std::unique_ptr<OutputSink>(new OutputSink(raw, UniqueFd(), std::move(temporary)));
}

void OutputSink::write(ByteView bytes) {
  written_ = written_ || !bytes.empty();
  if (buffer_.empty() && bytes.size() >= kChunk) {
    write_all(fd_, bytes, "the output");  // large writes without a copy
    return;
  }
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (buffer_.size() >= kChunk)
    flush_buffer();
}

void OutputSink::flush_buffer() {
  write_all(fd_, as_bytes(buffer_), "the output");
  buffer_.clear();
}

bool OutputSink::adopt(TemporaryFile& file) {
  if (!temporary_ || written_ || file.target() != temporary_->target())
    return false;
  temporary_.reset();  // the empty file made for the output is removed
  temporary_.emplace(std::move(file));
  fd_ = temporary_->fd();
  return true;
}

void OutputSink::commit() {
  flush_buffer();
  if (temporary_) {
    temporary_->commit();
  } else if (in_place_.valid() && in_place_.close() != 0) {
    throw Error(ErrorCode::Io, fmt::format("cannot write the output: {}", std::strerror(errno)));
  }
}

void CrlfCheck::update(ByteView bytes) {
  if (!ok_ || bytes.empty())
    return;
  if (after_cr_) {
    ok_ = bytes.front() == '\n';
    after_cr_ = false;
    bytes = bytes.subspan(1);
  }
  if (!bytes.empty() && bytes.back() == '\r') {
    after_cr_ = true;  // its LF may start the next chunk
    bytes = bytes.first(bytes.size() - 1);
  }
  ok_ = ok_ && smime::all_crlf(bytes);
}

void CrlfSink::write(ByteView bytes) {
  // Text already in CRLF (the common case, and every large decrypted
  // message mailseal wrote) passes through without a copy.
  if (!after_cr_ && all_crlf(bytes)) {
    next_.write(bytes);
    return;
  }
  buffer_.clear();
  buffer_.reserve(bytes.size() + bytes.size() / 16 + 2);
  for (std::uint8_t byte : bytes) {
    if (byte == '\r') {
      buffer_ += "\r\n";
      after_cr_ = true;
    } else if (byte == '\n') {
      if (!after_cr_)
        buffer_ += "\r\n";
      after_cr_ = false;
    } else {
      buffer_.push_back(static_cast<char>(byte));
      after_cr_ = false;
    }
  }
  next_.write(as_bytes(buffer_));
}

namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Every 12 bits as their two base64 characters, so that a group of three
// bytes takes two lookups instead of four: the encoder of large messages
// spent a quarter of its time in OpenSSL's EVP_EncodeBlock, one character a
// lookup (bench/smime_profile.md).
struct PairTable {
  char pairs[4096][2];
  constexpr PairTable() : pairs() {
    for (int i = 0; i < 4096; ++i) {
      pairs[i][0] = kBase64Alphabet[i >> 6];
      pairs[i][1] = kBase64Alphabet[i & 63];
    }
  }
};
constexpr PairTable kPairs;

std::uint64_t big_endian(std::uint64_t loaded) {
  if constexpr (std::endian::native == std::endian::little)
    return __builtin_bswap64(loaded);
  return loaded;
}

// Six bytes (the high 48 bits of `value`) as eight characters.
char* encode_six(std::uint64_t value, char* out) {
  std::memcpy(out, kPairs.pairs[(value >> 52) & 0xfff], 2);
  std::memcpy(out + 2, kPairs.pairs[(value >> 40) & 0xfff], 2);
  std::memcpy(out + 4, kPairs.pairs[(value >> 28) & 0xfff], 2);
  std::memcpy(out + 6, kPairs.pairs[(value >> 16) & 0xfff], 2);
  return out + 8;
}

// RFC 4648 section 4 base64 of `group` (at most a line's 57 bytes), padded,
// then CRLF; returns the end of what was written.
char* encode_line(ByteView group, char* out) {
  const std::uint8_t* in = group.data();
  std::size_t left = group.size();
  // Eight bytes read for six used: only while two more follow in the group.
  for (; left >= 8; left -= 6, in += 6) {
    std::uint64_t value = 0;
    std::memcpy(&value, in, sizeof value);
    out = encode_six(big_endian(value), out);
  }
  for (; left >= 3; left -= 3, in += 3, out += 4) {
    const unsigned value = (unsigned{in[0]} << 16) | (unsigned{in[1]} << 8) | in[2];
    std::memcpy(out, kPairs.pairs[value >> 12], 2);
    std::memcpy(out + 2, kPairs.pairs[value & 0xfff], 2);
  }
  if (left > 0) {
    const unsigned value = (unsigned{in[0]} << 16) | (left == 2 ? unsigned{in[1]} << 8 : 0u);
    std::memcpy(out, kPairs.pairs[value >> 12], 2);
    out[2] = left == 2 ? kBase64Alphabet[(value >> 6) & 63] : '=';
    out[3] = '=';
    out += 4;
  }
  out[0] = '\r';
  out[1] = '\n';
  return out + 2;
}

constexpr std::size_t kBase64LineChars = 78;        // 76 and CRLF
constexpr std::size_t kBase64LinesPerWrite = 1024;  // about 78 KiB a write

}  // namespace

void Base64Sink::emit_lines(ByteView whole_lines) {
  // Many lines a write: one call down the chain for about 78 KiB of output
  // rather than two for every 78 bytes.
  while (!whole_lines.empty()) {
    const std::size_t take = std::min(whole_lines.size(), kBase64LineBytes * kBase64LinesPerWrite);
    encoded_.resize(kBase64LineChars * ((take + kBase64LineBytes - 1) / kBase64LineBytes));
    char* out = encoded_.data();
    for (std::size_t offset = 0; offset < take; offset += kBase64LineBytes)
      out = encode_line(whole_lines.subspan(offset, std::min(kBase64LineBytes, take - offset)), out);
    next_.write(std::string_view(encoded_.data(), static_cast<std::size_t>(out - encoded_.data())));
    whole_lines = whole_lines.subspan(take);
  }
}

void Base64Sink::write(ByteView bytes) {
  if (!pending_.empty()) {
    std::size_t take = std::min(kBase64LineBytes - pending_.size(), bytes.size());
    pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (pending_.size() < kBase64LineBytes)
      return;
    emit_lines(pending_);
    pending_.clear();
  }
  const std::size_t whole = bytes.size() - bytes.size() % kBase64LineBytes;
  emit_lines(bytes.first(whole));
  pending_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(whole), bytes.end());
}

void Base64Sink::finish() {
  if (!pending_.empty()) {
    emit_lines(pending_);  // the tail line, padded
    pending_.clear();
  }
}

void pump(ByteSource& source, ByteSink& sink) {
  std::vector<std::uint8_t> buffer(kChunk);
  while (std::size_t n = source.read(buffer)) {
    sink.write(ByteView(buffer.data(), n));
  }
}

}  // namespace mailseal::smime
