#include "twostep/http/headers.hpp"

#include <gtest/gtest.h>

namespace twostep::http {
namespace {

TrustedProxies proxies(std::vector<std::string> list) {
  auto p = TrustedProxies::parse(list);
  EXPECT_TRUE(p.has_value());
  return p.value_or(TrustedProxies{});
}

TEST(HeadersTest, SecurityHeadersAddedUnlessSet) {
  Response r = Response::json(200, "{}");
  apply_security_headers(r, false);
  EXPECT_EQ(r.get("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.get("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.get("X-Frame-Options"), "DENY");
  EXPECT_EQ(r.get("Cross-Origin-Opener-Policy"), "same-origin");
  EXPECT_EQ(r.get("Cache-Control"), "no-store");
  ASSERT_TRUE(r.get("Content-Security-Policy"));
  EXPECT_NE(r.get("Content-Security-Policy")->find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_FALSE(r.get("Strict-Transport-Security"));

  Response s = Response::text(200, "x");
  s.set("Cache-Control", "public, max-age=3600");
  apply_security_headers(s, true);
  EXPECT_EQ(s.get("Cache-Control"), "public, max-age=3600");
  EXPECT_EQ(s.get("Strict-Transport-Security"), "max-age=31536000; includeSubDomains");
}

TEST(HeadersTest, ParsesProxyList) {
  EXPECT_TRUE(TrustedProxies::parse({"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"}));
  auto named = TrustedProxies::parse({"nginx"});
  ASSERT_FALSE(named);
  EXPECT_NE(named.error().message.find("server.trusted_proxies"), std::string::npos);
  EXPECT_FALSE(TrustedProxies::parse({"10.0.0.0/33"}));
  EXPECT_FALSE(TrustedProxies::parse({"10.0.0.0/"}));
  EXPECT_FALSE(TrustedProxies::parse({"10.0.0.0/x"}));
}

// The matcher itself is core::IpRanges (tests/unit/core/ip_test.cpp); TrustedProxies uses it.
TEST(HeadersTest, ContainsUsesTheRanges) {
  auto p = proxies({"127.0.0.1", "10.0.0.0/8"});
  EXPECT_TRUE(p.contains("::ffff:127.0.0.1"));
  EXPECT_TRUE(p.contains("10.200.3.4"));
  EXPECT_FALSE(p.contains("127.0.0.2"));
}

TEST(HeadersTest, ForwardedForIgnoredFromUntrustedPeer) {
  auto p = proxies({"10.0.0.1"});
  EXPECT_EQ(p.client_address("192.0.2.7", {"203.0.113.9"}), "192.0.2.7");
  EXPECT_EQ(TrustedProxies{}.client_address("::ffff:192.0.2.7", {"203.0.113.9"}), "192.0.2.7");
}

TEST(HeadersTest, ForwardedForRightMostUntrusted) {
  auto p = proxies({"10.0.0.1", "10.0.0.2"});
  EXPECT_EQ(p.client_address("10.0.0.1", {"203.0.113.9"}), "203.0.113.9");
  // The client forged the left-most entry; the proxies appended the real one.
  EXPECT_EQ(p.client_address("10.0.0.1", {"1.1.1.1, 203.0.113.9, 10.0.0.2"}), "203.0.113.9");
  EXPECT_EQ(p.client_address("10.0.0.1", {"1.1.1.1", "203.0.113.9 , 10.0.0.2"}), "203.0.113.9");
  EXPECT_EQ(p.client_address("10.0.0.1", {"2001:db8::1"}), "2001:db8::1");
  // Only proxies: the left-most.
  EXPECT_EQ(p.client_address("10.0.0.1", {"10.0.0.2"}), "10.0.0.2");
  // No header: the peer.
  EXPECT_EQ(p.client_address("10.0.0.1", {}), "10.0.0.1");
}

TEST(HeadersTest, GarbageForwardedForFallsBack) {
  auto p = proxies({"10.0.0.1"});
  EXPECT_EQ(p.client_address("10.0.0.1", {"<script>"}), "10.0.0.1");
  EXPECT_EQ(p.client_address("10.0.0.1", {""}), "10.0.0.1");
  EXPECT_EQ(p.client_address("10.0.0.1", {"203.0.113.9, junk"}), "10.0.0.1");
}

}  // namespace
}  // namespace twostep::http
