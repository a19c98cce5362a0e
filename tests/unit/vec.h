#pragma once
// Reader for test-vector files (tests/vectors/<part>/*.vec), after Botan's
// format: "[section]" lines, records of "Key = value" separated by blank
// lines, "#" comments. A test names the keys it knows; an unknown key fails it.

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mailseal::test {

struct VecRecord {
  std::string section;
  int line = 0;  // where the record starts, for failure messages
  std::map<std::string, std::string> values;

  const std::string& get(const std::string& key) const;
  bool has(const std::string& key) const { return values.count(key) != 0; }
};

std::vector<VecRecord> read_vec_file(const std::filesystem::path& path);

// Fails the current test if a record uses a key outside `known`.
void expect_only_keys(const VecRecord& record, const std::set<std::string>& known);

// The folder holding the vectors, set by CMake.
std::filesystem::path vectors_dir();

}  // namespace mailseal::test
