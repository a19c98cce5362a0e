#pragma once
// What unit tests of several parts share: a profile in a temporary home, and
// the code of the error an action throws.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "mailseal/common/error.h"
#include "mailseal/profile/profile.h"

namespace mailseal::test {

// A profile (modern suite, keys not encrypted) in a temporary home named
// after the running test and `name`; the home is removed with it.
class TemporaryProfile {
 public:
  TemporaryProfile(const std::string& name, const std::string& address);
  ~TemporaryProfile();
  TemporaryProfile(const TemporaryProfile&) = delete;
  TemporaryProfile& operator=(const TemporaryProfile&) = delete;

  profile::Profile& operator*() { return *profile_; }
  profile::Profile* operator->() { return &*profile_; }

 private:
  std::filesystem::path home_;
  std::optional<profile::Profile> profile_;
};

// The code of the Error `action` throws; a test failure when it throws none.
ErrorCode error_code_of(const std::function<void()>& action);

}  // namespace mailseal::test
