// The store contract for master-key ids (migration 0007): key ids next to recovery-code and
// SMS-code hashes, pinning rows written before key ids were kept, the per-key usage that
// `twostep key list` shows, and the stored WebAuthn user handle. Every backend runs it.
#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "twostep/crypto/keyring.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using contract::must_ok;
using core::Code;

// A sealed-blob header as crypto::Keyring writes it: version 1, big-endian key id.
std::string sealed_with(uint32_t key_id) {
  const crypto::Keyring k = crypto::Keyring::from_keys({{key_id, std::string(32, 'k')}}, key_id);
  return k.seal("secret", "ad");
}

class KeyIdStoreContract : public contract::ContractFixture {
 protected:
  SmsCode sms(int64_t user_id, uint32_t key_id, int64_t at = kNow) {
    SmsCode c;
    c.user_id = user_id;
    c.method_id = 1;
    c.purpose = "auth";
    c.number_hash = "n-" + std::to_string(at);
    c.code_hash = "c";
    c.key_id = key_id;
    c.created_at = at;
    c.expires_at = at + 300;
    return c;
  }
  AppPassword app_password(const User& u, const std::string& lookup, uint32_t key_id) {
    AppPassword p;
    p.user_id = u.id;
    p.name = lookup;
    p.scopes = "mail";
    p.lookup = lookup;
    p.hash = "h";
    p.key_id = key_id;
    p.created_at = kNow;
    return must(store().create_app_password(p, 50));
  }
  int64_t count_of(const std::vector<KeyUse>& uses, const std::string& what, uint32_t key_id) {
    for (const auto& u : uses) {
      if (u.what == what && u.key_id == key_id) return u.count;
    }
    return 0;
  }
};

TEST_P(KeyIdStoreContract, RecoveryCodesKeepTheirKeyId) {
  User alice = user("alice");
  User bob = user("bob");
  must_ok(store().replace_recovery_codes(alice.id, {"a1", "a2"}, 3, kNow));
  must_ok(store().replace_recovery_codes(bob.id, {"b1"}, 4000000000u, kNow));
  EXPECT_EQ(must(store().recovery_code_key_ids(alice.id)), std::vector<uint32_t>{3});
  EXPECT_EQ(must(store().recovery_code_key_ids(bob.id)), std::vector<uint32_t>{4000000000u});
  // The hash alone is not enough: it must be the one made under that key.
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 4, "a1", kNow)));
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 3, "a1", kNow)));
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 3, "a1", kNow)));
  EXPECT_TRUE(must(store().use_recovery_code(bob.id, 4000000000u, "b1", kNow)));
  // Used codes no longer count.
  EXPECT_TRUE(must(store().recovery_code_key_ids(bob.id)).empty());
  EXPECT_TRUE(must(store().recovery_code_key_ids(4242)).empty());
}

TEST_P(KeyIdStoreContract, SmsCodesKeepTheirKeyId) {
  User alice = user("alice");
  SmsReservation r = must(store().sms_reserve(sms(alice.id, 9), 60, kNow / 86400, {}));
  must_ok(store().sms_mark_sent(r.code_id));
  EXPECT_EQ(must(store().sms_latest_code(alice.id, 1, "auth")).key_id, 9u);
}

TEST_P(KeyIdStoreContract, PinningGivesOnlyLegacyRowsTheKeyId) {
  User alice = user("alice");
  User bob = user("bob");
  must_ok(
      store().replace_recovery_codes(alice.id, {"a1", "a2"}, crypto::Keyring::kLegacyKeyId, kNow));
  must_ok(store().replace_recovery_codes(bob.id, {"b1"}, 2, kNow));
  SmsReservation old_code = must(store().sms_reserve(sms(alice.id, 0), 60, kNow / 86400, {}));
  must_ok(store().sms_mark_sent(old_code.code_id));

  EXPECT_EQ(must(store().pin_legacy_key_ids(5)), 3);
  EXPECT_EQ(must(store().recovery_code_key_ids(alice.id)), std::vector<uint32_t>{5});
  EXPECT_EQ(must(store().recovery_code_key_ids(bob.id)), std::vector<uint32_t>{2});
  EXPECT_EQ(must(store().sms_latest_code(alice.id, 1, "auth")).key_id, 5u);
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 5, "a1", kNow)));
  // Idempotent: a second start (or another instance) changes nothing.
  EXPECT_EQ(must(store().pin_legacy_key_ids(6)), 0);
  EXPECT_EQ(must(store().recovery_code_key_ids(alice.id)), std::vector<uint32_t>{5});
}

TEST_P(KeyIdStoreContract, KeyUsageCountsWhatStillNeedsEachKey) {
  EXPECT_TRUE(must(store().key_usage(kNow)).empty());
  User alice = user("alice");
  User bob = user("bob");
  // Sealed secrets: methods (one without a secret) and imported YubiKeys.
  for (uint32_t key_id : {1u, 2u, 2u}) {
    Method m;
    m.user_id = alice.id;
    m.type = "totp";
    m.label = "t";
    m.secret = sealed_with(key_id);
    m.created_at = kNow;
    must(store().create_method(m));
  }
  Method webauthn;
  webauthn.user_id = alice.id;
  webauthn.type = "webauthn";
  webauthn.label = "k";
  webauthn.lookup = "cred";
  webauthn.created_at = kNow;
  must(store().create_method(webauthn));
  YubikeyRecord yk;
  yk.public_id = "cccccccccccb";
  yk.secret = sealed_with(1);
  must(store().import_yubikeys({yk}, false, kNow));
  // Recovery codes: unused ones only.
  must_ok(store().replace_recovery_codes(alice.id, {"a1", "a2", "a3"}, 1, kNow));
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "a1", kNow)));
  must_ok(store().replace_recovery_codes(bob.id, {"b1"}, 2, kNow));
  // Application passwords.
  app_password(bob, "abcd", 3);
  // SMS codes: live ones only (an expired one and a used one do not count).
  must(store().sms_reserve(sms(alice.id, 2, kNow), 0, kNow / 86400, {}));
  must(store().sms_reserve(sms(alice.id, 2, kNow - 1000), 0, kNow / 86400, {}));
  SmsReservation used = must(store().sms_reserve(sms(bob.id, 2, kNow), 0, kNow / 86400, {}));
  must_ok(store().sms_mark_sent(used.code_id));
  EXPECT_TRUE(must(store().sms_consume(used.code_id, kNow)));

  auto uses = must(store().key_usage(kNow));
  EXPECT_EQ(count_of(uses, "sealed_secrets", 1), 2);
  EXPECT_EQ(count_of(uses, "sealed_secrets", 2), 2);
  EXPECT_EQ(count_of(uses, "recovery_codes", 1), 2);
  EXPECT_EQ(count_of(uses, "recovery_codes", 2), 1);
  EXPECT_EQ(count_of(uses, "app_passwords", 3), 1);
  EXPECT_EQ(count_of(uses, "sms_codes", 2), 1);
  int64_t total = 0;
  std::set<std::pair<std::string, uint32_t>> seen;
  for (const auto& u : uses) {
    total += u.count;
    EXPECT_TRUE(seen.insert({u.what, u.key_id}).second) << "one row per kind and key";
  }
  EXPECT_EQ(total, 9);
}

TEST_P(KeyIdStoreContract, RetiringAKeyRemovesOnlyItsDependents) {
  User alice = user("alice");
  User bob = user("bob");
  User carol = user("carol");
  // Recovery codes: alice 3 under key 1 (one used), bob 1 under key 1, carol 2 under key 2.
  must_ok(store().replace_recovery_codes(alice.id, {"a1", "a2", "a3"}, 1, kNow));
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "a1", kNow)));
  must_ok(store().replace_recovery_codes(bob.id, {"b1"}, 1, kNow));
  must_ok(store().replace_recovery_codes(carol.id, {"c1", "c2"}, 2, kNow));
  AppPassword bob1 = app_password(bob, "bob1", 1);
  app_password(bob, "bob2", 2);
  AppPassword alice1 = app_password(alice, "ali1", 1);
  // SMS codes under key 1: one live, one expired, one used; one live under key 2.
  must(store().sms_reserve(sms(alice.id, 1, kNow), 0, kNow / 86400, {}));
  must(store().sms_reserve(sms(alice.id, 1, kNow - 1000), 0, kNow / 86400, {}));
  SmsReservation used = must(store().sms_reserve(sms(bob.id, 1, kNow), 0, kNow / 86400, {}));
  must_ok(store().sms_mark_sent(used.code_id));
  EXPECT_TRUE(must(store().sms_consume(used.code_id, kNow)));
  must(store().sms_reserve(sms(carol.id, 2, kNow), 0, kNow / 86400, {}));

  // Application passwords: listed, not deleted (the service revokes them one by one).
  auto of_key1 = must(store().app_passwords_of_key(1));
  ASSERT_EQ(of_key1.size(), 2u);
  EXPECT_EQ(of_key1[0].id, bob1.id);
  EXPECT_EQ(of_key1[0].user_id, bob.id);
  EXPECT_EQ(of_key1[1].id, alice1.id);
  EXPECT_EQ(of_key1[1].key_id, 1u);
  EXPECT_TRUE(must(store().app_passwords_of_key(7)).empty());
  EXPECT_EQ(must(store().app_passwords_of_user(bob.id)).size(), 2u);

  auto revoked = must(store().delete_recovery_codes_of_key(1));
  ASSERT_EQ(revoked.size(), 2u);
  const User& first = alice.id < bob.id ? alice : bob;
  EXPECT_EQ(revoked[0].user_id, first.id);
  EXPECT_EQ(revoked[0].count, first.id == alice.id ? 2 : 1);
  EXPECT_EQ(revoked[1].count, first.id == alice.id ? 1 : 2);
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 0);
  EXPECT_EQ(must(store().remaining_recovery_codes(bob.id)), 0);
  EXPECT_EQ(must(store().remaining_recovery_codes(carol.id)), 2);
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 1, "a2", kNow)));
  // Again: nothing left under the key (used codes went too).
  EXPECT_TRUE(must(store().delete_recovery_codes_of_key(1)).empty());
  // A user with only used codes under the key is not named.
  User dave = user("dave");
  must_ok(store().replace_recovery_codes(dave.id, {"d1"}, 3, kNow));
  EXPECT_TRUE(must(store().use_recovery_code(dave.id, 3, "d1", kNow)));
  EXPECT_TRUE(must(store().delete_recovery_codes_of_key(3)).empty());

  EXPECT_EQ(must(store().delete_live_sms_codes_of_key(1, kNow)), 1);
  EXPECT_EQ(must(store().delete_live_sms_codes_of_key(1, kNow)), 0);
  EXPECT_EQ(must(store().delete_live_sms_codes_of_key(9, kNow)), 0);

  auto uses = must(store().key_usage(kNow));
  EXPECT_EQ(count_of(uses, "recovery_codes", 1), 0);
  EXPECT_EQ(count_of(uses, "sms_codes", 1), 0);
  EXPECT_EQ(count_of(uses, "app_passwords", 1), 2);  // until the service revokes them
  EXPECT_EQ(count_of(uses, "recovery_codes", 2), 2);
  EXPECT_EQ(count_of(uses, "sms_codes", 2), 1);
  EXPECT_EQ(count_of(uses, "app_passwords", 2), 1);
}

TEST_P(KeyIdStoreContract, ResealFindsOtherKeysAndReplacesOnlyAnUnchangedSecret) {
  User alice = user("alice");
  auto method = [&](const std::string& secret, const std::string& type = "totp") {
    Method m;
    m.user_id = alice.id;
    m.type = type;
    m.label = type;
    m.secret = secret;
    m.created_at = kNow;
    return must(store().create_method(m));
  };
  Method old1 = method(sealed_with(1));
  Method current = method(sealed_with(2));
  Method old3 = method(sealed_with(3), "sms");
  method("", "webauthn");
  auto found = must(store().methods_sealed_with_other_keys(2));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, old1.id);
  EXPECT_EQ(found[0].secret, old1.secret);
  EXPECT_EQ(found[1].id, old3.id);
  EXPECT_EQ(found[1].type, "sms");
  (void)current;

  const std::string resealed = sealed_with(2);
  EXPECT_FALSE(must(store().reseal_method_secret(old1.id, "not the secret", resealed)));
  EXPECT_FALSE(must(store().reseal_method_secret(4242, old1.secret, resealed)));
  EXPECT_EQ(must(store().method_of_user(alice.id, old1.id)).secret, old1.secret);
  EXPECT_TRUE(must(store().reseal_method_secret(old1.id, old1.secret, resealed)));
  EXPECT_EQ(must(store().method_of_user(alice.id, old1.id)).secret, resealed);
  EXPECT_FALSE(must(store().reseal_method_secret(old1.id, old1.secret, sealed_with(2))));
  ASSERT_EQ(must(store().methods_sealed_with_other_keys(2)).size(), 1u);

  YubikeyRecord yk;
  yk.public_id = "cccccccccccb";
  yk.secret = sealed_with(1);
  must(store().import_yubikeys({yk}, false, kNow));
  EXPECT_TRUE(must(store().advance_yubikey_counter(yk.public_id, 5, kNow)));
  EXPECT_FALSE(must(store().reseal_yubikey_secret(yk.public_id, "other", resealed)));
  EXPECT_FALSE(must(store().reseal_yubikey_secret("cccccccccccc", yk.secret, resealed)));
  EXPECT_TRUE(must(store().reseal_yubikey_secret(yk.public_id, yk.secret, resealed)));
  YubikeyRecord after = must(store().yubikey_by_public_id(yk.public_id));
  EXPECT_EQ(after.secret, resealed);
  EXPECT_EQ(after.last_counter, 5);  // the counter is kept: no replay after a reseal
}

TEST_P(KeyIdStoreContract, WebauthnUserHandleIsSetOnce) {
  User alice = user("alice");
  const std::string first(32, '\x01');
  EXPECT_EQ(must(store().webauthn_user_handle(alice.id, first)), first);
  EXPECT_EQ(must(store().webauthn_user_handle(alice.id, std::string(32, '\x02'))), first);
  User bob = user("bob");
  const std::string with_nul("\0\xff\x80handle", 9);  // opaque bytes round-trip
  EXPECT_EQ(must(store().webauthn_user_handle(bob.id, with_nul)), with_nul);
  EXPECT_CODE(store().webauthn_user_handle(4242, first), Code::kNotFound);
}

TEST_P(KeyIdStoreContract, ConcurrentFirstHandlesAgree) {
  User alice = user("alice");
  std::vector<std::string> got(8);
  in_parallel(8, [&](int i) {
    auto h = store().webauthn_user_handle(alice.id, std::string(32, static_cast<char>('a' + i)));
    if (h) got[i] = *h;
  });
  for (const auto& h : got) EXPECT_EQ(h, got[0]);
  EXPECT_EQ(got[0].size(), 32u);
}

TEST_P(KeyIdStoreContract, RekeyFindsMethodsOfATypeAndReplacesOnlyUnchangedParams) {
  User alice = user("alice");
  User bob = user("bob");
  auto method = [&](const User& u, const std::string& type, const std::string& params) {
    Method m;
    m.user_id = u.id;
    m.type = type;
    m.label = type;
    m.params = params;
    m.secret = sealed_with(1);
    m.created_at = kNow;
    return must(store().create_method(m));
  };
  Method a = method(alice, "sms", "nh=old-a");
  method(alice, "totp", "nh=old-t");
  Method b = method(bob, "sms", "nh=old-b");  // unconfirmed, another user
  must_ok(store().confirm_method(alice.id, a.id, kNow));
  auto found = must(store().methods_of_type("sms"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, a.id);
  EXPECT_EQ(found[0].params, "nh=old-a");
  EXPECT_TRUE(found[0].confirmed);
  EXPECT_EQ(found[1].id, b.id);
  EXPECT_FALSE(found[1].confirmed);
  EXPECT_TRUE(must(store().methods_of_type("yubiotp")).empty());

  EXPECT_FALSE(must(store().rekey_method_params(a.id, "nh=other", "nh=new-a")));
  EXPECT_FALSE(must(store().rekey_method_params(4242, "nh=old-a", "nh=new-a")));
  EXPECT_EQ(must(store().method_of_user(alice.id, a.id)).params, "nh=old-a");
  EXPECT_TRUE(must(store().rekey_method_params(a.id, "nh=old-a", "nh=new-a")));
  Method after = must(store().method_of_user(alice.id, a.id));
  EXPECT_EQ(after.params, "nh=new-a");
  EXPECT_EQ(after.secret, a.secret);
  EXPECT_TRUE(after.confirmed);
  EXPECT_FALSE(must(store().rekey_method_params(a.id, "nh=old-a", "nh=newer")));
  EXPECT_EQ(must(store().method_of_user(bob.id, b.id)).params, "nh=old-b");
}

INSTANTIATE_TEST_SUITE_P(Backends, KeyIdStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
