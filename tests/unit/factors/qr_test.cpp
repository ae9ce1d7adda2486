#include "twostep/factors/qr.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace twostep::factors {
namespace {

std::size_t count(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + 1)) ++n;
  return n;
}

TEST(QrTest, SvgHasOnePathQuietZoneAndNoStyle) {
  auto svg = qr_svg(
      "otpauth://totp/Acme%20Co:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Co");
  ASSERT_TRUE(svg) << svg.error().detail;
  EXPECT_EQ(svg->rfind("<svg", 0), 0u);
  EXPECT_EQ(svg->substr(svg->size() - 6), "</svg>");
  EXPECT_EQ(count(*svg, "<path"), 1u);
  EXPECT_EQ(count(*svg, "<rect"), 1u);
  EXPECT_NE(svg->find("shape-rendering=\"crispEdges\""), std::string::npos);
  EXPECT_NE(svg->find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(svg->find("style"), std::string::npos);
  EXPECT_EQ(svg->find("script"), std::string::npos);

  // viewBox = modules + 2 * 4 quiet zone; QR sizes are 21 + 4k modules.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(*svg, m, std::regex("viewBox=\"0 0 (\\d+) (\\d+)\"")));
  const int total = std::stoi(m[1]);
  EXPECT_EQ(m[1], m[2]);
  EXPECT_EQ((total - 8 - 21) % 4, 0) << total;
  // The top-left finder pattern starts right after the quiet zone.
  EXPECT_NE(svg->find("d=\"M4 4h7v1h-7z"), std::string::npos);
}

TEST(QrTest, DifferentTextDifferentCode) {
  auto a = qr_svg("hello");
  auto b = qr_svg("hellp");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(QrTest, EmptyOrTooLongTextIsAnError) {
  auto empty = qr_svg("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, core::Code::kInvalidArgument);
  auto huge = qr_svg(std::string(4000, 'x'));  // above 2331 bytes, version 40 at level M
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, core::Code::kInvalidArgument);
}

TEST(QrTest, BinaryBytesAreEncoded) { EXPECT_TRUE(qr_svg(std::string("\0\xff\x01", 3))); }

}  // namespace
}  // namespace twostep::factors
