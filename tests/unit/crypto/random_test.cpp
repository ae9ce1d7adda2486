#include "twostep/crypto/random.hpp"

#include <gtest/gtest.h>

#include <set>

#include "twostep/crypto/encoding.hpp"

namespace twostep::crypto {
namespace {

TEST(RandomTest, BytesHaveRequestedLengthAndDiffer) {
  EXPECT_EQ(random_bytes(0), "");
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
}

TEST(RandomTest, TokenIsUnpaddedBase64UrlOfRequestedBytes) {
  const std::string t = random_token(32);
  EXPECT_EQ(t.size(), 43u);
  auto raw = base64url_decode(t);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 32u);
  EXPECT_EQ(t.find('='), std::string::npos);
}

TEST(RandomTest, UniformStaysBelowBoundAndCoversIt) {
  std::set<uint32_t> seen;
  for (int i = 0; i < 2000; ++i) {
    uint32_t v = random_uniform(10);
    ASSERT_LT(v, 10u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(random_uniform(1), 0u);
}

}  // namespace
}  // namespace twostep::crypto
