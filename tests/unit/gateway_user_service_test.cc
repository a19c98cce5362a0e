// The gateway as a systemd user unit (gateway/user_service.h): how words are
// quoted for systemd, what the unit holds, and what it refuses. That systemd
// itself reads the unit as meant (systemd-analyze verify, the command line
// run as systemd runs it) is tests/gateway/user_service.py.

#include <filesystem>
#include <functional>
#include <sstream>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/gateway/user_service.h"

namespace mailseal::gateway {
namespace {

// A home no shell, no printf and no unit file takes as it is: a space, a
// specifier, quotes of both kinds, an environment variable, a backslash and
// a non-ASCII letter.
constexpr std::string_view kHostileHome = "/home/a b/%h \"q\" 'p' $HOME ${USER} \\x\\n é/.mailseal";

UserService service_at(std::string home) {
  UserService service;
  service.executable = "/usr/bin/mailseal";
  service.home = std::move(home);
  service.settings.upstream = "smtp.example.com:587";
  service.settings.upstream_tls = "starttls";
  return service;
}

// The line of `text` that starts with `key=`, without it.
std::string unit_value(const std::string& text, std::string_view key) {
  const std::string prefix = "\n" + std::string(key) + "=";
  const auto at = text.find(prefix);
  if (at == std::string::npos)
    return {};
  const auto start = at + prefix.size();
  return text.substr(start, text.find('\n', start) - start);
}

void expect_usage_error(const std::function<void()>& action, std::string_view naming) {
  try {
    action();
    ADD_FAILURE() << "accepted; expected Error(Usage) naming " << naming;
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Usage) << error.what();
    EXPECT_NE(std::string(error.what()).find(naming), std::string::npos) << error.what();
  }
}

TEST(GatewayUserService, QuotesEachCharacterSystemdReadsSpecially) {
  EXPECT_EQ(systemd_quote("/plain/path", UnitWord::Argument), "\"/plain/path\"");
  EXPECT_EQ(systemd_quote("a b", UnitWord::Path), "\"a b\"");
  EXPECT_EQ(systemd_quote("50%h", UnitWord::Argument), "\"50%%h\"");
  EXPECT_EQ(systemd_quote("say \"hi\"", UnitWord::Path), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(systemd_quote("back\\slash", UnitWord::Argument), "\"back\\\\slash\"");
  EXPECT_EQ(systemd_quote("it's", UnitWord::Argument), "\"it's\"");
  // '$' is expanded in command lines only; in a path list it is itself.
  EXPECT_EQ(systemd_quote("$HOME", UnitWord::Argument), "\"$$HOME\"");
  EXPECT_EQ(systemd_quote("$HOME", UnitWord::Path), "\"$HOME\"");
  EXPECT_EQ(systemd_quote("é", UnitWord::Path), "\"é\"");
  // The executable is not expanded: '$' stays; '%' is still a specifier.
  EXPECT_EQ(systemd_quote("/opt/a b/$HOME/50%/mailseal", UnitWord::Executable), "\"/opt/a b/$HOME/50%%/mailseal\"");
}

TEST(GatewayUserService, RefusesWhatAUnitFileCannotCarry) {
  // A newline would end the line: the rest would be a directive of its own.
  expect_usage_error([] { systemd_quote("/home/x\nExecStartPre=/bin/rm -rf /", UnitWord::Argument); },
                     "control character");
  expect_usage_error([] { systemd_quote(std::string("/home/\x01x"), UnitWord::Path); }, "control character");
  expect_usage_error([] { systemd_quote("/home/\xff\xfe", UnitWord::Path); }, "UTF-8");
  expect_usage_error([] { systemd_quote("/home/\xc0\xaf", UnitWord::Path); }, "UTF-8");          // overlong '/'
  expect_usage_error([] { systemd_quote("/home/\xed\xa0\x80", UnitWord::Path); }, "UTF-8");      // a surrogate
  expect_usage_error([] { systemd_quote("/home/\xf4\x90\x80\x80", UnitWord::Path); }, "UTF-8");  // above U+10FFFF
  expect_usage_error([] { systemd_quote("/home/\xc3", UnitWord::Path); }, "UTF-8");              // cut short
  EXPECT_EQ(systemd_quote("/home/\xf0\x9f\x93\xa7", UnitWord::Path), "\"/home/\xf0\x9f\x93\xa7\"");
  expect_usage_error([] { user_unit(service_at("/home/a\rb")); }, "control character");
  // systemd refuses quotes and backslashes in an executable, escaped or not.
  for (std::string program : {"/opt/it's/mailseal", "/opt/\"q\"/mailseal", "/opt/back\\slash/mailseal"}) {
    UserService service = service_at("/home/alice/store");
    service.executable = program;
    expect_usage_error([&] { user_unit(service); }, "refuses in an executable");
  }
}

TEST(GatewayUserService, TheUnitRunsTheGatewayOnTheHostileHome) {
  UserUnit unit = user_unit(service_at(std::string(kHostileHome)));
  const std::string quoted_home = systemd_quote(kHostileHome, UnitWord::Argument);
  EXPECT_EQ(unit_value(unit.text, "ExecStart"),
            "\"/usr/bin/mailseal\" \"--home\" " + quoted_home +
                " \"gateway\" \"--listen\" \"127.0.0.1:10587\" \"--upstream\" \"smtp.example.com:587\" "
                "\"--upstream-tls\" \"starttls\"");
  EXPECT_NE(quoted_home.find("%%h"), std::string::npos);
  EXPECT_NE(quoted_home.find("$$HOME"), std::string::npos);
  EXPECT_NE(quoted_home.find("\\\"q\\\""), std::string::npos);
  EXPECT_NE(quoted_home.find("\\\\x\\\\n"), std::string::npos);
  EXPECT_EQ(unit_value(unit.text, "ReadWritePaths"), systemd_quote(kHostileHome, UnitWord::Path));
  // Every line is a section, a comment, empty, or KEY=VALUE: nothing the
  // path carried started a line of its own.
  std::istringstream lines(unit.text);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(line.empty() || line[0] == '#' || line[0] == '[' ||
                line.find_first_of("=") < line.find_first_of(" \"%$"))
        << line;
  }
}

TEST(GatewayUserService, RestartsLogsToTheJournalAndIsSandboxed) {
  UserUnit unit = user_unit(service_at("/home/alice/.local/share/mailseal"));
  EXPECT_TRUE(unit.notes.empty());
  EXPECT_EQ(unit_value(unit.text, "Type"), "exec");
  EXPECT_EQ(unit_value(unit.text, "Restart"), "on-failure");
  EXPECT_EQ(unit_value(unit.text, "StandardError"), "journal");
  EXPECT_EQ(unit_value(unit.text, "WantedBy"), "default.target");
  EXPECT_EQ(unit_value(unit.text, "NoNewPrivileges"), "yes");
  EXPECT_EQ(unit_value(unit.text, "PrivateTmp"), "yes");
  EXPECT_EQ(unit_value(unit.text, "ProtectSystem"), "strict");
  EXPECT_EQ(unit_value(unit.text, "ProtectHome"), "read-only");
  EXPECT_EQ(unit_value(unit.text, "ReadWritePaths"), "\"/home/alice/.local/share/mailseal\"");
  EXPECT_EQ(unit_value(unit.text, "UMask"), "0077");
}

TEST(GatewayUserService, NoPrivateTmpWhenTheGatewayReadsFromATemporaryDirectory) {
  UserUnit unit = user_unit(service_at("/tmp/test-home"));
  EXPECT_EQ(unit_value(unit.text, "PrivateTmp"), "");
  ASSERT_EQ(unit.notes.size(), 1u);
  EXPECT_NE(unit.notes[0].find("/tmp/test-home"), std::string::npos);
  UserService service = service_at("/home/alice/store");
  service.passphrase_file = "/var/tmp/passphrase";
  EXPECT_EQ(unit_value(user_unit(service).text, "PrivateTmp"), "");
  service.passphrase_file = "/tmpfiles/passphrase";  // not a temporary directory
  EXPECT_EQ(unit_value(user_unit(service).text, "PrivateTmp"), "yes");
}

TEST(GatewayUserService, TheCommandCarriesTheSettingsThatAreNotDefaults) {
  UserService service = service_at("relative/store");
  service.passphrase_file = "relative/passphrase";
  service.settings.policy = "required";
  service.settings.refresh = 600;
  service.settings.upstream_ca = "ca.pem";
  std::vector<std::string> command = user_service_command(service);
  const std::string cwd = std::filesystem::current_path().string();
  std::vector<std::string> expected = {"/usr/bin/mailseal",
                                       "--home",
                                       cwd + "/relative/store",
                                       "--passphrase-file",
                                       cwd + "/relative/passphrase",
                                       "gateway",
                                       "--listen",
                                       "127.0.0.1:10587",
                                       "--upstream",
                                       "smtp.example.com:587",
                                       "--upstream-tls",
                                       "starttls",
                                       "--upstream-ca",
                                       cwd + "/ca.pem",
                                       "--policy",
                                       "required",
                                       "--refresh",
                                       "600"};
  EXPECT_EQ(command, expected);
}

TEST(GatewayUserService, RefusesSettingsTheGatewayWouldRefuseAtItsFirstStart) {
  UserService service = service_at("/home/alice/store");
  service.settings.listen = "127.0.0.1:0";
  expect_usage_error([&] { user_unit(service); }, "fixed port");
  service.settings.listen = "0.0.0.0:10587";  // off loopback without TLS
  expect_usage_error([&] { user_unit(service); }, "--listen");
  service = service_at("/home/alice/store");
  service.settings.upstream_tls = "sometimes";
  expect_usage_error([&] { user_unit(service); }, "--upstream-tls");
  service = service_at("/home/alice/store");
  service.settings.upstream = "no-port";
  expect_usage_error([&] { user_unit(service); }, "no-port");
}

}  // namespace
}  // namespace mailseal::gateway
