#pragma once
// Strict reading and writing of the key service's JSON documents: the one
// place that knows nlohmann::json. A reader walks a document through Value
// and Fields; the first problem stops it with a Fault naming the field.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailseal/keyservice/documents.h"

namespace mailseal::keyservice::internal {

using nlohmann::json;

// Strings without a limit of their own (ids, fingerprints, states).
inline constexpr std::size_t kMaxTextBytes = 1024;

// Thrown while reading, caught by parse_document.
struct FaultFound {
  Fault fault;
};

class Fields;

// One value of a document, known by its path for the faults it reports.
class Value {
 public:
  Value(const json& value, std::string path) : value_(value), path_(std::move(path)) {}

  bool is_null() const noexcept { return value_.is_null(); }
  std::string text(std::size_t max_bytes = kMaxTextBytes) const;
  // A point in time: an integer, Unix seconds.
  TimePoint time() const;
  bool boolean() const;
  // An integer from min to max.
  std::int64_t integer(std::int64_t min, std::int64_t max) const;
  // Base64 of 1 to max_bytes bytes.
  Bytes bytes(std::size_t max_bytes) const;
  // Base64 of a DER certificate.
  crypto::Certificate certificate() const;
  Fields object() const;
  // An array of at most max_items values, each read by `read_item`.
  template <typename Read>
  auto list(std::size_t max_items, Read read_item) const -> std::vector<decltype(read_item(*this))>;

  [[noreturn]] void fail(FaultKind kind, std::string problem) const;

 private:
  const json& array(std::size_t max_items) const;
  const json& value_;
  std::string path_;
};

// The fields of one JSON object.
class Fields {
 public:
  Fields(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  // A fault (MissingField) when absent.
  Value operator[](std::string_view name) const;
  // nullopt when absent or null.
  std::optional<Value> optional(std::string_view name) const;

 private:
  std::string path_of(std::string_view name) const;
  const json& object_;
  std::string path_;
};

template <typename Read>
auto Value::list(std::size_t max_items, Read read_item) const -> std::vector<decltype(read_item(*this))> {
  const json& items = array(max_items);
  std::vector<decltype(read_item(*this))> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    out.push_back(read_item(Value(items[i], path_ + "[" + std::to_string(i) + "]")));
  return out;
}

// Parses `text` as one JSON object nested at most kMaxJsonDepth deep;
// nullopt when it is one.
std::optional<Fault> parse_object(std::string_view text, json& document);

// Parses `text` and reads it with `read`; every problem becomes the Fault.
template <typename Document, typename Read>
Parsed<Document> parse_document(std::string_view text, Read read) {
  json document;
  if (std::optional<Fault> fault = parse_object(text, document))
    return *fault;
  try {
    return read(Fields(document, ""));
  } catch (const FaultFound& found) {
    return found.fault;
  }
}

// The writing side: base64 for bytes and certificates, and the one way a
// document is serialised (invalid UTF-8 replaced, never thrown).
json base64_of(ByteView bytes);
json base64_of(const crypto::Certificate& certificate);
std::string dump(const json& document);

// The devices and acceptance parts that several documents share.
DeviceEntry read_device(const Value& value);
json device_json(const DeviceEntry& device);
Acceptance read_acceptance(const Fields& fields);
void write_acceptance(json& document, const Acceptance& acceptance);
json text_or_null(const std::optional<std::string>& text);

}  // namespace mailseal::keyservice::internal
