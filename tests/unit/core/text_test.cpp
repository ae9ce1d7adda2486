#include "twostep/core/text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace twostep::core {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(DisplayTextTest, ValidUtf8IsKeptExactly) {
  const std::string text = "Mozilla/5.0 \xE2\x80\x94 caf\xC3\xA9 \xF0\x9F\x94\x91 \"quoted\"\t\\";
  EXPECT_EQ(display_text(text), text);
  EXPECT_EQ(display_text(""), "");
}

TEST(DisplayTextTest, EveryInvalidByteBecomesOneReplacementCharacter) {
  EXPECT_EQ(display_text("\xE9t\xE9"), kReplacement + "t" + kReplacement);  // Latin-1
  EXPECT_EQ(display_text("\xFF\xFE"), kReplacement + kReplacement);
  EXPECT_EQ(display_text("\xE2\x82"), kReplacement + kReplacement);         // cut mid-character
  EXPECT_EQ(display_text("\xC0\xAF"), kReplacement + kReplacement);         // overlong '/'
  EXPECT_EQ(display_text("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // surrogate
  EXPECT_EQ(display_text("\xF4\x90\x80\x80").size(), 4 * kReplacement.size());  // > U+10FFFF
  EXPECT_EQ(display_text(std::string("a\0b", 3)), "a" + kReplacement + "b");      // NUL
}

}  // namespace
}  // namespace twostep::core
