#pragma once
// Whether the content of a read message may be released: decided here, in the
// library, and nowhere else (STYLE.md: never release plaintext that failed
// verification). A ReadResult holds its content back (HeldContent); the only
// way to read it is a Release, which carries the content when the decision
// lets it out and only the reason when it does not.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mailseal/common/files.h"
#include "mailseal/common/unique_fd.h"

namespace mailseal::udf {
class Fingerprint;
}

namespace mailseal::smime {

struct ReadResult;
class ByteSink;
class OutputSink;

// The rest of a large decrypted message, kept in a 0600 temporary file
// (deleted unless released): its bytes from `offset` on, line endings made
// CRLF as they are read.
struct SpooledContent {
  TemporaryFile file;
  UniqueFd reader;  // the file opened for reading
  std::uint64_t offset = 0;
  bool crlf = false;  // every line ending in the file is CRLF already
};

// Why content is withheld.
enum class Withheld {
  NotSigned,           // verify: no signature vouches for the content
  BadSignature,        // a signature does not hold: the content may have been altered
  TrustBelowRequired,  // the signer is trusted less than the caller requires
  IdentityMismatch,    // the From fields disagree (with each other, a protected layer or the signer)
  Unauthenticated,     // decrypt: CBC content no valid signature vouches for: it may have been altered (EFAIL)
};
// "not signed", "bad signature", "trust below the required level", "the From
// addresses disagree", "unauthenticated encryption"
std::string_view to_string(Withheld reason) noexcept;

// What decrypting does with content under a signature that does not hold.
enum class BadSignature {
  Withhold,  // the default: it may have been altered (CBC content can be, undetected)
  Release,   // the reader asked for it anyway (decrypt --allow-bad-signature)
};

// What decrypting does with content of an unauthenticated (CBC) encryption
// layer that no valid signature from the From address vouches for: chosen
// blocks can be spliced into such ciphertext undetected (EFAIL's CBC gadgets).
enum class Unauthenticated {
  Withhold,  // the default
  Release,   // the reader asked for it anyway (decrypt --allow-unauthenticated)
};

// The innermost content of a read message, held back until a Release lets it
// out. Nothing else reads it.
class HeldContent {
 public:
  HeldContent();
  explicit HeldContent(std::string text);
  HeldContent(HeldContent&&) noexcept;
  HeldContent& operator=(HeldContent&&) noexcept;
  ~HeldContent();

  // The content goes on past the text it holds, in a file (a large message
  // decrypted or verified as a stream). When the text is the file's start
  // and the file is all CRLF, the file alone holds the content.
  void continue_with(SpooledContent rest);
  bool spooled() const noexcept { return rest_ != nullptr; }

  // The UDF (SHA-2-512, message/rfc822) of the content: names a message
  // without releasing it (learning counts each message once by it).
  // Error(Internal) once a Release has taken the content.
  udf::Fingerprint fingerprint() const;

 private:
  friend class Release;
  std::string text_;
  std::unique_ptr<SpooledContent> rest_;
  bool taken_ = false;
};

// A decision about the content of a read message: the content when it may
// be released, else why it is withheld.
class Release {
 public:
  // decrypt: the content is released unless the From fields disagree
  // (never), a signature over it does not hold (then as `bad_signature`
  // says), or it is unsigned content of unauthenticated encryption (then as
  // `unauthenticated` says). Takes the content out of `result`.
  static Release of_decrypted(ReadResult& result, BadSignature bad_signature,
                              Unauthenticated unauthenticated = Unauthenticated::Withhold);
  // verify: the content is released only under a valid signature and when
  // the From fields agree. Takes the content out of `result`.
  static Release of_verified(ReadResult& result);

  // Withholds the content for `reason` (a further requirement of the
  // caller's failed). A decision only ever narrows: nothing widens it again.
  // The first reason stays.
  void withhold(Withheld reason);

  bool released() const noexcept { return !reason_.has_value(); }
  std::optional<Withheld> withheld() const noexcept { return reason_; }
  // The released content. Error(BadSignature) or Error(RejectedByPolicy),
  // naming the reason, when it is withheld; Error(Unsupported) for content
  // too large to hold in memory (spooled), which write_to() writes.
  const std::string& content() const;
  // Writes the released content, held in memory or spooled, to `out`;
  // errors as content().
  void write_to(ByteSink& out) const;
  // The same into an output; a file that holds the content alone, for the
  // same target, becomes the output (renamed into place, not copied).
  void move_to(OutputSink& out);

  Release(Release&&) noexcept;
  Release& operator=(Release&&) noexcept;
  ~Release();

 private:
  Release(HeldContent& held, std::optional<Withheld> reason);
  [[noreturn]] void throw_withheld() const;
  std::string content_;
  std::unique_ptr<SpooledContent> rest_;
  std::optional<Withheld> reason_;
};

}  // namespace mailseal::smime
