#include "twostep/factors/recovery.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace twostep::factors {
namespace {

TEST(RecoveryTest, CodesHaveTheShownFormat) {
  const auto codes = generate_recovery_codes();
  ASSERT_EQ(codes.size(), 10u);
  const std::regex format("[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}");
  for (const auto& c : codes) {
    EXPECT_TRUE(std::regex_match(c, format)) << c;
    EXPECT_EQ(normalize_recovery_code(c).value_or("").size(), 16u);
  }
  EXPECT_EQ(generate_recovery_codes(3).size(), 3u);
  EXPECT_TRUE(generate_recovery_codes(0).empty());
  EXPECT_TRUE(generate_recovery_codes(-1).empty());
}

TEST(RecoveryTest, CodesAreUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    for (auto& c : generate_recovery_codes()) seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RecoveryTest, UsesTheWholeAlphabet) {
  std::set<char> chars;
  for (int i = 0; i < 20; ++i) {
    for (auto& c : generate_recovery_codes()) {
      for (char ch : c) chars.insert(ch);
    }
  }
  chars.erase('-');
  EXPECT_EQ(chars.size(), 32u);
}

TEST(RecoveryTest, NormalizeAcceptsDashesSpacesAndUpperCase) {
  const std::string canonical = "abcd2345efgh6723";
  EXPECT_EQ(normalize_recovery_code("abcd-2345-efgh-6723"), canonical);
  EXPECT_EQ(normalize_recovery_code("abcd2345efgh6723"), canonical);
  EXPECT_EQ(normalize_recovery_code("ABCD-2345-EFGH-6723"), canonical);
  EXPECT_EQ(normalize_recovery_code(" abcd 2345 efgh 6723 "), canonical);
  EXPECT_EQ(normalize_recovery_code("ab-cd23--45efgh6723"), canonical);
}

TEST(RecoveryTest, NormalizeRejectsBadInput) {
  EXPECT_EQ(normalize_recovery_code(""), std::nullopt);
  EXPECT_EQ(normalize_recovery_code("----"), std::nullopt);
  EXPECT_EQ(normalize_recovery_code("abcd-2345-efgh-672"), std::nullopt);    // 15 chars
  EXPECT_EQ(normalize_recovery_code("abcd-2345-efgh-67234"), std::nullopt);  // 17 chars
  EXPECT_EQ(normalize_recovery_code("abcd-2345-efgh-6781"), std::nullopt);   // 8 and 1
  EXPECT_EQ(normalize_recovery_code("abcd-2345-efgh-672\xc3"), std::nullopt);
  EXPECT_EQ(normalize_recovery_code("abcd_2345_efgh_6723"), std::nullopt);
  EXPECT_EQ(normalize_recovery_code(std::string("abcd2345efgh672\0", 16)), std::nullopt);
  EXPECT_EQ(normalize_recovery_code(std::string(10000, 'a')), std::nullopt);
}

}  // namespace
}  // namespace twostep::factors
