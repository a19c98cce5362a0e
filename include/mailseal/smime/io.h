#pragma once
// Streams of bytes for the S/MIME engine: signing and encrypting never hold
// the whole message in memory (issue: "Fast"), so messages flow from a
// ByteSource through transforming sinks into a ByteSink.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mailseal/common/bytes.h"
#include "mailseal/common/files.h"
#include "mailseal/common/unique_fd.h"

namespace mailseal::smime {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills up to buffer.size() bytes; returns 0 only at the end.
  virtual std::size_t read(std::span<std::uint8_t> buffer) = 0;
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(ByteView bytes) = 0;
  void write(std::string_view text) { write(as_bytes(text)); }
  // Flushes anything buffered; called once at the end.
  virtual void finish() {}
};

// A file descriptor (standard input), or a file opened by name.
class FdSource : public ByteSource {
 public:
  // Reads `fd` without owning it.
  explicit FdSource(int fd) : fd_(fd) {}
  static std::unique_ptr<FdSource> open(const std::filesystem::path& path);
  std::size_t read(std::span<std::uint8_t> buffer) override;

 private:
  explicit FdSource(UniqueFd owned) : fd_(owned.get()), owned_(std::move(owned)) {}
  int fd_;
  UniqueFd owned_;  // a file opened by name
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(ByteView bytes) : bytes_(bytes) {}
  std::size_t read(std::span<std::uint8_t> buffer) override;

 private:
  ByteView bytes_;
  std::size_t position_ = 0;
};

// Bytes already read (a header block's look-ahead) followed by the rest.
class PrefixedSource : public ByteSource {
 public:
  PrefixedSource(Bytes prefix, ByteSource& rest) : prefix_(std::move(prefix)), rest_(rest) {}
  std::size_t read(std::span<std::uint8_t> buffer) override;

 private:
  Bytes prefix_;
  std::size_t position_ = 0;
  ByteSource& rest_;
};

class StringSink : public ByteSink {
 public:
  using ByteSink::write;
  void write(ByteView bytes) override { text_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }
  const std::string& text() const noexcept { return text_; }
  void reserve(std::size_t size) { text_.reserve(size); }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

// Writes to standard output, or to the output named by a path as
// mailseal::OutputTarget says: a regular file or a new path appears only once
// complete (a temporary file, 0600, renamed over the target by commit();
// removed if never committed); a character device (/dev/null, a terminal) or
// a FIFO is written in place as the output flows, never replaced.
class OutputSink : public ByteSink {
 public:
  static std::unique_ptr<OutputSink> standard_output();
  static std::unique_ptr<OutputSink> file(const std::filesystem::path& path);
  using ByteSink::write;
  void write(ByteView bytes) override;
  // Takes `file`, complete, as the output, when nothing was written yet and
  // `file` is a temporary file for the same target (commit() renames it
  // into place instead of a copy being written); false, `file` untouched,
  // otherwise.
  bool adopt(TemporaryFile& file);
  void commit();

 private:
  OutputSink(int fd, UniqueFd in_place, std::optional<TemporaryFile> temporary);
  void flush_buffer();
  int fd_;
  UniqueFd in_place_;                       // a device or FIFO opened by name
  std::optional<TemporaryFile> temporary_;  // for a regular file or a new path
  std::string buffer_;
  bool written_ = false;
};

// Whether bytes written in chunks have CRLF line endings only (every LF after
// a CR, every CR before an LF), across chunk borders: then CrlfSink would
// pass them on unchanged.
class CrlfCheck {
 public:
  void update(ByteView bytes);
  bool all_crlf() const noexcept { return ok_ && !after_cr_; }

 private:
  bool ok_ = true;
  bool after_cr_ = false;
};

// Copies everything to two sinks.
class TeeSink : public ByteSink {
 public:
  TeeSink(ByteSink& first, ByteSink& second) : first_(first), second_(second) {}
  using ByteSink::write;
  void write(ByteView bytes) override {
    first_.write(bytes);
    second_.write(bytes);
  }

 private:
  ByteSink& first_;
  ByteSink& second_;
};

// Rewrites every line ending (LF, CR, CRLF) as CRLF, across chunk borders.
class CrlfSink : public ByteSink {
 public:
  explicit CrlfSink(ByteSink& next) : next_(next) {}
  using ByteSink::write;
  void write(ByteView bytes) override;

 private:
  ByteSink& next_;
  bool after_cr_ = false;
  std::string buffer_;
};

// Base64 in lines of 76 characters ended by CRLF; finish() writes the tail.
class Base64Sink : public ByteSink {
 public:
  explicit Base64Sink(ByteSink& next) : next_(next) {}
  using ByteSink::write;
  void write(ByteView bytes) override;
  void finish() override;

 private:
  // Encodes `whole_lines` (57 bytes a line; a shorter last one is padded).
  void emit_lines(ByteView whole_lines);
  ByteSink& next_;
  Bytes pending_;
  std::string encoded_;
};

// Reads a source to its end into a sink, in chunks.
void pump(ByteSource& source, ByteSink& sink);

}  // namespace mailseal::smime
