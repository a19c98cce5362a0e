// The key service's pages (service/internal/pages.h) as rendered: hostile
// names and queries escaped once, the strict Content-Security-Policy, the
// inline stylesheet's hash, and the query string's decoding.
// tests/service/web_pages.py loads the same pages in headless Chromium.

#include <openssl/sha.h>

#include <gtest/gtest.h>

#include "mailseal/common/base64.h"
#include "service/internal/pages.h"

namespace mailseal::service {
namespace {

std::string header(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name)
      return value;
  }
  return "";
}

TEST(ServicePages, TheStylesheetIsAllowedByItsHashAndNothingElseIs) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(pages::kStylesheet.data()), pages::kStylesheet.size(), digest);
  const std::string hash = "'sha256-" + encode_base64(ByteView(digest, sizeof digest)) + "'";
  EXPECT_EQ(pages::kStyleHash, hash);
  HttpResponse home = pages::home();
  const std::string policy = header(home, "Content-Security-Policy");
  EXPECT_EQ(policy, pages::kSecurityPolicy);
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(policy.find("style-src " + hash + ";"), std::string::npos);
  EXPECT_EQ(policy.find("script-src"), std::string::npos);
  EXPECT_EQ(policy.find("unsafe"), std::string::npos);
  EXPECT_EQ(header(home, "X-Frame-Options"), "DENY");
  EXPECT_EQ(header(home, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(home.content_type, "text/html; charset=utf-8");
  EXPECT_NE(home.body.find("<style>" + std::string(pages::kStylesheet) + "</style>"), std::string::npos);
  EXPECT_NE(home.body.find("name=\"viewport\""), std::string::npos);
  EXPECT_NE(home.body.find("<form method=\"get\" action=\"/lookup\">"), std::string::npos);
  EXPECT_EQ(home.body.find("<script"), std::string::npos);
  EXPECT_EQ(home.body.find("http"), std::string::npos) << "no external assets, no absolute links";
}

TEST(ServicePages, HostileNamesAndQueriesAreEscapedOnce) {
  pages::ProfileView view{"\"><script>alert(1)</script>@example.com",
                          "Mallory <img src=x onerror=alert(1)> & Co",
                          "ABCD-\"EFGH",
                          {"a&b@example.com"},
                          {"a&b@mm--<x>.example.com"},
                          false};
  HttpResponse shown = pages::profile(view);
  EXPECT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find("<script"), std::string::npos);
  EXPECT_EQ(shown.body.find("<img"), std::string::npos);
  EXPECT_NE(shown.body.find("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@example.com"), std::string::npos);
  EXPECT_NE(shown.body.find("Mallory &lt;img src=x onerror=alert(1)&gt; &amp; Co"), std::string::npos);
  EXPECT_NE(shown.body.find("<li><code>a&amp;b@example.com</code><br>strong: <code class=\"strong\">"
                            "a&amp;b@mm--&lt;x&gt;.example.com</code><br><svg class=\"qr\""),
            std::string::npos)
      << shown.body;
  EXPECT_EQ(shown.body.find("&amp;amp;"), std::string::npos) << "escaped once, not twice";
  // The fingerprint in a link is percent-encoded, then escaped as markup.
  EXPECT_NE(shown.body.find("href=\"/certificates/ABCD-%22EFGH.pem\""), std::string::npos);
  EXPECT_NE(shown.body.find("href=\"/certificates/ABCD-%22EFGH.p7c\""), std::string::npos);
  EXPECT_NE(shown.body.find("Not verified"), std::string::npos);
  EXPECT_NE(shown.body.find("<svg class=\"qr\""), std::string::npos) << "a QR code of the strong address";
  EXPECT_EQ(shown.body.find("http"), std::string::npos) << "no absolute URL, not even a namespace";

  HttpResponse missing = pages::not_found("\"><b>x</b>");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body.find("<b>"), std::string::npos);
  EXPECT_NE(missing.body.find("value=\"&quot;&gt;&lt;b&gt;x&lt;/b&gt;\""), std::string::npos);
  HttpResponse bad = pages::bad_query("<i>");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.find("<i>"), std::string::npos);
  HttpResponse titled = pages::page(200, "<u>title</u>", "<p>ours</p>");
  EXPECT_NE(titled.body.find("<title>&lt;u&gt;title&lt;/u&gt;</title>"), std::string::npos);
  EXPECT_NE(titled.body.find("<p>ours</p>"), std::string::npos);
}

TEST(ServicePages, AVerifiedLookupSaysSoAndAFingerprintLookupSaysNeither) {
  pages::ProfileView view{"alice@example.com", "Alice", "FP", {"alice@example.com"}, {}, true};
  EXPECT_NE(pages::profile(view).body.find("The service proved"), std::string::npos);
  view.verified.reset();
  const std::string body = pages::profile(view).body;
  EXPECT_EQ(body.find("The service proved"), std::string::npos);
  EXPECT_EQ(body.find("Not verified"), std::string::npos);
}

TEST(ServicePages, TheQueryIsDecodedAsAFormSendsIt) {
  EXPECT_EQ(pages::query_parameter("/lookup?q=alice%40example.com", "q"), "alice@example.com");
  EXPECT_EQ(pages::query_parameter("/lookup?x=1&q=a+b%2B&y=2", "q"), "a b+");
  EXPECT_EQ(pages::query_parameter("/lookup?q=", "q"), "");
  EXPECT_EQ(pages::query_parameter("/lookup?q", "q"), "");
  EXPECT_EQ(pages::query_parameter("/lookup", "q"), std::nullopt);
  EXPECT_EQ(pages::query_parameter("/lookup?qq=1", "q"), std::nullopt);
  EXPECT_EQ(pages::query_parameter("/lookup?q=%4", "q"), std::nullopt);
  EXPECT_EQ(pages::query_parameter("/lookup?q=%", "q"), std::nullopt);
  EXPECT_EQ(pages::query_parameter("/lookup?q=%zz", "q"), std::nullopt);
  EXPECT_EQ(pages::query_parameter("/lookup?q=%00", "q"), std::string(1, '\0'));
}

}  // namespace
}  // namespace mailseal::service
