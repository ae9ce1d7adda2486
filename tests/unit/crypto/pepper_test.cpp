#include "twostep/crypto/pepper.hpp"

#include <gtest/gtest.h>

#include "twostep/crypto/hash.hpp"

namespace twostep::crypto {
namespace {

Keyring two_keys(uint32_t current) {
  return Keyring::from_keys({{1, std::string(32, 'a')}, {2, std::string(32, 'b')}}, current);
}

TEST(PepperTest, HashesWithTheCurrentKeyAndChecksWithAnyKnownKey) {
  const Keyring old_ring = Keyring::from_keys({{1, std::string(32, 'a')}}, 1);
  const Pepper before(old_ring, "purpose");
  const Pepper after(two_keys(2), "purpose");
  EXPECT_EQ(before.current_id(), 1u);
  EXPECT_EQ(after.current_id(), 2u);

  const std::string made = before.hash_hex("data");
  EXPECT_EQ(made, keyed_hash_hex(old_ring.derive("purpose"), "data"));
  EXPECT_EQ(after.hash_hex(1, "data"), made);  // an old hash still checks after rotation
  EXPECT_NE(after.hash_hex("data"), made);     // new hashes use the new key
  EXPECT_EQ(after.hash_hex(2, "data"), after.hash_hex("data"));
  EXPECT_NE(Pepper(two_keys(2), "other").hash_hex(1, "data"), made);  // purposes are separate
}

TEST(PepperTest, LegacyIdMeansTheCurrentKeyAndUnknownIdsFailCleanly) {
  const Pepper p(two_keys(2), "purpose");
  EXPECT_EQ(p.hash_hex(Keyring::kLegacyKeyId, "data"), p.hash_hex("data"));
  EXPECT_FALSE(p.hash_hex(3, "data"));
  EXPECT_FALSE(p.hash_hex(UINT32_MAX, "data"));
}

}  // namespace
}  // namespace twostep::crypto
