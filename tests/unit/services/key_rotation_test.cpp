// Master-key rotation and recovery codes: a set made under one key still works once another key
// is current, new sets use the current key, and a key that left the file fails cleanly.
#include <gtest/gtest.h>

#include "fixture.hpp"
#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/pepper.hpp"
#include "twostep/factors/recovery.hpp"

namespace twostep::services::testing {
namespace {

crypto::Keyring rotated() {
  return crypto::Keyring::from_keys({{1, std::string(32, '\x42')}, {2, std::string(32, '\x43')}},
                                    2);
}

class KeyRotationTest : public ServicesTest {
 protected:
  Result<CodeCheck> use(const store::User& u, const std::string& code) {
    return twofa_->check_code(u, "recovery", code, std::nullopt, &client_);
  }
  std::vector<uint32_t> key_ids(const store::User& u) {
    auto ids = store_->recovery_code_key_ids(u.id);
    EXPECT_TRUE(ids) << ids.error().message;
    return ids ? *ids : std::vector<uint32_t>{};
  }
};

TEST_F(KeyRotationTest, CodesMadeUnderAnOlderKeyStillWork) {
  auto u = make_user();
  auto codes = twofa_->new_recovery_codes(u, client_);
  ASSERT_TRUE(codes);
  EXPECT_EQ(key_ids(u), std::vector<uint32_t>{1});

  keyring_ = rotated();
  rebuild();
  auto ok = use(u, (*codes)[0]);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->recovery_remaining, 9);
  auto replay = use(u, (*codes)[0]);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().reason, "invalid_code");
  EXPECT_FALSE(use(u, "aaaa-bbbb-cccc-dddd"));  // well-formed, not one of them

  // A new set is made under the current key; the old set stops working.
  auto fresh = twofa_->new_recovery_codes(u, client_);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(key_ids(u), std::vector<uint32_t>{2});
  EXPECT_FALSE(use(u, (*codes)[1]));
  EXPECT_TRUE(use(u, (*fresh)[0]));
}

TEST_F(KeyRotationTest, CodesOfAKeyMissingFromTheFileAreRefusedCleanly) {
  auto u = make_user();
  auto codes = twofa_->new_recovery_codes(u, client_);
  ASSERT_TRUE(codes);
  keyring_ = crypto::Keyring::from_keys({{2, std::string(32, '\x43')}}, 2);
  rebuild();
  auto r = use(u, (*codes)[0]);
  ASSERT_FALSE(r);
  // Refused with a clear "try again" (503), not as a wrong code nor an internal error.
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
  EXPECT_EQ(r.error().reason, "master_key_unavailable");
  EXPECT_EQ(*twofa_->recovery_remaining(u.id), 10);  // nothing was spent
}

TEST_F(KeyRotationTest, RowsFromBeforeKeyIdsUseTheCurrentKeyUntilPinned) {
  auto u = make_user();
  // A set as twostep wrote it before migration 0007: key 1's pepper, key_id 0.
  const crypto::Pepper pepper(keyring_, "recovery-codes");
  const std::vector<std::string> codes = factors::generate_recovery_codes(3);
  std::vector<std::string> hashes;
  for (const auto& c : codes) {
    auto canonical = factors::normalize_recovery_code(c);
    ASSERT_TRUE(canonical) << c;
    hashes.push_back(pepper.hash_hex(std::to_string(u.id) + ":" + *canonical));
  }
  ASSERT_TRUE(store_->replace_recovery_codes(u.id, hashes, crypto::Keyring::kLegacyKeyId, 0));
  EXPECT_EQ(key_ids(u), std::vector<uint32_t>{0});
  EXPECT_TRUE(use(u, codes[0]));

  // Start-up pins them to the key current then (1); after rotation they still work.
  auto pinned = store_->pin_legacy_key_ids(keyring_.current_id());
  ASSERT_TRUE(pinned);
  EXPECT_EQ(*pinned, 3);
  EXPECT_EQ(key_ids(u), std::vector<uint32_t>{1});
  keyring_ = rotated();
  rebuild();
  EXPECT_TRUE(use(u, codes[1]));
  EXPECT_FALSE(use(u, codes[0]));
}

// `twostep key reseal`: secrets sealed under key 1 are sealed again under key 2, after which
// key 1 can leave the file; what does not open is counted, not fatal.
TEST_F(KeyRotationTest, ResealMovesMethodSecretsToTheCurrentKey) {
  auto u = make_user();
  auto enrol = twofa_->begin_totp(u, "phone");
  ASSERT_TRUE(enrol) << enrol.error().message;
  auto before = *store_->method_of_user(u.id, enrol->method_id);
  EXPECT_EQ(crypto::Keyring::sealed_key_id(before.secret), 1u);

  keyring_ = rotated();
  rebuild();
  auto n = twofa_->reseal_secrets();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->resealed, 1);
  EXPECT_EQ(n->failed, 0);
  auto after = *store_->method_of_user(u.id, enrol->method_id);
  EXPECT_EQ(crypto::Keyring::sealed_key_id(after.secret), 2u);
  EXPECT_EQ(twofa_->reseal_secrets()->resealed, 0);  // nothing left to do

  // Key 1 can go: the seed opens with key 2 alone, and is the same seed.
  auto seed_before = twofa_->method_seed(before);
  keyring_ = crypto::Keyring::from_keys({{2, std::string(32, '\x43')}}, 2);
  rebuild();
  auto seed_after = twofa_->method_seed(after);
  ASSERT_TRUE(seed_after) << seed_after.error().detail;
  ASSERT_TRUE(seed_before);
  EXPECT_EQ(seed_after->view(), seed_before->view());
  EXPECT_EQ(crypto::base32_encode(seed_after->view()), enrol->secret_base32);

  // A secret whose key is missing is counted as failed and left as it is.
  keyring_ = crypto::Keyring::from_keys({{3, std::string(32, '\x44')}}, 3);
  rebuild();
  auto lost = twofa_->reseal_secrets();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->resealed, 0);
  EXPECT_EQ(lost->failed, 1);
  EXPECT_EQ(store_->method_of_user(u.id, enrol->method_id)->secret, after.secret);
}

}  // namespace
}  // namespace twostep::services::testing
