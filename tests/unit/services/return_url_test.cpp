#include "twostep/services/return_url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace twostep::services {
namespace {

core::Config config(std::string public_url, std::string cookie_domain = "") {
  core::Config c;
  c.server.public_url = std::move(public_url);
  c.sessions.cookie_domain = std::move(cookie_domain);
  return c;
}

TEST(ReturnUrlTest, PathsOnThisServerAreSafe) {
  auto c = config("https://id.example.com");
  EXPECT_EQ(*safe_return_url(c, "/account"), "/account");
  EXPECT_EQ(*safe_return_url(c, "/security?x=1#y"), "/security?x=1#y");
  EXPECT_FALSE(safe_return_url(c, "//evil.example.net/"));
  EXPECT_FALSE(safe_return_url(c, "/\\evil.example.net"));
  EXPECT_FALSE(safe_return_url(c, ""));
}

TEST(ReturnUrlTest, PublicHostOnly) {
  auto c = config("https://id.example.com");
  EXPECT_TRUE(safe_return_url(c, "https://id.example.com/x"));
  EXPECT_TRUE(safe_return_url(c, "https://ID.Example.COM:8443/x"));
  EXPECT_TRUE(safe_return_url(c, "HTTPS://id.example.com"));
  EXPECT_FALSE(safe_return_url(c, "https://app.example.com/"));
  EXPECT_FALSE(safe_return_url(c, "https://evil.example.net/"));
  EXPECT_FALSE(safe_return_url(c, "https://id.example.com.evil.net/"));
}

TEST(ReturnUrlTest, CookieDomainAndItsSubdomains) {
  for (const char* domain : {".example.com", "example.com", "EXAMPLE.com"}) {
    auto c = config("https://id.example.com", domain);
    EXPECT_TRUE(safe_return_url(c, "https://dav.example.com/files/a?b=c&d=e")) << domain;
    EXPECT_TRUE(safe_return_url(c, "https://example.com/")) << domain;
    EXPECT_TRUE(safe_return_url(c, "https://a.b.example.com/")) << domain;
    EXPECT_FALSE(safe_return_url(c, "https://badexample.com/")) << domain;
    EXPECT_FALSE(safe_return_url(c, "https://example.com.evil.net/")) << domain;
    EXPECT_FALSE(safe_return_url(c, "https://evil.net/?u=https://dav.example.com")) << domain;
  }
}

TEST(ReturnUrlTest, TricksAreRefused) {
  auto c = config("https://id.example.com", ".example.com");
  for (const char* url : {
           "https://evil.net@dav.example.com/",    // user-info
           "https://dav.example.com@evil.net/",    // user-info the other way
           "https://dav.example.com\\@evil.net/",  // backslash
           "https://evil.net\\.example.com/",      // backslash
           "javascript:alert(1)",                  // other schemes
           "data:text/html,hi", "ftp://dav.example.com/",
           "https:/dav.example.com/",            // not an absolute URL
           "https://dav.example.com:/",          // empty port
           "https://dav.example.com:99999999/",  // bad port
           "https://dav.example.com:80x/",
           "https://dav.example.com /",   // whitespace
           "https://dav.exa\tmple.com/",  // control character
           "https://dav.example.com\n.evil.net/",
           "https://",                 // no host
           "https://[::1/",            // broken IPv6 literal
           "http://dav.example.com/",  // downgrade from https
       }) {
    EXPECT_FALSE(safe_return_url(c, url)) << url;
  }
  EXPECT_FALSE(safe_return_url(c, "https://dav.example.com/" + std::string(3000, 'a')));
}

TEST(ReturnUrlTest, HttpPublicUrlAllowsHttp) {
  auto c = config("http://127.0.0.1:8080");
  EXPECT_TRUE(safe_return_url(c, "http://127.0.0.1:9999/dav/a.txt"));
  EXPECT_TRUE(safe_return_url(c, "https://127.0.0.1/"));
  EXPECT_FALSE(safe_return_url(c, "http://127.0.0.2/"));
  EXPECT_FALSE(safe_return_url(c, "http://localhost/"));
}

TEST(ReturnUrlTest, SigninUrlEncodesOnlySafeTargets) {
  auto c = config("https://id.example.com/", ".example.com");
  EXPECT_EQ(signin_url(c, ""), "https://id.example.com/login");
  EXPECT_EQ(signin_url(c, "https://evil.net/"), "https://id.example.com/login");
  EXPECT_EQ(signin_url(c, "https://dav.example.com/a b?x=1&y=2"),
            "https://id.example.com/login");  // a space is refused
  EXPECT_EQ(signin_url(c, "https://dav.example.com/a?x=1&y=2"),
            "https://id.example.com/login?rd=https%3A%2F%2Fdav.example.com%2Fa%3Fx%3D1%26y%3D2");
}

}  // namespace
}  // namespace twostep::services
