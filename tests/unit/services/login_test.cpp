#include "fixture.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/factors/otp.hpp"

namespace twostep::services::testing {
namespace {

using LoginTest = ServicesTest;

TEST_F(LoginTest, PasswordSignsIn) {
  make_user();
  auto r = login_->password("Alice", kPassword, true, client_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, LoginOutcome::Kind::kSignedIn);
  EXPECT_EQ(r->session.session.state, store::SessionState::kFull);
  EXPECT_TRUE(r->session.session.remember);
  auto v = sessions_->resolve(r->session.token);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->user.username, "alice");
}

TEST_F(LoginTest, UnknownUserAndWrongPasswordLookTheSame) {
  make_user();
  auto wrong = login_->password("alice", "not the password at all", false, client_);
  auto unknown = login_->password("bob", "not the password at all", false, client_);
  auto impossible = login_->password("!!", "x", false, client_);
  ASSERT_FALSE(wrong);
  ASSERT_FALSE(unknown);
  ASSERT_FALSE(impossible);
  EXPECT_EQ(wrong.error().reason, unknown.error().reason);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
  EXPECT_EQ(wrong.error().message, impossible.error().message);
  EXPECT_EQ(wrong.error().code, core::Code::kUnauthenticated);
}

TEST_F(LoginTest, AccountLocksAfterMaxFailuresAndUnlocksLater) {
  config_.rate_limit.login_account_max = 3;
  config_.rate_limit.login_account_lock_s = 60;
  rebuild();
  auto u = make_user();
  for (int i = 0; i < 3; ++i) {
    auto r = login_->password("alice", "wrong password here", false, client_);
    EXPECT_EQ(r.error().reason, "invalid_credentials");
  }
  auto locked = login_->password("alice", kPassword, false, client_);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().reason, "locked");
  EXPECT_EQ(locked.error().code, core::Code::kResourceExhausted);
  EXPECT_GT(locked.error().retry_after_s, 0);
  EXPECT_LE(locked.error().retry_after_s, 60);
  clock_.advance(std::chrono::seconds(61));
  EXPECT_TRUE(login_->password("alice", kPassword, false, client_));
  auto events = count_events(u.id);
  EXPECT_NE(std::find(events.begin(), events.end(), "account_locked"), events.end());
  EXPECT_EQ(std::count(events.begin(), events.end(), "login_failed"), 3);
}

TEST_F(LoginTest, AddressLockCoversManyUsernames) {
  config_.rate_limit.login_ip_max = 4;
  rebuild();
  for (int i = 0; i < 4; ++i) {
    (void)login_->password("user" + std::to_string(i), "whatever password", false, client_);
  }
  auto r = login_->password("someone", "whatever password", false, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "locked");
  Client other{"192.0.2.99", "x"};
  EXPECT_EQ(login_->password("someone", "whatever password", false, other).error().reason,
            "invalid_credentials");
}

TEST_F(LoginTest, RehashesWhenCostChanges) {
  auto u = make_user();
  config_.security.argon2_memory_kib = 16;
  rebuild();
  ASSERT_TRUE(login_->password("alice", kPassword, false, client_));
  auto after = store_->user_by_id(u.id);
  EXPECT_NE(after->password_hash, u.password_hash);
  EXPECT_NE(after->password_hash.find("m=16"), std::string::npos) << after->password_hash;
}

TEST_F(LoginTest, SessionExpiresWhenIdleUnlessRemembered) {
  auto u = make_user();
  auto plain = login_->start_session(u, false, client_);
  auto remembered = login_->start_session(u, true, client_);
  EXPECT_EQ(sessions_->cookie_max_age(plain->session), 0);
  EXPECT_EQ(sessions_->cookie_max_age(remembered->session), 30 * 86400);
  clock_.advance(std::chrono::seconds(config_.sessions.idle_timeout_s + 1));
  EXPECT_FALSE(sessions_->resolve(plain->token));
  EXPECT_TRUE(sessions_->resolve(remembered->token));
  clock_.advance(std::chrono::hours(24 * 29));
  EXPECT_TRUE(sessions_->resolve(remembered->token));  // sliding
  clock_.advance(std::chrono::hours(24 * 31));
  EXPECT_FALSE(sessions_->resolve(remembered->token));
}

TEST_F(LoginTest, RevokeIsSeenByVerifyAtOnce) {
  auto u = make_user();
  auto a = login_->start_session(u, false, client_);
  auto b = login_->start_session(u, false, client_);
  auto hb = Sessions::token_digest(b->token);
  ASSERT_TRUE(sessions_->verify_slow(hb));
  ASSERT_TRUE(sessions_->verify_cached(hb));
  ASSERT_TRUE(sessions_->revoke(u.id, b->session.id, client_));
  EXPECT_FALSE(sessions_->verify_cached(hb));
  EXPECT_FALSE(sessions_->verify_slow(hb));
  EXPECT_TRUE(sessions_->resolve(a->token));
  auto other = make_user("mallory");
  auto r = sessions_->revoke(other.id, a->session.id, client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kNotFound);
}

TEST_F(LoginTest, VerifyCacheLivesItsTimeAndNeverPastTheSession) {
  config_.sessions.verify_cache_ms = 60000;
  config_.sessions.idle_timeout_s = 30;
  rebuild();
  auto u = make_user();
  // A session that ends in 30 s: its entry goes with it, not a minute later.
  auto short_lived = login_->start_session(u, false, client_);
  auto digest = Sessions::token_digest(short_lived->token);
  ASSERT_TRUE(sessions_->verify_slow(digest));
  clock_.advance(std::chrono::seconds(29));
  EXPECT_TRUE(sessions_->verify_cached(digest));
  clock_.advance(std::chrono::seconds(1));
  EXPECT_FALSE(sessions_->verify_cached(digest));
  EXPECT_FALSE(sessions_->verify_slow(digest));

  // A session that lives on: its entry lives the cache time.
  auto remembered = login_->start_session(u, true, client_);
  digest = Sessions::token_digest(remembered->token);
  ASSERT_TRUE(sessions_->verify_slow(digest));
  clock_.advance(std::chrono::milliseconds(59999));
  EXPECT_TRUE(sessions_->verify_cached(digest));
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_FALSE(sessions_->verify_cached(digest));
  // The key is the digest of the token, nothing else.
  EXPECT_EQ(crypto::hex_encode(std::string_view(reinterpret_cast<const char*>(digest.data()),
                                                digest.size())),
            Sessions::hash_token(remembered->token));
}

class TwoFactorLoginTest : public ServicesTest {
 protected:
  // Enrols TOTP and returns the raw seed.
  std::string enrol(const store::User& u) {
    auto e = twofa_->begin_totp(u, "phone");
    EXPECT_TRUE(e);
    seed_ = *crypto::base32_decode(e->secret_base32);
    auto code = factors::totp({}, seed_, clock_.unix_now());
    auto codes = twofa_->confirm(u, e->method_id, code, client_);
    EXPECT_TRUE(codes) << (codes ? "" : codes.error().message);
    recovery_ = *codes;
    clock_.advance(std::chrono::seconds(30));
    return seed_;
  }
  std::string seed_;
  std::vector<std::string> recovery_;
};

TEST_F(TwoFactorLoginTest, PasswordThenTotp) {
  auto u = make_user();
  enrol(u);
  auto r = login_->password("alice", kPassword, false, client_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->kind, LoginOutcome::Kind::kSecondFactor);
  EXPECT_EQ(r->methods.size(), 1u);
  EXPECT_TRUE(r->methods[0].is_default);
  auto pending = sessions_->resolve(r->session.token);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->session.state, store::SessionState::kPendingSecondFactor);
  EXPECT_FALSE(sessions_->verify_slow(Sessions::token_digest(r->session.token)).value().state ==
               store::SessionState::kFull);

  auto code = factors::totp({}, seed_, clock_.unix_now());
  auto done = login_->second_factor(*pending, "totp", code, std::nullopt, client_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_NE(done->session.token, r->session.token);  // new token on privilege change
  EXPECT_FALSE(sessions_->resolve(r->session.token));
  EXPECT_EQ(sessions_->resolve(done->session.token)->session.state, store::SessionState::kFull);

  // The same code in another sign-in is a replay.
  auto r2 = login_->password("alice", kPassword, false, client_);
  auto pending2 = sessions_->resolve(r2->session.token);
  auto replay = login_->second_factor(*pending2, "totp", code, std::nullopt, client_);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().reason, "invalid_code");
}

TEST_F(TwoFactorLoginTest, StaleCodeRefused) {
  auto u = make_user();
  enrol(u);
  clock_.advance(std::chrono::seconds(60));  // past the step spent on confirmation
  auto r = login_->password("alice", kPassword, false, client_);
  auto pending = sessions_->resolve(r->session.token);
  auto old = factors::totp({}, seed_, clock_.unix_now() - 60);
  EXPECT_FALSE(login_->second_factor(*pending, "totp", old, std::nullopt, client_));
  auto prev = factors::totp({}, seed_, clock_.unix_now() - 30);
  EXPECT_TRUE(login_->second_factor(*sessions_->resolve(r->session.token), "totp", prev,
                                    std::nullopt, client_));
}

TEST_F(TwoFactorLoginTest, FiveWrongCodesEndThePendingSignIn) {
  auto u = make_user();
  enrol(u);
  auto r = login_->password("alice", kPassword, false, client_);
  for (int i = 1; i <= 5; ++i) {
    auto pending = sessions_->resolve(r->session.token);
    ASSERT_TRUE(pending) << "attempt " << i;
    auto res = login_->second_factor(*pending, "totp", "000000", std::nullopt, client_);
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().reason, i < 5 ? "invalid_code" : "not_authenticated");
  }
  EXPECT_FALSE(sessions_->resolve(r->session.token));
}

TEST_F(TwoFactorLoginTest, AccountLockAfterTwentyFailures) {
  auto u = make_user();
  enrol(u);
  for (int i = 0; i < 4; ++i) {
    auto r = login_->password("alice", kPassword, false, client_);
    for (int j = 0; j < 5; ++j) {
      auto pending = sessions_->resolve(r->session.token);
      if (!pending) break;
      (void)login_->second_factor(*pending, "recovery", "aaaa-aaaa-aaaa-aaaa", std::nullopt, client_);
    }
  }
  auto r = login_->password("alice", kPassword, false, client_);
  auto pending = sessions_->resolve(r->session.token);
  auto code = factors::totp({}, seed_, clock_.unix_now());
  auto res = login_->second_factor(*pending, "totp", code, std::nullopt, client_);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().reason, "locked");
}

TEST_F(TwoFactorLoginTest, RecoveryCodeWorksOnceInAnyFormat) {
  auto u = make_user();
  enrol(u);
  ASSERT_EQ(recovery_.size(), 10u);
  std::string upper = recovery_[3];
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  upper.erase(std::remove(upper.begin(), upper.end(), '-'), upper.end());
  auto r = login_->password("alice", kPassword, false, client_);
  auto done = login_->second_factor(*sessions_->resolve(r->session.token), "recovery", upper,
                                    std::nullopt, client_);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->check.recovery_remaining, 9);
  auto r2 = login_->password("alice", kPassword, false, client_);
  EXPECT_FALSE(login_->second_factor(*sessions_->resolve(r2->session.token), "recovery",
                                     recovery_[3], std::nullopt, client_));
}

TEST_F(TwoFactorLoginTest, NewRecoverySetReplacesOld) {
  auto u = make_user();
  enrol(u);
  auto fresh = twofa_->new_recovery_codes(u, client_);
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(twofa_->check_code(u, "recovery", recovery_[0], std::nullopt));
  EXPECT_TRUE(twofa_->check_code(u, "recovery", (*fresh)[0], std::nullopt));
}

TEST_F(TwoFactorLoginTest, ReauthNeedsPasswordAndSecondFactor) {
  auto u = make_user();
  enrol(u);
  auto s = login_->start_session(u, false, client_);
  clock_.advance(std::chrono::minutes(10));
  auto view = *sessions_->resolve(s->token);
  EXPECT_FALSE(login_->recently_authenticated(view.session));
  EXPECT_FALSE(login_->reauth(view, kPassword, "", "", client_));
  EXPECT_FALSE(login_->reauth(view, "wrong password x", "totp",
                              factors::totp({}, seed_, clock_.unix_now()), client_));
  auto ok = login_->reauth(view, kPassword, "totp", factors::totp({}, seed_, clock_.unix_now()), client_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(login_->recently_authenticated(ok->session));
}

TEST_F(TwoFactorLoginTest, TurningTwoFactorOnVoidsPasswordOnlyReauth) {
  auto u = make_user();
  auto s = login_->start_session(u, false, client_);
  EXPECT_TRUE(login_->recently_authenticated(sessions_->resolve(s->token)->session));
  enrol(u);
  // The session only ever proved a password: removing 2FA now needs password + code.
  EXPECT_FALSE(login_->recently_authenticated(sessions_->resolve(s->token)->session));
}

TEST_F(TwoFactorLoginTest, RemovingLastMethodTurnsTwoFactorOff) {
  auto u = make_user();
  enrol(u);
  auto methods = *twofa_->active_methods(u.id);
  ASSERT_TRUE(twofa_->remove(u, methods[0].id, client_));
  EXPECT_FALSE(*twofa_->enabled(u.id));
  EXPECT_EQ(*twofa_->recovery_remaining(u.id), 0);
  auto r = login_->password("alice", kPassword, false, client_);
  EXPECT_EQ(r->kind, LoginOutcome::Kind::kSignedIn);
}

TEST_F(TwoFactorLoginTest, UnconfirmedMethodDoesNotTurnTwoFactorOnAndExpires) {
  auto u = make_user();
  auto e = twofa_->begin_totp(u, "");
  ASSERT_TRUE(e);
  EXPECT_FALSE(*twofa_->enabled(u.id));
  clock_.advance(std::chrono::seconds(config_.totp.unconfirmed_ttl_s + 1));
  auto seed = *crypto::base32_decode(e->secret_base32);
  auto r = twofa_->confirm(u, e->method_id, factors::totp({}, seed, clock_.unix_now()), client_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kNotFound);
}

TEST_F(TwoFactorLoginTest, SecretsAreEncryptedAtRestAndBoundToTheUser) {
  auto u = make_user();
  enrol(u);
  auto m = (*twofa_->active_methods(u.id))[0];
  EXPECT_EQ(m.secret.find(seed_), std::string::npos);
  auto other = make_user("bob");
  store::Method moved = m;
  moved.user_id = other.id;
  EXPECT_FALSE(twofa_->method_seed(moved));  // associated data binds it to alice
  EXPECT_TRUE(twofa_->method_seed(m));
}

}  // namespace
}  // namespace twostep::services::testing
