// The command line defines only the groups of commands a command line names
// (src/cli/app.cc): each command must still be defined whenever it is named.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "cli/app.h"

namespace mailseal::cli {
namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::ranges::find(names, name) != names.end();
}

TEST(CommandLine, WordsNamingNoCommandDefineEveryCommand) {
  const std::vector<std::string> every = commands_defined_for({});
  EXPECT_GE(every.size(), 25u);
  for (const char* command : {"init", "sign", "encrypt", "serve", "gateway", "device", "udf", "resident"})
    EXPECT_TRUE(contains(every, command)) << command;
  const std::vector<std::string_view> options_only{"--home", "/tmp/x", "--json"};
  EXPECT_EQ(commands_defined_for(options_only), every);
}

TEST(CommandLine, EveryCommandIsDefinedWhenACommandLineNamesIt) {
  for (const std::string& command : commands_defined_for({})) {
    const std::vector<std::string_view> words{"--home", "/tmp/x", command, "--json"};
    EXPECT_TRUE(contains(commands_defined_for(words), command)) << command;
  }
}

TEST(CommandLine, AMessageCommandDefinesOnlyItsGroup) {
  const std::vector<std::string_view> words{"encrypt", "--to", "bob@example.org", "message.eml"};
  EXPECT_EQ(commands_defined_for(words), (std::vector<std::string>{"sign", "encrypt", "decrypt", "verify"}));
}

TEST(CommandLine, EveryCommandAWordNamesIsDefinedWhateverItsPlace) {
  // "init" here is the value of --home, yet it brings its group: the parse
  // sees every command the full command line would have.
  const std::vector<std::string_view> words{"--home", "init", "verify", "signed.eml"};
  const std::vector<std::string> defined = commands_defined_for(words);
  EXPECT_TRUE(contains(defined, "init"));
  EXPECT_TRUE(contains(defined, "verify"));
  EXPECT_FALSE(contains(defined, "serve"));
}

// The resident process's children parse with definitions built before they
// were forked: each must hold what `run(argc, argv)` would have defined.
TEST(PreparedCommandLines, GiveEachCommandLineTheDefinitionsItWouldHaveAlone) {
  const std::vector<std::string_view> prepared_for{"sign", "trust", "udf"};
  PreparedCommandLines prepared(prepared_for);
  const std::vector<std::vector<std::string>> command_lines{
      {"mailseal", "sign"},
      {"mailseal", "--home", "/tmp/x", "encrypt", "--to", "bob@example.org"},
      {"mailseal", "trust", "bob@example.org"},
      {"mailseal", "udf", "--bits", "100"},
      {"mailseal", "--home", "init", "verify", "signed.eml"},  // two groups: built for it
      {"mailseal", "status"},                                  // a group not prepared
      {"mailseal", "--json"},                                  // no command: every one
  };
  for (const auto& command_line : command_lines) {
    std::vector<std::string> arguments = command_line;
    std::vector<char*> argv;
    for (auto& argument : arguments)
      argv.push_back(argument.data());
    const std::vector<std::string_view> words(command_line.begin() + 1, command_line.end());
    EXPECT_EQ(commands_defined_in(prepared.for_command_line(static_cast<int>(argv.size()), argv.data())),
              commands_defined_for(words))
        << command_line.back();
  }
}

TEST(PreparedCommandLines, AGroupPreparedIsBuiltOnceAndNotAgain) {
  const std::vector<std::string_view> prepared_for{"sign"};
  PreparedCommandLines prepared(prepared_for);
  std::string program = "mailseal", sign = "sign", verify = "verify";
  std::vector<char*> signing{program.data(), sign.data()};
  std::vector<char*> verifying{program.data(), verify.data()};
  EXPECT_EQ(&prepared.for_command_line(2, signing.data()), &prepared.for_command_line(2, verifying.data()))
      << "sign and verify are one group: the same prepared definitions";
}

}  // namespace
}  // namespace mailseal::cli
