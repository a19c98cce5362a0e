#include "test_support.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace mailseal::test {

TemporaryProfile::TemporaryProfile(const std::string& name, const std::string& address) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  home_ = std::filesystem::temp_directory_path() / ("mailseal-" + std::string(test->test_suite_name()) + "-" +
                                                    test->name() + "-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(home_);
  profile::InitOptions options;
  options.addresses = {EmailAddress::parse(address)};
  options.suite = store::Suite::Modern;
  options.device_name = name;
  profile_.emplace(profile::Profile::create(home_, options, mailseal::now()));
}

TemporaryProfile::~TemporaryProfile() {
  profile_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(home_, ignored);
}

ErrorCode error_code_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::Internal;
}

}  // namespace mailseal::test
