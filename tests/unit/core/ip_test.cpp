// The one CIDR matcher behind server.trusted_proxies and metrics.allow.
#include "twostep/core/ip.hpp"

#include <gtest/gtest.h>

namespace twostep::core {
namespace {

IpRanges ranges(const std::vector<std::string>& entries) {
  auto r = IpRanges::parse(entries, "test.key");
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r.value_or(IpRanges{});
}

TEST(IpRangesTest, Ipv4RangesAndSingleAddresses) {
  auto r = ranges({"10.0.0.0/8", "192.0.2.7", "198.51.100.0/24"});
  EXPECT_TRUE(r.contains("10.0.0.0"));
  EXPECT_TRUE(r.contains("10.255.255.255"));
  EXPECT_FALSE(r.contains("11.0.0.0"));
  EXPECT_FALSE(r.contains("9.255.255.255"));
  EXPECT_TRUE(r.contains("192.0.2.7"));
  EXPECT_FALSE(r.contains("192.0.2.8"));
  EXPECT_TRUE(r.contains("198.51.100.200"));
  EXPECT_FALSE(r.contains("198.51.101.1"));
}

TEST(IpRangesTest, PrefixNotOnAByteBoundary) {
  auto r = ranges({"172.16.0.0/12", "2001:db8:8000::/33"});
  EXPECT_TRUE(r.contains("172.31.255.255"));
  EXPECT_FALSE(r.contains("172.32.0.0"));
  EXPECT_FALSE(r.contains("172.15.255.255"));
  EXPECT_TRUE(r.contains("2001:db8:ffff::1"));
  EXPECT_FALSE(r.contains("2001:db8:7fff::1"));
}

TEST(IpRangesTest, Slash32AndSlash128AreOneAddress) {
  auto r = ranges({"203.0.113.9/32", "2001:db8::1/128"});
  EXPECT_TRUE(r.contains("203.0.113.9"));
  EXPECT_FALSE(r.contains("203.0.113.8"));
  EXPECT_FALSE(r.contains("203.0.113.10"));
  EXPECT_TRUE(r.contains("2001:db8::1"));
  EXPECT_TRUE(r.contains("2001:DB8:0:0:0:0:0:1"));
  EXPECT_FALSE(r.contains("2001:db8::2"));
}

TEST(IpRangesTest, Ipv6Ranges) {
  auto r = ranges({"fd00::/8", "::1/128"});
  EXPECT_TRUE(r.contains("fd12:3456::1"));
  EXPECT_FALSE(r.contains("fe80::1"));
  EXPECT_TRUE(r.contains("::1"));
  EXPECT_TRUE(r.contains("[::1]"));
  EXPECT_FALSE(r.contains("::2"));
  EXPECT_FALSE(r.contains("127.0.0.1"));  // IPv6 loopback is not IPv4 loopback
}

TEST(IpRangesTest, Ipv4MappedIpv6IsTheIpv4Address) {
  auto r = ranges({"127.0.0.0/8"});
  EXPECT_TRUE(r.contains("::ffff:127.0.0.1"));
  EXPECT_TRUE(r.contains("::ffff:7f00:2"));
  EXPECT_FALSE(r.contains("::ffff:128.0.0.1"));
  // A range written as IPv6 counts its prefix in IPv6 bits, and covers IPv4 text too.
  auto mapped = ranges({"::ffff:10.0.0.0/104"});
  EXPECT_TRUE(mapped.contains("10.9.8.7"));
  EXPECT_FALSE(mapped.contains("11.0.0.1"));
  auto all_v4 = ranges({"::ffff:0:0/96"});
  EXPECT_TRUE(all_v4.contains("8.8.8.8"));
  EXPECT_FALSE(all_v4.contains("2001:db8::1"));
}

TEST(IpRangesTest, SlashZero) {
  auto v4 = ranges({"0.0.0.0/0"});
  EXPECT_TRUE(v4.contains("1.2.3.4"));
  EXPECT_TRUE(v4.contains("255.255.255.255"));
  EXPECT_FALSE(v4.contains("2001:db8::1"));  // every IPv4 address, not every address
  auto all = ranges({"::/0"});
  EXPECT_TRUE(all.contains("1.2.3.4"));
  EXPECT_TRUE(all.contains("2001:db8::1"));
  EXPECT_FALSE(all.contains("not an address"));
}

TEST(IpRangesTest, HostBitsInTheRangeAreIgnored) {
  auto r = ranges({"10.1.2.3/8"});
  EXPECT_TRUE(r.contains("10.200.0.1"));
}

TEST(IpRangesTest, EmptyListMatchesNothing) {
  auto r = ranges({});
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.contains("127.0.0.1"));
  EXPECT_FALSE(ranges({"127.0.0.1"}).empty());
}

TEST(IpRangesTest, BlanksAroundEntriesAndAddresses) {
  auto r = ranges({" 10.0.0.0/8\t"});
  EXPECT_TRUE(r.contains(" 10.1.1.1 "));
}

TEST(IpRangesTest, MalformedEntriesAreErrorsNamingKeyAndEntry) {
  const char* bad[] = {"",
                       "nginx",
                       "localhost",
                       "10.0.0.0/",
                       "10.0.0.0/x",
                       "10.0.0.0/-1",
                       "10.0.0.0/+8",
                       "10.0.0.0/33",
                       "::/129",
                       "10.0.0.0/0008",
                       "10.0.0/8",
                       "1.2.3.4.5",
                       "256.0.0.1",
                       "10.0.0.0/8/8",
                       "fe80::1%eth0",
                       "2001:db8::/64 x",
                       "/8",
                       "::ffff:1.2.3.4/33x",
                       "1.2.3.4 /8"};
  for (const char* e : bad) {
    auto r = IpRanges::parse({"127.0.0.1", e}, "metrics.allow");
    ASSERT_FALSE(r) << "accepted '" << e << "'";
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().reason, "invalid_config");
    EXPECT_NE(r.error().message.find("metrics.allow"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(std::string("'") + e + "'"), std::string::npos)
        << r.error().message;
  }
}

TEST(IpRangesTest, ContainsRefusesWhatIsNotAnAddress) {
  auto r = ranges({"::/0"});
  for (const char* s : {"", "unix:/run/x.sock", "1.2.3", "[::1", "::1]", "1.2.3.4:80", "::1/128"}) {
    EXPECT_FALSE(r.contains(s)) << s;
  }
}

TEST(IpRangesTest, CanonicalIp) {
  EXPECT_EQ(canonical_ip("::ffff:1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(canonical_ip("[::1]"), "::1");
  EXPECT_EQ(canonical_ip("[2001:DB8::1]"), "2001:db8::1");
  EXPECT_EQ(canonical_ip("\t10.0.0.1 "), "10.0.0.1");
  EXPECT_FALSE(canonical_ip(""));
  EXPECT_FALSE(canonical_ip("   "));
  EXPECT_FALSE(canonical_ip("1.2.3"));
  EXPECT_FALSE(canonical_ip("example.com"));
  EXPECT_FALSE(canonical_ip("10.0.0.0/8"));
}

}  // namespace
}  // namespace twostep::core
