#include "keyservice/internal/fields.h"

#include <limits>

#include <fmt/format.h>

#include "mailseal/common/base64.h"
#include "mailseal/keyservice/protocol.h"

namespace mailseal::keyservice {

std::string Fault::describe() const {
  if (field.empty())
    return problem;
  return fmt::format("'{}' {}", field, problem);
}

void throw_fault(const Fault& fault, std::string_view source) {
  throw Error(ErrorCode::Malformed, fmt::format("{}: {}", source, fault.describe()));
}

namespace internal {

namespace {

// nlohmann's parser is iterative, but a hostile document nested thousands of
// levels deep gains nothing: it is refused before parsing.
bool nested_too_deep(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

Fault not_json(std::string problem) {
  return Fault{FaultKind::NotJson, "", std::move(problem)};
}

}  // namespace

std::optional<Fault> parse_object(std::string_view text, json& document) {
  if (nested_too_deep(text))
    return not_json("nested too deeply");
  document = json::parse(text, nullptr, false);
  if (document.is_discarded())
    return not_json("not valid JSON");
  if (!document.is_object())
    return not_json("not a JSON object");
  return std::nullopt;
}

void Value::fail(FaultKind kind, std::string problem) const {
  throw FaultFound{Fault{kind, path_, std::move(problem)}};
}

std::string Value::text(std::size_t max_bytes) const {
  if (!value_.is_string())
    fail(FaultKind::BadField, "must be a string");
  const auto& text = value_.get_ref<const std::string&>();
  if (text.size() > max_bytes)
    fail(FaultKind::BadField, fmt::format("is longer than {} bytes", max_bytes));
  return text;
}

TimePoint Value::time() const {
  if (!value_.is_number_integer() ||
      (value_.is_number_unsigned() &&
       value_.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())))
    fail(FaultKind::BadField, "must be an integer");
  return from_unix_seconds(value_.get<std::int64_t>());
}

std::int64_t Value::integer(std::int64_t min, std::int64_t max) const {
  if (!value_.is_number_integer() ||
      (value_.is_number_unsigned() && value_.get<std::uint64_t>() > static_cast<std::uint64_t>(max)))
    fail(FaultKind::BadField, "must be an integer");
  const std::int64_t number = value_.get<std::int64_t>();
  if (number < min || number > max)
    fail(FaultKind::BadField, fmt::format("must be {} to {}", min, max));
  return number;
}

bool Value::boolean() const {
  if (!value_.is_boolean())
    fail(FaultKind::BadField, "must be true or false");
  return value_.get<bool>();
}

Bytes Value::bytes(std::size_t max_bytes) const {
  if (!value_.is_string() || value_.get_ref<const std::string&>().size() > max_bytes / 3 * 4 + 4)
    fail(FaultKind::BadField, fmt::format("must be base64 of at most {} bytes", max_bytes));
  Bytes out;
  try {
    out = decode_base64(value_.get_ref<const std::string&>());
  } catch (const Error&) {
    fail(FaultKind::BadField, "is not valid base64");
  }
  if (out.empty())
    fail(FaultKind::BadField, "is empty");
  return out;
}

crypto::Certificate Value::certificate() const {
  Bytes der = bytes(kMaxBodyBytes);
  try {
    return crypto::Certificate::from_der(der);
  } catch (const Error& error) {
    fail(FaultKind::BadCertificate, fmt::format("is not a certificate: {}", error.what()));
  }
}

Fields Value::object() const {
  if (!value_.is_object())
    fail(FaultKind::BadField, "must be an object");
  return Fields(value_, path_);
}

const json& Value::array(std::size_t max_items) const {
  if (!value_.is_array() || value_.size() > max_items)
    fail(FaultKind::BadField, fmt::format("must be an array of at most {} items", max_items));
  return value_;
}

std::string Fields::path_of(std::string_view name) const {
  return path_.empty() ? std::string(name) : fmt::format("{}.{}", path_, name);
}

Value Fields::operator[](std::string_view name) const {
  auto found = object_.find(name);
  if (found == object_.end())
    throw FaultFound{Fault{FaultKind::MissingField, path_of(name), "is missing"}};
  return Value(*found, path_of(name));
}

std::optional<Value> Fields::optional(std::string_view name) const {
  auto found = object_.find(name);
  if (found == object_.end() || found->is_null())
    return std::nullopt;
  return Value(*found, path_of(name));
}

json base64_of(ByteView bytes) {
  return encode_base64(bytes);
}

json base64_of(const crypto::Certificate& certificate) {
  return encode_base64(certificate.der());
}

std::string dump(const json& document) {
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

json text_or_null(const std::optional<std::string>& text) {
  return text ? json(*text) : json(nullptr);
}

}  // namespace internal

}  // namespace mailseal::keyservice
