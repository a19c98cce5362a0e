#pragma once
// Whom a read message is from, as a person sees it (docs/smime.md,
// "Identity"): the From fields of the message and of its signed or encrypted
// layers must agree; what clients also show (display names, Sender, outer
// header fields outside the signature) is reported.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mailseal/common/email_address.h"
#include "mailseal/mime/mime.h"

namespace mailseal::smime::internal {

// The one From mailbox of a header block. nullopt without a From field; a
// problem naming `where` (and nullopt) when there are several From fields or
// a field with several mailboxes; an entry in `unparsed` (and nullopt) when
// it is not one valid mailbox (the reader makes that an identity problem
// when a signature is involved, a note otherwise).
std::optional<EmailAddress> single_from(const mime::Headers& headers, std::string_view where,
                                        std::vector<std::string>& problems, std::vector<std::string>& unparsed);

// Warnings about what a mail client shows of a header block whose From is
// `from`: a display name that holds an address other than `from` or an @
// look-alike, invisible or bidi control character; a Sender, Resent-From or
// Resent-Sender that is not `from` (or does not parse).
void check_shown_identity(const mime::Headers& headers, const EmailAddress& from, std::vector<std::string>& warnings);

// Signed-only header protection (RFC 9788): each outer field among those a
// client shows (From, To, Cc, Reply-To, Subject, Date, Message-ID, Sender)
// that differs from the signed inner one, or that the signed fields lack.
void compare_with_signed(const mime::Headers& outer, const mime::Headers& signed_fields,
                         std::vector<std::string>& warnings);

// Whether the signed To/Cc name one of `reader`; nullopt when `reader` is
// empty or the signed fields have neither To nor Cc.
std::optional<bool> addressed_to(const mime::Headers& signed_fields, std::span<const EmailAddress> reader);

bool is_pkcs7_mime(const mime::ContentType& type);
// Outlook and others send application/octet-stream named *.p7m.
bool is_p7m_octet_stream(const mime::Entity& entity);

// A part of an unsigned, unencrypted message that is signed or encrypted
// (under multiparts, or a message/rfc822 attachment): it counts for nothing.
struct PartialLayers {
  bool signed_part = false;
  bool encrypted_part = false;
  // A part could not be looked into (it does not parse, has two
  // Content-Type fields, lies deeper than the search goes, or is one of too
  // many): it may be signed or encrypted for a reader that shows it.
  bool unchecked = false;
};
PartialLayers find_partial_layers(const mime::Entity& entity);

}  // namespace mailseal::smime::internal
