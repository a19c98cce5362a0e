#pragma once
// Building the MIME entities of outgoing messages.

#include <span>
#include <string>
#include <string_view>

#include "mailseal/mime/legacy_display.h"
#include "mailseal/smime/smime.h"

namespace mailseal::smime::internal {

// The end of the header block in `bytes` (the offset of the body, after the
// empty line), if the block is complete.
std::optional<std::size_t> find_body(std::string_view bytes);

// How the body may travel: inside CMS anything goes; as the first part of a
// multipart/signed it must survive 7-bit transport unchanged.
enum class Transport { SevenBit, Binary };

// Header fields RFC 9788 protects (the Header Confidentiality Policy's
// "hcp_baseline" set that a reader shows).
bool is_protected_header(std::string_view name);

// Header protection (RFC 9788): the content entity carries copies of the
// protected header fields, marked on its Content-Type as hp="clear" (signed
// only: a reader takes the signed fields as the message's) or hp="cipher"
// (encrypted: the outer Subject is hidden).
enum class HeaderProtection { None, Clear, Cipher };

// Writes the message's content entity: its Content-* fields (and, unless
// `protection` is None, copies of the protected header fields with the hp
// parameter added to Content-Type), an empty line, then the body streamed with
// canonical line endings; an 8bit or binary single-part body is base64-encoded
// for 7-bit transport.
// `legacy_display` (the obscured fields of an encrypted message) puts an RFC
// 9788 Legacy Display Element at the top of the main body parts
// (mime::add_legacy_display). A plain-text body in 7bit or 8bit is still
// streamed; any other is read whole for it, up to kMaxLegacyDisplayBody, and a
// larger one is sent without an element.
void write_content_entity(OutgoingMessage& message, ByteSink& out, Transport transport, HeaderProtection protection,
                          std::span<const mime::DisplayedField> legacy_display = {});

// The largest body (other than plain text in 7bit or 8bit) given a Legacy
// Display Element: it is held in memory while the element is added.
inline constexpr std::size_t kMaxLegacyDisplayBody = 64 * 1024 * 1024;

// The message's non-content header fields, serialised, with `skip` removed.
std::string message_headers(const OutgoingMessage& message, std::initializer_list<std::string_view> skip);

// Streams content into a detached CMS signature and returns its DER.
class DetachedSigner {
 public:
  explicit DetachedSigner(const SignerIdentity& signer);
  ~DetachedSigner();
  DetachedSigner(const DetachedSigner&) = delete;
  DetachedSigner& operator=(const DetachedSigner&) = delete;
  ByteSink& content() noexcept;
  Bytes finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes a multipart/signed entity with `content` signed by `signer`:
// header (Content-Type only), delimiter, content, delimiter, signature part.
void write_multipart_signed(OutgoingMessage& message, ByteSink& out, const SignerIdentity& signer, Transport transport,
                            HeaderProtection protection, std::string_view extra_headers,
                            std::span<const mime::DisplayedField> legacy_display = {});

}  // namespace mailseal::smime::internal
