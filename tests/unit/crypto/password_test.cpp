#include "twostep/crypto/password.hpp"

#include <gtest/gtest.h>

namespace twostep::crypto {
namespace {

// Small cost so the suite stays fast; production defaults are tested by config.
const PasswordParams kFast{8 * 1024, 1};

TEST(PasswordTest, HashVerifies) {
  auto h = hash_password("correct horse battery staple", kFast);
  ASSERT_TRUE(h) << h.error().detail;
  EXPECT_EQ(h->rfind("$argon2id$v=19$m=8192,t=1,p=1$", 0), 0u) << *h;
  EXPECT_TRUE(verify_password(*h, "correct horse battery staple"));
}

TEST(PasswordTest, WrongPasswordFails) {
  auto h = hash_password("correct horse battery staple", kFast);
  ASSERT_TRUE(h);
  EXPECT_FALSE(verify_password(*h, "correct horse battery stapl"));
  EXPECT_FALSE(verify_password(*h, ""));
}

TEST(PasswordTest, SaltMakesEachHashDifferent) {
  auto a = hash_password("same", kFast);
  auto b = hash_password("same", kFast);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(PasswordTest, PasswordsWithNulBytesAreWhole) {
  const std::string pw("ab\0cd", 5);
  auto h = hash_password(pw, kFast);
  ASSERT_TRUE(h);
  EXPECT_TRUE(verify_password(*h, pw));
  EXPECT_FALSE(verify_password(*h, "ab"));
}

TEST(PasswordTest, MalformedHashFails) {
  auto h = hash_password("pw", kFast);
  ASSERT_TRUE(h);
  EXPECT_FALSE(verify_password("", "pw"));
  EXPECT_FALSE(verify_password("not a hash", "pw"));
  EXPECT_FALSE(verify_password(h->substr(0, h->size() - 5), "pw"));
  EXPECT_FALSE(verify_password(*h + std::string(200, 'A'), "pw"));
  EXPECT_FALSE(verify_password(std::string(h->data(), 10) + '\0' + h->substr(10), "pw"));
  std::string argon2i = *h;
  argon2i.replace(0, 9, "$argon2i$");
  EXPECT_FALSE(verify_password(argon2i, "pw"));
}

TEST(PasswordTest, NeedsRehashWhenParamsChange) {
  auto h = hash_password("pw", kFast);
  ASSERT_TRUE(h);
  EXPECT_FALSE(password_needs_rehash(*h, kFast));
  EXPECT_TRUE(password_needs_rehash(*h, PasswordParams{16 * 1024, 1}));
  EXPECT_TRUE(password_needs_rehash(*h, PasswordParams{8 * 1024, 2}));
  EXPECT_TRUE(password_needs_rehash("garbage", kFast));
}

TEST(PasswordTest, ParamsBelowMinimumAreRejected) {
  auto h = hash_password("pw", PasswordParams{8 * 1024, 0});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, core::Code::kInvalidArgument);
}

}  // namespace
}  // namespace twostep::crypto
