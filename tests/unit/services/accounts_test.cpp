#include "fixture.hpp"

namespace twostep::services::testing {
namespace {

using AccountsTest = ServicesTest;

TEST(UsernameTest, CanonicalForm) {
  EXPECT_EQ(*canonical_username("Alice.Smith_1-x"), "alice.smith_1-x");
  EXPECT_FALSE(canonical_username("ab").has_value());
  EXPECT_FALSE(canonical_username(std::string(65, 'a')).has_value());
  EXPECT_FALSE(canonical_username("bad name").has_value());
  EXPECT_FALSE(canonical_username("evil\xc3\xa9").has_value());
  EXPECT_EQ(canonical_username("a!b").error().reason, "invalid_username");
}

TEST(PasswordPolicyTest, RefusesWeakAndExplainsWhy) {
  core::AccountsConfig cfg;
  auto weak = check_password_policy(cfg, "password123", "alice");
  EXPECT_FALSE(weak.ok);
  EXPECT_NE(weak.message.find("common word"), std::string::npos) << weak.message;
  auto user = check_password_policy(cfg, "alice-alice-alice", "alice");
  EXPECT_FALSE(user.ok);
  EXPECT_FALSE(check_password_policy(cfg, "short", "x").ok);
  EXPECT_FALSE(check_password_policy(cfg, std::string(257, 'x'), "x").ok);
  auto strong = check_password_policy(cfg, "correct horse battery staple 42", "alice");
  EXPECT_TRUE(strong.ok) << strong.message;
  EXPECT_GE(strong.score, 3);
}

TEST_F(AccountsTest, CreateRejectsDuplicatesCaseInsensitively) {
  make_user("alice");
  auto again = accounts_->create("ALICE", kPassword, client_, "test");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().reason, "username_taken");
}

TEST_F(AccountsTest, PasswordIsStoredAsArgon2id) {
  auto u = make_user();
  EXPECT_EQ(u.password_hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(u.password_hash.find(kPassword), std::string::npos);
}

TEST_F(AccountsTest, PasswordChangeEndsSessions) {
  auto u = make_user();
  auto s = login_->start_session(u, false, client_);
  ASSERT_TRUE(s);
  ASSERT_TRUE(accounts_->set_password("alice", "another quite long passphrase 77", client_));
  EXPECT_FALSE(sessions_->resolve(s->token).has_value());
  auto events = count_events(u.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "password_changed"), events.end());
}

TEST_F(AccountsTest, DisableEndsSessionsAndBlocksLogin) {
  auto u = make_user();
  auto s = login_->start_session(u, false, client_);
  ASSERT_TRUE(accounts_->set_disabled("alice", true, client_));
  EXPECT_FALSE(sessions_->resolve(s->token).has_value());
  auto r = login_->password("alice", kPassword, false, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "account_disabled");
}

}  // namespace
}  // namespace twostep::services::testing
