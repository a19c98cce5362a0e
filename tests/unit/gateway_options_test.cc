// The gateway's settings (gateway.h): the defaults `mailseal gateway` starts
// with, and every setting it refuses.

#include <functional>

#include <gtest/gtest.h>

#include "mailseal/common/error.h"
#include "mailseal/common/files.h"
#include "mailseal/common/host_port.h"
#include "mailseal/gateway/gateway.h"
#include "scratch.h"

namespace mailseal::gateway {
namespace {

GatewaySettings relaying_to(std::string upstream) {
  GatewaySettings settings;
  settings.upstream = std::move(upstream);
  return settings;
}

void expect_refused(const GatewaySettings& settings, std::string_view naming) {
  try {
    gateway_options(settings);
    ADD_FAILURE() << "accepted; expected a refusal naming " << naming;
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::Usage) << error.what();
    EXPECT_NE(std::string(error.what()).find(naming), std::string::npos) << error.what();
  }
}

TEST(GatewayOptions, TheDefaults) {
  GatewayOptions options = gateway_options(relaying_to("smtp.example.com:587"));
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.port, 10587);
  EXPECT_EQ(options.upstream.host, "smtp.example.com");
  EXPECT_EQ(options.upstream.port, 587);
  EXPECT_EQ(options.upstream.tls, UpstreamTls::None);
  EXPECT_FALSE(options.upstream.ca_file);
  EXPECT_EQ(options.policy, EncryptionPolicy::Opportunistic);
  EXPECT_FALSE(options.tls_certificate);
  EXPECT_FALSE(options.tls_key);
  EXPECT_EQ(options.max_message_size, 25u * 1024 * 1024);
  EXPECT_EQ(options.timeout, std::chrono::seconds(300));
  EXPECT_EQ(options.refresh_interval, std::chrono::seconds(3600));
  // The options a program builds itself start from the same limits.
  GatewayOptions plain;
  EXPECT_EQ(plain.max_message_size, options.max_message_size);
  EXPECT_EQ(plain.timeout, options.timeout);
  EXPECT_EQ(plain.refresh_interval, options.refresh_interval);
}

TEST(GatewayOptions, EverySettingIsTaken) {
  GatewaySettings settings = relaying_to("mail.example.org:465");
  settings.listen = "127.0.0.1:0";
  settings.upstream_tls = "tls";
  settings.upstream_ca = "/etc/ca.pem";
  settings.policy = "required";
  settings.tls_certificate = "cert.pem";
  settings.tls_key = "key.pem";
  settings.max_size = kMinMessageSize;
  settings.timeout = 1;
  settings.refresh = 0;
  GatewayOptions options = gateway_options(settings);
  EXPECT_EQ(options.port, 0);
  EXPECT_EQ(options.upstream.port, 465);
  EXPECT_EQ(options.upstream.tls, UpstreamTls::Tls);
  EXPECT_EQ(options.upstream.ca_file, std::filesystem::path("/etc/ca.pem"));
  EXPECT_EQ(options.policy, EncryptionPolicy::Required);
  EXPECT_EQ(options.tls_certificate, std::filesystem::path("cert.pem"));
  EXPECT_EQ(options.tls_key, std::filesystem::path("key.pem"));
  EXPECT_EQ(options.max_message_size, kMinMessageSize);
  EXPECT_EQ(options.timeout, std::chrono::seconds(1));
  EXPECT_EQ(options.refresh_interval, std::chrono::seconds(0));
  settings.upstream_tls = "starttls";
  EXPECT_EQ(gateway_options(settings).upstream.tls, UpstreamTls::StartTls);
}

TEST(GatewayOptions, RefusesWhatCannotWork) {
  struct Case {
    std::function<void(GatewaySettings&)> change;
    std::string_view naming;
  };
  const Case cases[] = {
      {[](GatewaySettings& s) { s.upstream = ""; }, "HOST:PORT"},
      {[](GatewaySettings& s) { s.upstream = "no-port"; }, "HOST:PORT"},
      {[](GatewaySettings& s) { s.listen = "nowhere"; }, "HOST:PORT"},
      {[](GatewaySettings& s) { s.upstream_tls = "ssl"; }, "TLS mode 'ssl' for --upstream-tls"},
      {[](GatewaySettings& s) { s.policy = "always"; }, "policy"},
      {[](GatewaySettings& s) { s.tls_certificate = "cert.pem"; }, "--tls-cert and --tls-key"},
      {[](GatewaySettings& s) { s.tls_key = "key.pem"; }, "--tls-cert and --tls-key"},
      {[](GatewaySettings& s) { s.max_size = kMinMessageSize - 1; }, "--max-size"},
      {[](GatewaySettings& s) { s.timeout = 0; }, "--timeout"},
      {[](GatewaySettings& s) { s.refresh = -1; }, "--refresh"},
      {[](GatewaySettings& s) { s.listen = "0.0.0.0:10587"; }, "not a loopback address"},
      {[](GatewaySettings& s) { s.listen = "192.0.2.1:10587"; }, "need TLS"},
      {[](GatewaySettings& s) { s.auth_timeout = 0; }, "--auth-timeout"},
      {[](GatewaySettings& s) { s.max_sessions_per_client = 0; }, "--max-per-client"},
      {[](GatewaySettings& s) { s.upstream_user = "alice"; }, "--upstream-password-file"},
      {[](GatewaySettings& s) { s.upstream_password_file = "/nonexistent"; }, "--upstream-user"},
      {[](GatewaySettings& s) {
         s.upstream_user = "alice";
         s.upstream_password_file = "/nonexistent/password";
       },
       "in clear"},
      {[](GatewaySettings& s) {
         s.upstream_user = "alice";
         s.upstream_password_file = "/nonexistent/password";
         s.upstream_tls = "starttls";
       },
       "cannot read --upstream-password-file"},
  };
  for (const Case& refused : cases) {
    GatewaySettings settings = relaying_to("smtp.example.com:587");
    refused.change(settings);
    expect_refused(settings, refused.naming);
  }
}

TEST(GatewayOptions, TheUpstreamPasswordFileMustBePrivate) {
  test::ScratchDirectory scratch;
  const auto file = scratch / "password";
  write_file_atomic(file, as_bytes("correct horse\n"), FileMode::Private);
  GatewaySettings settings = relaying_to("127.0.0.1:587");
  settings.upstream_user = "alice";
  settings.upstream_password_file = file.string();
  GatewayOptions options = gateway_options(settings);
  EXPECT_EQ(options.upstream.user, "alice");
  EXPECT_EQ(options.upstream.password.view(), "correct horse");
  std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  expect_refused(settings, "readable by group or others");
}

TEST(GatewayOptions, ExposureDefaults) {
  GatewayOptions options = gateway_options(relaying_to("smtp.example.com:587"));
  EXPECT_EQ(options.auth_timeout, std::chrono::seconds(30));
  EXPECT_EQ(options.max_sessions_per_client, 8u);
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.4.5.6"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  GatewaySettings exposed = relaying_to("smtp.example.com:587");
  exposed.listen = "0.0.0.0:10587";
  exposed.tls_certificate = "cert.pem";
  exposed.tls_key = "key.pem";
  EXPECT_EQ(gateway_options(exposed).host, "0.0.0.0");
}

}  // namespace
}  // namespace mailseal::gateway
