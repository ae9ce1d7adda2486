#include "twostep/services/throttle.hpp"

#include "fixture.hpp"

namespace twostep::services::testing {
namespace {

using ThrottleTest = ServicesTest;

TEST_F(ThrottleTest, ClearForgetsFailuresOfThatKeyOnly) {
  ThrottleRule rule{3, 900, 900};
  ASSERT_TRUE(throttles_->hit("login:user:a", rule));
  ASSERT_TRUE(throttles_->hit("login:user:a", rule));
  ASSERT_TRUE(throttles_->hit("login:user:b", rule));
  throttles_->clear("login:user:a");
  auto a = store_->throttle_get("login:user:a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->count, 0);
  auto b = store_->throttle_get("login:user:b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->count, 1);
  // Two more failures on a do not lock: the count started again.
  ASSERT_TRUE(throttles_->hit("login:user:a", rule));
  auto locked = throttles_->hit("login:user:a", rule);
  ASSERT_TRUE(locked);
  EXPECT_FALSE(*locked);
  EXPECT_TRUE(throttles_->check("login:user:a"));
}

TEST_F(ThrottleTest, ClearEndsALock) {
  ThrottleRule rule{2, 900, 900};
  ASSERT_TRUE(throttles_->hit("k", rule));
  auto locked = throttles_->hit("k", rule);
  ASSERT_TRUE(locked);
  EXPECT_TRUE(*locked);
  EXPECT_FALSE(throttles_->check("k"));
  throttles_->clear("k");
  EXPECT_TRUE(throttles_->check("k"));
}

TEST_F(ThrottleTest, ClearOfAnUnknownKeyLeavesNoRow) {
  throttles_->clear("never:seen");
  auto t = store_->throttle_get("never:seen");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->count, 0);
  EXPECT_EQ(t->locked_until, 0);
}

// A successful sign-in clears the account's earlier failures (and only reads when there are
// none).
TEST_F(ThrottleTest, SuccessfulSignInClearsAccountFailures) {
  make_user("alice");
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(login_->password("alice", "wrong password here!", false, client_));
  }
  auto before = store_->throttle_get("login:user:alice");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->count, 3);
  ASSERT_TRUE(login_->password("alice", kPassword, false, client_));
  auto after = store_->throttle_get("login:user:alice");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->count, 0);
  ASSERT_TRUE(login_->password("alice", kPassword, false, client_));  // nothing to clear
}

}  // namespace
}  // namespace twostep::services::testing
