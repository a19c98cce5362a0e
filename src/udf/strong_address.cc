#include "mailseal/udf/strong_address.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <fmt/format.h>

#include "mailseal/common/error.h"
#include "mailseal/common/text.h"

namespace mailseal::udf {

namespace {

bool starts_with_prefix(std::string_view label) {
  if (label.size() < kStrongNamePrefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < kStrongNamePrefix.size(); ++i) {
    if (ascii_lower(label[i]) != kStrongNamePrefix[i]) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void refuse(std::string_view text, std::string_view why) {
  throw Error(ErrorCode::Malformed, fmt::format("'{}' is not a strong email address: {}", text, why));
}

StrongAddress parse_query_form(std::string_view text, std::size_t question_mark) {
  std::string_view fingerprint_text = text.substr(0, question_mark);
  std::string_view address_text = text.substr(question_mark + 1);
  if (fingerprint_text.empty() || address_text.empty()) {
    refuse(text, "expected FINGERPRINT?ADDRESS");
  }
  try {
    return StrongAddress{EmailAddress::parse(address_text), Fingerprint::parse(fingerprint_text)};
  } catch (const Error& error) {
    refuse(text, error.what());
  }
}

StrongAddress parse_strong_name_form(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos) {
    refuse(text, "it has no '@'");
  }
  std::string_view local = text.substr(0, at);
  std::string_view domain = text.substr(at + 1);
  std::string plain_domain;
  std::optional<std::string_view> fingerprint_label;
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::size_t end = std::min(domain.find('.', start), domain.size());
    std::string_view label = domain.substr(start, end - start);
    if (starts_with_prefix(label)) {
      if (fingerprint_label) {
        refuse(text, "it has more than one mm-- label");
      }
      fingerprint_label = label.substr(kStrongNamePrefix.size());
    } else {
      if (!plain_domain.empty()) {
        plain_domain.push_back('.');
      }
      plain_domain.append(label);
    }
    start = end + 1;
  }
  if (!fingerprint_label) {
    refuse(text, "expected FINGERPRINT?ADDRESS or a domain label starting with mm--");
  }
  try {
    Fingerprint fingerprint = Fingerprint::parse(*fingerprint_label);
    if (fingerprint.precision_bits() > kMaxStrongNameBits) {
      refuse(text, "the mm-- label is longer than a DNS label can be");
    }
    return StrongAddress{EmailAddress::parse(fmt::format("{}@{}", local, plain_domain)), fingerprint};
  } catch (const Error& error) {
    refuse(text, error.what());
  }
}

}  // namespace

StrongAddress StrongAddress::parse(std::string_view text) {
  auto question_mark = text.find('?');
  if (question_mark != std::string_view::npos) {
    return parse_query_form(text, question_mark);
  }
  return parse_strong_name_form(text);
}

bool StrongAddress::looks_strong(std::string_view text) noexcept {
  if (text.find('?') != std::string_view::npos) {
    return true;
  }
  auto at = text.rfind('@');
  if (at == std::string_view::npos) {
    return false;
  }
  std::string_view domain = text.substr(at + 1);
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::size_t end = std::min(domain.find('.', start), domain.size());
    if (starts_with_prefix(domain.substr(start, end - start))) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

std::string StrongAddress::to_query_form(int bits) const {
  return fmt::format("{}?{}", fingerprint.to_string(bits), address.str());
}

std::string StrongAddress::to_strong_name_form(int bits) const {
  if (bits > kMaxStrongNameBits) {
    throw Error(ErrorCode::Usage,
                fmt::format("a strong name holds at most {} bits of fingerprint", kMaxStrongNameBits));
  }
  return fmt::format("{}@{}{}.{}", address.local_part(), kStrongNamePrefix, ascii_lower(fingerprint.to_string(bits)),
                     address.domain());
}

}  // namespace mailseal::udf
