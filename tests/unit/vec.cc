#include "vec.h"

#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace mailseal::test {

namespace {
std::string trim(const std::string& text) {
  auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) {
    return {};
  }
  auto end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}
}  // namespace

const std::string& VecRecord::get(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end()) {
    throw std::runtime_error("vector at line " + std::to_string(line) + " has no key " + key);
  }
  return it->second;
}

std::vector<VecRecord> read_vec_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open vector file " + path.string());
  }
  std::vector<VecRecord> records;
  std::string section;
  VecRecord current;
  std::string line;
  int number = 0;
  auto flush = [&] {
    if (!current.values.empty()) {
      records.push_back(current);
    }
    current = VecRecord{};
  };
  while (std::getline(in, line)) {
    ++number;
    std::string text = trim(line);
    if (!text.empty() && text.front() == '#') {
      continue;
    }
    if (text.empty()) {
      flush();
      continue;
    }
    if (text.front() == '[' && text.back() == ']') {
      flush();
      section = text.substr(1, text.size() - 2);
      continue;
    }
    auto equals = text.find('=');
    if (equals == std::string::npos) {
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": expected 'Key = value'");
    }
    if (current.values.empty()) {
      current.section = section;
      current.line = number;
    }
    std::string key = trim(text.substr(0, equals));
    std::string value = trim(text.substr(equals + 1));
    // A key repeated in one record continues the value (long hex or decimal).
    current.values[key] += value;
  }
  flush();
  return records;
}

void expect_only_keys(const VecRecord& record, const std::set<std::string>& known) {
  for (const auto& [key, value] : record.values) {
    EXPECT_TRUE(known.count(key)) << "unknown key '" << key << "' in vector at line " << record.line;
  }
}

std::filesystem::path vectors_dir() {
  return MAILSEAL_VECTORS_DIR;
}

}  // namespace mailseal::test
