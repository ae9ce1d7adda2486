// Security keys as a service: WebAuthn registration and sign-in with a software
// authenticator (challenges single-use, expiring, bound to the session; counters; keys of
// other users) and Yubico OTP with libyubikey OTPs (import, enrolment, sign-in, replay,
// rollback, unknown keys, garbage).
#include "twostep/services/security_keys.hpp"

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/hash.hpp"
#include "twostep/crypto/random.hpp"
#include "unit/services/fixture.hpp"
#include "unit/soft_authenticator.hpp"
#include "unit/soft_yubikey.hpp"

namespace twostep::services {
namespace {

using store::SessionState;
using twostep::testing::CeremonyOptions;
using twostep::testing::SoftCredential;
using twostep::testing::SoftYubikey;

class SecurityKeysTest : public testing::ServicesTest {
 protected:
  SecurityKeysTest() { keys_ = std::make_unique<SecurityKeys>(deps(), *audit_, *twofa_, *login_); }

  Deps deps() { return Deps{*store_, clock_, keyring_, config_, metrics_}; }

  SessionView session(const store::User& u, SessionState state) {
    auto s = sessions_->create(u, state, false, client_);
    EXPECT_TRUE(s.has_value());
    return SessionView{s->session, u};
  }

  static CredentialResponse registration(const twostep::testing::RegistrationResponse& r) {
    CredentialResponse c;
    c.raw_id = r.credential_id;
    c.client_data_json = r.client_data_json;
    c.attestation_object = r.attestation_object;
    c.transports = {"usb", "bogus"};
    return c;
  }

  static CredentialResponse assertion(const SoftCredential& cred,
                                      const twostep::testing::Assertion& a) {
    CredentialResponse c;
    c.raw_id = cred.id();
    c.client_data_json = a.client_data_json;
    c.authenticator_data = a.authenticator_data;
    c.signature = a.signature;
    return c;
  }

  // Registers `cred` for `user` through the service; returns the method id.
  int64_t register_key(const store::User& user, SoftCredential& cred,
                       const std::string& fmt = "none") {
    SessionView s = session(user, SessionState::kFull);
    auto opts = keys_->registration_options(s);
    EXPECT_TRUE(opts.has_value());
    auto r = keys_->register_key(s, registration(cred.register_with(opts->challenge, fmt)),
                                 "my key", client_);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().reason + " " + r.error().detail);
    EXPECT_EQ(r->recovery_codes.size(), 10u);
    return r->method_id;
  }

  Result<SecondStepOutcome> sign_in(SessionView& pending, SoftCredential& cred,
                                    const CeremonyOptions& o = {}) {
    auto opts = keys_->login_options(pending);
    if (!opts) return tl::unexpected(opts.error());
    return keys_->login(pending, assertion(cred, cred.assert_with(opts->challenge, o)), client_);
  }

  bool has_event(int64_t uid, const std::string& name) {
    auto events = count_events(uid);
    return std::find(events.begin(), events.end(), name) != events.end();
  }

  // Imports `key` as an operator would.
  void import(const SoftYubikey& key) {
    auto n = keys_->import_yubikeys(key.csv_line() + "\n", false, Client{"cli", "test"});
    ASSERT_TRUE(n.has_value()) << n.error().message;
    EXPECT_EQ(*n, 1);
  }

  std::unique_ptr<SecurityKeys> keys_;
};

TEST_F(SecurityKeysTest, RegistersAKeyAndSignsInWithIt) {
  store::User alice = make_user();
  SoftCredential cred;
  SessionView s = session(alice, SessionState::kFull);
  auto opts = keys_->registration_options(s);
  ASSERT_TRUE(opts.has_value());
  EXPECT_EQ(opts->challenge.size(), 32u);
  EXPECT_EQ(opts->rp_id, "localhost");
  EXPECT_EQ(opts->user_handle.size(), 32u);
  EXPECT_TRUE(opts->exclude.empty());
  auto r = keys_->register_key(s, registration(cred.register_with(opts->challenge, "packed-self")),
                               "Blue key", client_);
  ASSERT_TRUE(r.has_value()) << r.error().detail;
  EXPECT_TRUE(*twofa_->enabled(alice.id));
  auto m = *store_->method_of_user(alice.id, r->method_id);
  EXPECT_EQ(m.type, "webauthn");
  EXPECT_EQ(m.label, "Blue key");
  EXPECT_TRUE(m.confirmed);
  EXPECT_EQ(parse_params(m.params)["tr"], "usb");  // unknown transports dropped
  EXPECT_TRUE(has_event(alice.id, "method_added"));

  // The next registration excludes it.
  auto again = keys_->registration_options(s);
  ASSERT_EQ(again->exclude.size(), 1u);
  EXPECT_EQ(again->exclude[0].id, cred.id());
  EXPECT_EQ(again->exclude[0].transports, std::vector<std::string>{"usb"});

  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto login_opts = keys_->login_options(pending);
  ASSERT_TRUE(login_opts.has_value());
  ASSERT_EQ(login_opts->allow.size(), 1u);
  auto done =
      keys_->login(pending, assertion(cred, cred.assert_with(login_opts->challenge)), client_);
  ASSERT_TRUE(done.has_value()) << done.error().detail;
  EXPECT_EQ(done->session.session.state, SessionState::kFull);
  EXPECT_EQ(done->check.method_type, "webauthn");
  EXPECT_NE(store_->method_of_user(alice.id, r->method_id)->last_used_at, 0);
}

// The user handle is stored per account, so a master-key rotation does not change it: a key
// registered before and one after belong to the same WebAuthn user (a resident credential is
// replaced, not doubled), and the stored handle of each key keeps matching.
TEST_F(SecurityKeysTest, UserHandleIsStoredAndSurvivesKeyRotation) {
  store::User alice = make_user();
  SoftCredential first;
  int64_t first_id = register_key(alice, first);
  const std::string handle = *store_->webauthn_user_handle(alice.id, "ignored");
  EXPECT_EQ(handle.size(), 32u);
  EXPECT_EQ(parse_params(store_->method_of_user(alice.id, first_id)->params)["uh"],
            crypto::base64url_encode(handle));

  keyring_ =
      crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}}, 2);
  rebuild();
  keys_ = std::make_unique<SecurityKeys>(deps(), *audit_, *twofa_, *login_);
  SessionView s = session(alice, SessionState::kFull);
  auto opts = keys_->registration_options(s);
  ASSERT_TRUE(opts);
  EXPECT_EQ(opts->user_handle, handle);
  ASSERT_EQ(opts->exclude.size(), 1u);  // the old key is still excluded by its credential id
  SoftCredential second;
  int64_t second_id = register_key(alice, second);
  EXPECT_EQ(parse_params(store_->method_of_user(alice.id, second_id)->params)["uh"],
            crypto::base64url_encode(handle));
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto done = sign_in(pending, first);
  ASSERT_TRUE(done) << done.error().detail;

  // Another account gets a handle of its own.
  store::User bob = make_user("bob");
  auto bob_opts = keys_->registration_options(session(bob, SessionState::kFull));
  ASSERT_TRUE(bob_opts);
  EXPECT_EQ(bob_opts->user_handle.size(), 32u);
  EXPECT_NE(bob_opts->user_handle, handle);
}

TEST_F(SecurityKeysTest, FirstHandleIsTheOneTwostepDerivedBeforeHandlesWereStored) {
  // Asked for the first time after a rotation: still the derivation under the oldest key, which
  // is what an older twostep gave this account (and an authenticator may still hold).
  store::User alice = make_user();
  const std::string expected = *crypto::hex_decode(crypto::keyed_hash_hex(
      *keyring_.derive("webauthn-user-handle", 1), "user:" + std::to_string(alice.id)));
  keyring_ =
      crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}}, 2);
  rebuild();
  keys_ = std::make_unique<SecurityKeys>(deps(), *audit_, *twofa_, *login_);
  auto opts = keys_->registration_options(session(alice, SessionState::kFull));
  ASSERT_TRUE(opts) << opts.error().message;
  EXPECT_EQ(opts->user_handle, expected);
}

TEST_F(SecurityKeysTest, AccountsWithKeysFromBeforeStoredHandlesKeepTheirHandle) {
  // A key registered before migration 0007: its handle was derived from the master key then
  // and is only in the method's params.
  store::User alice = make_user();
  const std::string old_handle(32, '\x07');
  store::Method m;
  m.user_id = alice.id;
  m.type = "webauthn";
  m.label = "old key";
  m.lookup = crypto::base64url_encode("credential-id");
  m.params = format_params({{"uh", crypto::base64url_encode(old_handle)}});
  ASSERT_TRUE(store_->create_method(m));
  auto opts = keys_->registration_options(session(alice, SessionState::kFull));
  ASSERT_TRUE(opts) << opts.error().message;
  EXPECT_EQ(opts->user_handle, old_handle);
  EXPECT_EQ(*store_->webauthn_user_handle(alice.id, "other"), old_handle);
}

TEST_F(SecurityKeysTest, RegisteringTheSameCredentialTwiceIsAConflict) {
  store::User alice = make_user();
  SoftCredential cred;
  register_key(alice, cred);
  SessionView s = session(alice, SessionState::kFull);
  auto opts = keys_->registration_options(s);
  auto r = keys_->register_key(s, registration(cred.register_with(opts->challenge)), "", client_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::Code::kAlreadyExists);
  // Another user cannot take it either.
  store::User bob = make_user("bob");
  SessionView sb = session(bob, SessionState::kFull);
  auto ob = keys_->registration_options(sb);
  auto rb = keys_->register_key(sb, registration(cred.register_with(ob->challenge)), "", client_);
  ASSERT_FALSE(rb.has_value());
  EXPECT_EQ(rb.error().reason, "already_registered");
}

TEST_F(SecurityKeysTest, RegistrationChallengeIsSingleUseExpiresAndIsBoundToTheSession) {
  store::User alice = make_user();
  SoftCredential cred;
  SessionView s = session(alice, SessionState::kFull);
  SessionView other = session(alice, SessionState::kFull);

  auto opts = keys_->registration_options(s);
  auto resp = registration(cred.register_with(opts->challenge));
  // Another session of the same user cannot answer it.
  auto r1 = keys_->register_key(other, resp, "", client_);
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.error().reason, "invalid_security_key");
  ASSERT_TRUE(keys_->register_key(s, resp, "", client_).has_value());
  // Reused: the challenge is gone.
  SoftCredential cred2;
  auto reused =
      keys_->register_key(s, registration(cred2.register_with(opts->challenge)), "", client_);
  ASSERT_FALSE(reused.has_value());
  EXPECT_EQ(reused.error().reason, "invalid_security_key");

  // Expired after 5 minutes.
  auto late = keys_->registration_options(s);
  clock_.advance(std::chrono::seconds(kWebauthnChallengeTtlS + 1));
  auto r3 = keys_->register_key(s, registration(cred2.register_with(late->challenge)), "", client_);
  ASSERT_FALSE(r3.has_value());
  EXPECT_EQ(r3.error().reason, "invalid_security_key");
}

TEST_F(SecurityKeysTest, RegistrationRefusesBadAnswersAndAuditsThem) {
  store::User alice = make_user();
  SoftCredential cred;
  SessionView s = session(alice, SessionState::kFull);
  auto opts = keys_->registration_options(s);
  CeremonyOptions evil;
  evil.origin = "https://evil.example";
  auto r = keys_->register_key(s, registration(cred.register_with(opts->challenge, "none", evil)),
                               "", client_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
  EXPECT_TRUE(has_event(alice.id, "security_key_refused"));
  EXPECT_FALSE(*twofa_->enabled(alice.id));
  // A rawId that is not the attested credential.
  auto opts2 = keys_->registration_options(s);
  auto resp = registration(cred.register_with(opts2->challenge));
  resp.raw_id = "something else";
  EXPECT_FALSE(keys_->register_key(s, resp, "", client_).has_value());
  // A label with control characters is refused before anything is spent.
  auto opts3 = keys_->registration_options(s);
  auto bad_label =
      keys_->register_key(s, registration(cred.register_with(opts3->challenge)), "a\nb", client_);
  ASSERT_FALSE(bad_label.has_value());
  EXPECT_EQ(bad_label.error().reason, "invalid_request");
}

TEST_F(SecurityKeysTest, SignInChallengeIsSingleUse) {
  store::User alice = make_user();
  SoftCredential cred;
  register_key(alice, cred);
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto opts = keys_->login_options(pending);
  auto resp = assertion(cred, cred.assert_with(opts->challenge));
  auto first = keys_->login(pending, resp, client_);
  ASSERT_TRUE(first.has_value());
  // A second pending sign-in replaying the same answer.
  SessionView pending2 = session(alice, SessionState::kPendingSecondFactor);
  auto replay = keys_->login(pending2, resp, client_);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code, core::Code::kUnauthenticated);
  EXPECT_EQ(replay.error().reason, "invalid_security_key");
}

TEST_F(SecurityKeysTest, SignInChallengeExpires) {
  store::User alice = make_user();
  SoftCredential cred;
  register_key(alice, cred);
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto opts = keys_->login_options(pending);
  clock_.advance(std::chrono::seconds(kWebauthnChallengeTtlS));
  auto r = keys_->login(pending, assertion(cred, cred.assert_with(opts->challenge)), client_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "invalid_security_key");
}

TEST_F(SecurityKeysTest, CounterRollbackIsRefusedAndAuditedAsACloneAndTheCounterAdvances) {
  store::User alice = make_user();
  SoftCredential cred;
  cred.counter = 10;
  int64_t id = register_key(alice, cred);
  SessionView p1 = session(alice, SessionState::kPendingSecondFactor);
  ASSERT_TRUE(sign_in(p1, cred).has_value());  // reports 10
  EXPECT_EQ(store_->method_of_user(alice.id, id)->last_step, 10);
  ASSERT_TRUE(sign_in(p1 = session(alice, SessionState::kPendingSecondFactor), cred).has_value());
  EXPECT_EQ(store_->method_of_user(alice.id, id)->last_step, 11);

  CeremonyOptions clone;
  clone.sign_count = 5;  // a copy of the key that is behind
  SessionView p2 = session(alice, SessionState::kPendingSecondFactor);
  auto r = sign_in(p2, cred, clone);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "invalid_security_key");
  EXPECT_NE(r.error().message.find("cloned"), std::string::npos);
  EXPECT_TRUE(has_event(alice.id, "security_key_counter_regression"));
  clone.sign_count = 11;  // equal is not larger
  EXPECT_FALSE(sign_in(p2, cred, clone).has_value());
  EXPECT_EQ(store_->method_of_user(alice.id, id)->last_step, 11);
}

TEST_F(SecurityKeysTest, KeysWithoutACounterKeepWorking) {
  store::User alice = make_user();
  SoftCredential cred;  // always reports 0
  register_key(alice, cred);
  for (int i = 0; i < 3; ++i) {
    SessionView p = session(alice, SessionState::kPendingSecondFactor);
    ASSERT_TRUE(sign_in(p, cred).has_value()) << i;
  }
}

TEST_F(SecurityKeysTest, CredentialOfAnotherUserIsRefused) {
  store::User alice = make_user();
  store::User bob = make_user("bob");
  SoftCredential alices;
  SoftCredential bobs;
  register_key(alice, alices);
  register_key(bob, bobs);
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto r = sign_in(pending, bobs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "invalid_security_key");
  EXPECT_TRUE(has_event(alice.id, "security_key_foreign"));
  // An unregistered key.
  SoftCredential stranger;
  SessionView p2 = session(alice, SessionState::kPendingSecondFactor);
  EXPECT_FALSE(sign_in(p2, stranger).has_value());
}

TEST_F(SecurityKeysTest, WrongAnswersCountAndEndThePendingSignIn) {
  store::User alice = make_user();
  SoftCredential cred;
  register_key(alice, cred);
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  CeremonyOptions wrong;
  wrong.rp_id = "example.com";
  core::Error last;
  for (int i = 0; i < config_.rate_limit.second_factor_pending_max; ++i) {
    auto r = sign_in(pending, cred, wrong);
    ASSERT_FALSE(r.has_value());
    last = r.error();
  }
  EXPECT_EQ(last.reason, "not_authenticated");
  EXPECT_FALSE(store_->session_by_id(pending.session.id).has_value());
  EXPECT_TRUE(has_event(alice.id, "second_factor_failed"));
}

TEST_F(SecurityKeysTest, SignInOptionsNeedARegisteredKey) {
  store::User alice = make_user();
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto r = keys_->login_options(pending);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, "no_security_key");
}

TEST_F(SecurityKeysTest, ConcurrentAnswersToOneChallengeWinOnce) {
  store::User alice = make_user();
  SoftCredential cred;
  register_key(alice, cred);
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto opts = keys_->login_options(pending);
  auto resp = assertion(cred, cred.assert_with(opts->challenge));
  // Fewer answers than the pending sign-in's failure limit (5): the losers count as wrong
  // answers, and five of them would end the sign-in before the winner completes it.
  std::atomic<int> wins{0};
  std::latch start(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      if (keys_->login(pending, resp, client_)) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

TEST_F(SecurityKeysTest, ReauthenticatesWithPasswordAndSecurityKey) {
  store::User alice = make_user();
  SoftCredential cred;
  register_key(alice, cred);
  SessionView full = session(alice, SessionState::kFull);
  clock_.advance(std::chrono::seconds(config_.sessions.reauth_window_s + 1));
  ASSERT_FALSE(login_->recently_authenticated(*store_->session_by_id(full.session.id)));

  // A sign-in challenge does not serve re-authentication, nor the other way round.
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto signin_opts = keys_->login_options(pending);
  auto wrong_purpose = keys_->reauth(
      full, kPassword, assertion(cred, cred.assert_with(signin_opts->challenge)), client_);
  ASSERT_FALSE(wrong_purpose.has_value());
  EXPECT_EQ(wrong_purpose.error().reason, "invalid_security_key");
  EXPECT_TRUE(has_event(alice.id, "reauth_failed"));

  auto opts = keys_->reauth_options(full);
  ASSERT_TRUE(opts.has_value());
  auto resp = assertion(cred, cred.assert_with(opts->challenge));
  auto bad_password = keys_->reauth(full, "wrong password", resp, client_);
  ASSERT_FALSE(bad_password.has_value());
  EXPECT_EQ(bad_password.error().reason, "invalid_credentials");
  // The wrong password did not spend the challenge; the right one with the key works.
  auto ok = keys_->reauth(full, kPassword, resp, client_);
  ASSERT_TRUE(ok.has_value()) << ok.error().reason << " " << ok.error().detail;
  EXPECT_TRUE(login_->recently_authenticated(ok->session));
  // Spent.
  EXPECT_FALSE(keys_->reauth(full, kPassword, resp, client_).has_value());
}

// --- Yubico OTP ---------------------------------------------------------------------------

TEST_F(SecurityKeysTest, YubikeyImportSealsSecretsAndRefusesDuplicates) {
  SoftYubikey key;
  import(key);
  auto row = store_->yubikey_by_public_id(key.public_id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->secret.find(key.aes_key), std::string::npos);  // not in clear
  auto again = keys_->import_yubikeys(key.csv_line(), false, client_);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, core::Code::kAlreadyExists);
  EXPECT_EQ(*keys_->import_yubikeys(key.csv_line(), true, client_), 0);
  auto bad = keys_->import_yubikeys("not,a,key", false, client_);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().reason, "invalid_key_file");
  auto list = keys_->list_yubikeys();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].owner, "");
}

TEST_F(SecurityKeysTest, YubikeyEnrolmentAndSignIn) {
  store::User alice = make_user();
  SoftYubikey key;
  import(key);
  auto r = keys_->register_yubikey(alice, key.otp(), "", client_);
  ASSERT_TRUE(r.has_value()) << r.error().message << r.error().detail;
  EXPECT_EQ(r->recovery_codes.size(), 10u);
  auto m = *store_->method_of_user(alice.id, r->method_id);
  EXPECT_EQ(m.label, "YubiKey");
  EXPECT_EQ(m.lookup, key.public_id);
  EXPECT_EQ((*keys_->list_yubikeys())[0].owner, "alice");

  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto done = login_->second_factor(pending, "yubiotp", key.otp(), std::nullopt, client_);
  ASSERT_TRUE(done.has_value()) << done.error().message;
  EXPECT_EQ(done->check.method_type, "yubiotp");
  EXPECT_EQ(done->check.method_id, r->method_id);
}

TEST_F(SecurityKeysTest, YubikeyResealMovesTheSecretToTheCurrentKey) {
  store::User alice = make_user();
  SoftYubikey key;
  import(key);
  ASSERT_TRUE(keys_->register_yubikey(alice, key.otp(), "", client_));
  keyring_ =
      crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}}, 2);
  rebuild();
  keys_ = std::make_unique<SecurityKeys>(deps(), *audit_, *twofa_, *login_);
  auto n = keys_->reseal_yubikeys();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->resealed, 1);
  EXPECT_EQ(n->failed, 0);
  EXPECT_EQ(keys_->reseal_yubikeys()->resealed, 0);
  auto row = *store_->yubikey_by_public_id(key.public_id);
  EXPECT_EQ(crypto::Keyring::sealed_key_id(row.secret), 2u);
  EXPECT_GE(row.last_counter, 0);  // the counter survives: the registration OTP stays spent

  // Key 1 can go: OTPs still check with key 2 alone.
  keyring_ = crypto::Keyring::from_keys({{2, std::string(32, '\x43')}}, 2);
  rebuild();
  keys_ = std::make_unique<SecurityKeys>(deps(), *audit_, *twofa_, *login_);
  SessionView pending = session(alice, SessionState::kPendingSecondFactor);
  auto done = login_->second_factor(pending, "yubiotp", key.otp(), std::nullopt, client_);
  ASSERT_TRUE(done.has_value()) << done.error().message;

  // A key missing from the file: counted, left as it is.
  keyring_ = crypto::Keyring::from_keys({{3, std::string(32, '\x44')}}, 3);
  rebuild();
  keys_ = std::make_unique<SecurityKeys>(deps(), *audit_, *twofa_, *login_);
  auto lost = keys_->reseal_yubikeys();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->failed, 1);
  EXPECT_EQ(store_->yubikey_by_public_id(key.public_id)->secret, row.secret);
}

TEST_F(SecurityKeysTest, YubikeyReplayAndRollbackAreRefused) {
  store::User alice = make_user();
  SoftYubikey key;
  import(key);
  ASSERT_TRUE(keys_->register_yubikey(alice, key.otp(), "", client_).has_value());
  std::string otp = key.otp();
  SessionView p1 = session(alice, SessionState::kPendingSecondFactor);
  ASSERT_TRUE(login_->second_factor(p1, "yubiotp", otp, std::nullopt, client_).has_value());
  SessionView p2 = session(alice, SessionState::kPendingSecondFactor);
  auto replay = login_->second_factor(p2, "yubiotp", otp, std::nullopt, client_);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().reason, "invalid_code");
  EXPECT_TRUE(has_event(alice.id, "otp_replayed"));
  // An OTP from an earlier power-up (a clone, or a captured old OTP).
  key.power_cycle();
  ASSERT_TRUE(login_->second_factor(p2, "yubiotp", key.otp(), std::nullopt, client_).has_value());
  SessionView p3 = session(alice, SessionState::kPendingSecondFactor);
  auto old = login_->second_factor(p3, "yubiotp", key.otp_at(1, 200), std::nullopt, client_);
  ASSERT_FALSE(old.has_value());
  EXPECT_TRUE(has_event(alice.id, "security_key_counter_regression"));
}

TEST_F(SecurityKeysTest, YubikeyUnknownForeignAndGarbageAreRefused) {
  store::User alice = make_user();
  store::User bob = make_user("bob");
  SoftYubikey alices;
  SoftYubikey bobs;
  SoftYubikey unknown;
  import(alices);
  import(bobs);
  ASSERT_TRUE(keys_->register_yubikey(alice, alices.otp(), "", client_).has_value());
  ASSERT_TRUE(keys_->register_yubikey(bob, bobs.otp(), "", client_).has_value());

  // Enrolment: unknown key, garbage, someone else's key, a replayed OTP.
  auto u = keys_->register_yubikey(alice, unknown.otp(), "", client_);
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().reason, "unknown_yubikey");
  auto g = keys_->register_yubikey(alice, "hello", "", client_);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().reason, "invalid_otp");
  auto taken = keys_->register_yubikey(alice, bobs.otp(), "", client_);
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().reason, "already_registered");
  SoftYubikey fresh;
  import(fresh);
  std::string once = fresh.otp();
  ASSERT_TRUE(keys_->register_yubikey(alice, once, "spare", client_).has_value());
  store::User carol = make_user("carol");
  auto replayed = keys_->register_yubikey(carol, once, "", client_);
  ASSERT_FALSE(replayed.has_value());

  // Sign-in: bob's key on alice's account, an unknown key, garbage, a forged token.
  SessionView p = session(alice, SessionState::kPendingSecondFactor);
  for (const std::string& code : {bobs.otp(), unknown.otp(), std::string("cccccccccccc"),
                                  std::string(44, 'x'), alices.public_id + std::string(32, 'c')}) {
    auto r = twofa_->check_code(alice, "yubiotp", code, std::nullopt);
    ASSERT_FALSE(r.has_value()) << code;
    EXPECT_EQ(r.error().reason, "invalid_code") << code;
  }
  EXPECT_TRUE(has_event(alice.id, "security_key_foreign"));
  // method_id names another of alice's methods: refused.
  auto methods = *twofa_->active_methods(alice.id);
  int64_t spare_id = 0;
  for (const auto& m : methods) {
    if (m.label == "spare") spare_id = m.id;
  }
  EXPECT_FALSE(twofa_->check_code(alice, "yubiotp", alices.otp(), spare_id).has_value());
  EXPECT_TRUE(twofa_->check_code(alice, "yubiotp", alices.otp(), std::nullopt).has_value());
}

TEST_F(SecurityKeysTest, UnknownCodeTypeListsTheRegisteredOnes) {
  store::User alice = make_user();
  auto r = twofa_->check_code(alice, "carrier-pigeon", "123456", std::nullopt);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("yubiotp"), std::string::npos);
}

TEST_F(SecurityKeysTest, BadPublicUrlIsAStartUpError) {
  config_.server.public_url = "http://";
  EXPECT_THROW(SecurityKeys(deps(), *audit_, *twofa_, *login_), std::invalid_argument);
}

}  // namespace
}  // namespace twostep::services
