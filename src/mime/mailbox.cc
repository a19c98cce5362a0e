// One mailbox read strictly (RFC 5322 section 3.4), for fields a signature
// vouches for: nothing in it may let a reader see another address than the
// one checked.

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/mime/mime.h"

namespace mailseal::mime {

namespace {

[[noreturn]] void refuse(std::string_view why) {
  throw Error(ErrorCode::Malformed, std::string(why));
}

// Text a reader might show as an address: '@' or '<', after encoded words
// are decoded.
bool looks_like_address(std::string_view text) {
  std::string decoded = decode_header_text(text);
  return decoded.find_first_of("@<") != std::string::npos || text.find_first_of("@<") != std::string_view::npos;
}

// The parts of a mailbox value, with comments and quoted strings resolved.
struct Lexed {
  std::optional<std::string> angle;      // between '<' and '>'
  std::vector<std::string> bare_words;   // outside quotes, comments and angle brackets
  bool quoted = false;                   // a quoted string occurred
};

// Skips a comment starting at `i` ('('); returns its text. Comments nest.
std::string comment_at(std::string_view value, std::size_t& i) {
  std::string text;
  int depth = 0;
  for (; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size()) {
      text += value[++i];
    } else if (c == '(') {
      if (depth++ > 0)
        text += c;
    } else if (c == ')') {
      if (--depth == 0)
        return text;
      text += c;
    } else {
      text += c;
    }
  }
  refuse("a comment in the field is not closed");
}

std::string quoted_at(std::string_view value, std::size_t& i) {
  std::string text;
  for (++i; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size())
      text += value[++i];
    else if (c == '"')
      return text;
    else
      text += c;
  }
  refuse("a quoted string in the field is not closed");
}

Lexed lex(std::string_view value) {
  Lexed out;
  std::string word;
  auto end_word = [&] {
    if (!word.empty())
      out.bare_words.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '(') {
      end_word();
      if (looks_like_address(comment_at(value, i)))
        refuse("a comment in the field holds '@' or '<' (a reader could take it for the address)");
    } else if (c == '"') {
      if (out.angle)
        refuse("there is text after the address in angle brackets");
      end_word();
      out.quoted = true;
      std::string text = quoted_at(value, i);
      if (looks_like_address(text))
        refuse("the display name holds '@' or '<' (a reader could take it for the address)");
    } else if (c == ',') {
      refuse("the field names more than one mailbox");
    } else if (c == ':' || c == ';') {
      refuse("the field holds a group; exactly one mailbox is allowed");
    } else if (c == '<') {
      if (out.angle)
        refuse("the field holds more than one address in angle brackets");
      end_word();
      std::size_t close = value.find('>', i);
      if (close == std::string_view::npos)
        refuse("an address in angle brackets is not closed");
      out.angle = std::string(value.substr(i + 1, close - i - 1));
      if (out.angle->empty())
        refuse("the field holds an empty address <>");
      if (out.angle->find_first_of("<(\" \t\r\n") != std::string::npos)
        refuse("the address in angle brackets is not a plain address");
      out.bare_words.clear();  // the display name, checked by parse_mailbox
      i = close;
    } else if (c == '>') {
      refuse("the field holds a '>' outside an address");
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      end_word();
    } else {
      if (out.angle)
        refuse("there is text after the address in angle brackets");
      word += c;
    }
  }
  end_word();
  return out;
}

}  // namespace

EmailAddress parse_mailbox(std::string_view value) {
  // Words before '<' are the display name; lex() keeps them as bare words
  // until the angle bracket, so take the phrase from the raw value.
  Lexed lexed = lex(value);
  std::string address_text;
  if (lexed.angle) {
    std::string_view phrase = value.substr(0, value.find('<'));
    if (looks_like_address(phrase))
      refuse("the display name holds '@' or '<' (a reader could take it for the address)");
    address_text = *lexed.angle;
  } else {
    if (lexed.quoted)
      refuse("quoted local parts are not accepted here");
    if (lexed.bare_words.size() != 1)
      refuse(lexed.bare_words.empty() ? "the field names no mailbox" : "the field is not one address");
    address_text = lexed.bare_words.front();
  }
  EmailAddress address = EmailAddress::parse(address_text);
  // What other readers make of it (GMime, as mailseal's reader) must be the
  // same single address.
  std::vector<EmailAddress> seen;
  try {
    seen = parse_addresses(value);
  } catch (const Error&) {
  }
  if (seen.size() != 1 || seen.front() != address)
    refuse(fmt::format("the field is read as another address than {}", address.str()));
  return address;
}

}  // namespace mailseal::mime
