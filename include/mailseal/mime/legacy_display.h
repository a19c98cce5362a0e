#pragma once
// RFC 9788 Legacy Display Elements: the header fields an encrypted message
// obscures outside (its Subject), repeated at the top of the main body parts
// so that a client which does not read protected header fields (Thunderbird
// 153 for S/MIME, Outlook) still shows them; and their removal by a reader
// that does read them. These functions only transform MIME entities; when an
// element is wanted, and whose fields count when removing one, is the S/MIME
// engine's decision.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mailseal::mime {

// RFC 9788: the Content-Type parameter that marks a text part carrying an
// element, and the class of the HTML element.
inline constexpr std::string_view kLegacyDisplayParameter = "hp-legacy-display";
inline constexpr std::string_view kLegacyDisplayClass = "header-protection-legacy-display";

// One header field as the element shows it: its name and its value unfolded,
// encoded words decoded (UTF-8).
struct DisplayedField {
  std::string name;
  std::string value;
};

// A header field as an element shows it, from its value as written: unfolded,
// encoded words decoded, and control characters (a decoded line break among
// them) made spaces, so that a value is always exactly one line.
DisplayedField displayed_field(std::string_view name, std::string_view raw_value);

// The element of a text/plain part: "Name: value" CRLF for each field, then
// an empty line (RFC 9788, Appendix E.1's form).
std::string legacy_display_text(std::span<const DisplayedField> fields);

// The element of a text/html part: a div of class kLegacyDisplayClass holding
// the same lines in a pre element, markup escaped and every non-ASCII
// character written as a character reference, so it fits any charset.
std::string legacy_display_html(std::span<const DisplayedField> fields);

// `entity` (a header block, an empty line, a body) with an element added to
// each of its main body parts (RFC 9788): the entity itself when it is
// text/plain or text/html; every alternative of a multipart/alternative; the
// first part of any other multipart (mixed, related); never an attachment.
// Each part so changed is marked hp-legacy-display="1"; its body is decoded,
// given the element and encoded again in its transfer encoding (a 7bit part
// that now holds UTF-8 becomes 8bit, a us-ascii one utf-8). A text/plain part
// in a charset other than us-ascii or UTF-8 gets no element when a value is
// not ASCII. nullopt when no part took an element (no text part at all).
std::optional<std::string> add_legacy_display(std::string_view entity, std::span<const DisplayedField> fields);

struct LegacyDisplayRemoval {
  std::string entity;    // the entity with the elements removed
  std::size_t removed = 0;
  std::size_t kept = 0;  // main body parts marked hp-legacy-display="1" whose element was kept
};

// Removes the element from each main body part (as above) that is marked
// hp-legacy-display="1", and that mark, and nothing else: in text/plain the
// lines before the first empty line and that line, in text/html the first
// div of class kLegacyDisplayClass, with the line break after it. Only an
// element made of nothing but lines "Name: value" that are, each, one of
// `fields` (the message's protected header fields, shown to the reader
// anyway) is removed, so a removal never hides anything; and only where
// taking it out cannot change how the rest is read (an HTML element in the
// tokenizer's data state, not inside a comment, raw text or CDATA; no second
// element, and in text/plain no second block of fields, after it, so a decoy
// cannot silence the warning about another). Any other element, an element
// nested in other markup, or a part that cannot be decoded is kept as it is
// and counted in `kept`.
LegacyDisplayRemoval remove_legacy_display(std::string_view entity, std::span<const DisplayedField> fields);

// A Content-Type value with a parameter added (quoted) or removed, the rest
// kept as written. Removal finds the parameter by name outside quoted
// strings and comments.
std::string with_parameter(std::string_view content_type, std::string_view name, std::string_view value);
std::string without_parameter(std::string_view content_type, std::string_view name);

}  // namespace mailseal::mime
