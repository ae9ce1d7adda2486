// The store contract for security keys: imported Yubico OTP keys and their use-once counter,
// single-use WebAuthn challenges bound to a session, and the WebAuthn signature counter (a
// method step). Runs against every entry of store_factories().
#include <atomic>
#include <string>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using contract::must_ok;
using core::Code;

class SecurityKeyStoreContract : public contract::ContractFixture {
 protected:
  static YubikeyRecord key(const std::string& public_id, const std::string& secret = "sealed") {
    YubikeyRecord k;
    k.public_id = public_id;
    k.secret = secret;
    return k;
  }
};

TEST_P(SecurityKeyStoreContract, ImportsAndReadsYubikeys) {
  EXPECT_EQ(must(store().import_yubikeys(
                {key("vvcccc01"), key("cccccc02", std::string("\0\1\2", 3))}, false, kNow)),
            2);
  auto k = must(store().yubikey_by_public_id("cccccc02"));
  EXPECT_EQ(k.secret, std::string("\0\1\2", 3));  // binary-safe
  EXPECT_EQ(k.last_counter, -1);
  EXPECT_EQ(k.imported_at, kNow);
  EXPECT_EQ(k.last_used_at, 0);
  auto all = must(store().list_yubikeys());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].public_id, "cccccc02");
  EXPECT_CODE(store().yubikey_by_public_id("nope"), Code::kNotFound);
}

TEST_P(SecurityKeyStoreContract, ImportIsAllOrNothingUnlessReplacing) {
  EXPECT_EQ(must(store().import_yubikeys({key("vvcccc01", "old")}, false, kNow)), 1);
  EXPECT_TRUE(must(store().advance_yubikey_counter("vvcccc01", 300, kNow)));
  // A batch with one known key writes nothing.
  EXPECT_CODE(store().import_yubikeys({key("cccccc02"), key("vvcccc01", "new")}, false, kNow + 1),
              Code::kAlreadyExists);
  EXPECT_CODE(store().yubikey_by_public_id("cccccc02"), Code::kNotFound);
  EXPECT_EQ(must(store().yubikey_by_public_id("vvcccc01")).secret, "old");
  // Replacing: the key was reprogrammed, its counter starts again.
  EXPECT_EQ(
      must(store().import_yubikeys({key("cccccc02"), key("vvcccc01", "new")}, true, kNow + 1)), 1);
  auto k = must(store().yubikey_by_public_id("vvcccc01"));
  EXPECT_EQ(k.secret, "new");
  EXPECT_EQ(k.last_counter, -1);
  EXPECT_EQ(k.imported_at, kNow + 1);
}

TEST_P(SecurityKeyStoreContract, YubikeyCounterOnlyMovesForward) {
  must(store().import_yubikeys({key("vvcccc01")}, false, kNow));
  EXPECT_TRUE(must(store().advance_yubikey_counter("vvcccc01", 0x100, kNow)));
  EXPECT_FALSE(must(store().advance_yubikey_counter("vvcccc01", 0x100, kNow + 1)));  // replay
  EXPECT_FALSE(must(store().advance_yubikey_counter("vvcccc01", 0x0ff, kNow + 1)));  // rollback
  EXPECT_TRUE(must(store().advance_yubikey_counter("vvcccc01", 0x101, kNow + 2)));
  auto k = must(store().yubikey_by_public_id("vvcccc01"));
  EXPECT_EQ(k.last_counter, 0x101);
  EXPECT_EQ(k.last_used_at, kNow + 2);
  EXPECT_CODE(store().advance_yubikey_counter("unknown", 1, kNow), Code::kNotFound);
}

TEST_P(SecurityKeyStoreContract, ConcurrentYubikeyOtpWinsOnce) {
  must(store().import_yubikeys({key("vvcccc01")}, false, kNow));
  std::atomic<int> wins{0};
  std::atomic<int> errors{0};
  in_parallel(16, [&](int) {
    auto r = store().advance_yubikey_counter("vvcccc01", 0x4242, kNow);
    if (!r) {
      ++errors;
    } else if (*r) {
      ++wins;
    }
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(errors.load(), 0);
}

TEST_P(SecurityKeyStoreContract, ChallengeIsSingleUseAndBoundToSessionAndPurpose) {
  User alice = user("alice");
  Session s1 = session_for(alice.id, "t1", SessionState::kPendingSecondFactor);
  Session s2 = session_for(alice.id, "t2", SessionState::kPendingSecondFactor);
  must_ok(store().put_webauthn_challenge(s1.id, "login", "c1", kNow + 300));
  EXPECT_CODE(store().take_webauthn_challenge(s2.id, "login", kNow), Code::kNotFound);
  EXPECT_CODE(store().take_webauthn_challenge(s1.id, "register", kNow), Code::kNotFound);
  EXPECT_EQ(must(store().take_webauthn_challenge(s1.id, "login", kNow)), "c1");
  EXPECT_CODE(store().take_webauthn_challenge(s1.id, "login", kNow), Code::kNotFound);
}

TEST_P(SecurityKeyStoreContract, NewChallengeReplacesTheOldOne) {
  User alice = user("alice");
  Session s = session_for(alice.id, "t1");
  must_ok(store().put_webauthn_challenge(s.id, "login", "old", kNow + 300));
  must_ok(store().put_webauthn_challenge(s.id, "login", "new", kNow + 300));
  must_ok(store().put_webauthn_challenge(s.id, "register", "reg", kNow + 300));
  EXPECT_EQ(must(store().take_webauthn_challenge(s.id, "login", kNow)), "new");
  EXPECT_EQ(must(store().take_webauthn_challenge(s.id, "register", kNow)), "reg");
}

TEST_P(SecurityKeyStoreContract, ExpiredChallengeIsGoneAndPurged) {
  User alice = user("alice");
  Session s = session_for(alice.id, "t1");
  must_ok(store().put_webauthn_challenge(s.id, "login", "c", kNow + 300));
  EXPECT_CODE(store().take_webauthn_challenge(s.id, "login", kNow + 300), Code::kNotFound);
  // Taking an expired challenge still removed it.
  EXPECT_EQ(must(store().delete_expired_webauthn_challenges(kNow + 1000)), 0);
  must_ok(store().put_webauthn_challenge(s.id, "login", "c", kNow + 300));
  must_ok(store().put_webauthn_challenge(s.id, "register", "c", kNow + 600));
  EXPECT_EQ(must(store().delete_expired_webauthn_challenges(kNow + 300)), 1);
  EXPECT_EQ(must(store().take_webauthn_challenge(s.id, "register", kNow + 301)), "c");
}

TEST_P(SecurityKeyStoreContract, ChallengeEndsWithItsSession) {
  User alice = user("alice");
  Session s = session_for(alice.id, "t1");
  must_ok(store().put_webauthn_challenge(s.id, "login", "c", kNow + 300));
  must_ok(store().delete_session(s.id));
  EXPECT_CODE(store().take_webauthn_challenge(s.id, "login", kNow), Code::kNotFound);
  EXPECT_CODE(store().put_webauthn_challenge(s.id, "login", "c", kNow + 300), Code::kNotFound);
}

TEST_P(SecurityKeyStoreContract, ConcurrentChallengeTakeWinsOnce) {
  User alice = user("alice");
  Session s = session_for(alice.id, "t1");
  must_ok(store().put_webauthn_challenge(s.id, "login", "c", kNow + 300));
  std::atomic<int> wins{0};
  std::atomic<int> other_errors{0};
  in_parallel(16, [&](int) {
    auto r = store().take_webauthn_challenge(s.id, "login", kNow);
    if (r) {
      ++wins;
    } else if (r.error().code != Code::kNotFound) {
      ++other_errors;
    }
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(other_errors.load(), 0);
}

TEST_P(SecurityKeyStoreContract, SecurityKeyMethodsAreUniquePerCredential) {
  User alice = user("alice");
  User bob = user("bob");
  Method m;
  m.user_id = alice.id;
  m.type = "webauthn";
  m.label = "key";
  m.lookup = "credential-id-b64";
  m.confirmed = true;
  m.created_at = kNow;
  m.last_step = 7;  // the sign counter at registration
  Method stored = must(store().create_method(m));
  EXPECT_EQ(stored.last_step, 7);
  EXPECT_TRUE(stored.is_default);
  m.user_id = bob.id;
  EXPECT_CODE(store().create_method(m), Code::kAlreadyExists);
  // The same public id as a YubiKey is another type: allowed.
  m.type = "yubiotp";
  EXPECT_TRUE(store().create_method(m).has_value());
  // The counter: forward only.
  EXPECT_FALSE(must(store().advance_method_step(stored.id, 7, kNow)));
  EXPECT_TRUE(must(store().advance_method_step(stored.id, 8, kNow)));
}

INSTANTIATE_TEST_SUITE_P(Backends, SecurityKeyStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
