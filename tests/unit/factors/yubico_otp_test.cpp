// Yubico OTP parsing and decryption with OTPs that libyubikey generates in the test, and the
// key files personalization tools write.
#include "twostep/factors/yubico_otp/yubico_otp.hpp"

#include <gtest/gtest.h>

#include "unit/soft_yubikey.hpp"

namespace twostep::factors::yubico_otp {
namespace {

using testing::SoftYubikey;

TEST(YubicoOtpTest, AcceptsGeneratedOtps) {
  SoftYubikey key;
  std::string otp = key.otp();
  ASSERT_EQ(otp.size(), 44u);
  auto parsed = parse_otp(otp);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().detail;
  EXPECT_EQ(parsed->public_id, key.public_id);
  auto c = decrypt_token(parsed->token, key.aes_key, key.private_id);
  ASSERT_TRUE(c.has_value()) << c.error().detail;
  EXPECT_EQ(c->session_counter, key.session_counter);
  EXPECT_EQ(c->use, 0);
  // Each press within a power-up, then each power-up, makes the counter larger.
  auto c2 = decrypt_token(parse_otp(key.otp())->token, key.aes_key, key.private_id);
  ASSERT_TRUE(c2.has_value());
  EXPECT_GT(c2->combined(), c->combined());
  key.power_cycle();
  auto c3 = decrypt_token(parse_otp(key.otp())->token, key.aes_key, key.private_id);
  ASSERT_TRUE(c3.has_value());
  EXPECT_GT(c3->combined(), c2->combined());
}

TEST(YubicoOtpTest, ToleratesCapsLockAndWhitespace) {
  SoftYubikey key;
  std::string otp = key.otp();
  std::string upper = otp;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto parsed = parse_otp("  " + upper + "\n");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->public_id, key.public_id);
  EXPECT_TRUE(decrypt_token(parsed->token, key.aes_key, key.private_id).has_value());
}

TEST(YubicoOtpTest, RefusesGarbage) {
  SoftYubikey key;
  std::string otp = key.otp();
  for (std::string bad : {std::string(), std::string("ccccccccccc"), otp.substr(0, 43), otp + "c",
                          otp.substr(12),  // no public id
                          std::string(otp).replace(20, 1, "a"), std::string(otp).replace(0, 1, "1"),
                          std::string(80, 'c'),
                          std::string("ccccccccccccccccccccccccccccccccc"
                                      "\xc3\xa9"
                                      "cccccccccc")}) {
    auto r = parse_otp(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_EQ(r.error().reason, "invalid_otp");
    }
  }
}

TEST(YubicoOtpTest, RefusesWrongKeyPrivateIdAndDamage) {
  SoftYubikey key;
  auto parsed = parse_otp(key.otp());
  ASSERT_TRUE(parsed.has_value());
  SoftYubikey other;
  EXPECT_FALSE(decrypt_token(parsed->token, other.aes_key, key.private_id).has_value());
  EXPECT_FALSE(decrypt_token(parsed->token, key.aes_key, other.private_id).has_value());
  std::string damaged = parsed->token;
  damaged[3] ^= 0x40;
  EXPECT_FALSE(decrypt_token(damaged, key.aes_key, key.private_id).has_value());
  EXPECT_FALSE(decrypt_token(parsed->token.substr(1), key.aes_key, key.private_id).has_value());
  EXPECT_FALSE(decrypt_token(parsed->token, key.aes_key.substr(1), key.private_id).has_value());
}

TEST(YubicoOtpTest, ParsesKeyFiles) {
  std::string text =
      "# exported keys\n"
      "LOGGING START,12/10/12 10:43\n"
      "Yubico OTP,12/10/12 "
      "10:43,1,vvccccbdhkti,0f1a0c29f5d0,f0a52a51263a1ad4085ca6ad6e6b09eb,,,0,0,0,0,0,0,0,0,0,0\r\n"
      "\n"
      "2114155,VVCCCCBDHKTJ,0f1a0c29f5d1,F0A52A51263A1AD4085CA6AD6E6B09EC,,2012-12-10T10:43:40,\n"
      "vvccccbdhktk,0f1a0c29f5d2,f0a52a51263a1ad4085ca6ad6e6b09ed";
  auto keys = parse_key_file(text);
  ASSERT_TRUE(keys.has_value()) << keys.error().message;
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].public_id, "vvccccbdhkti");
  EXPECT_EQ((*keys)[0].private_id, std::string("\x0f\x1a\x0c\x29\xf5\xd0", 6));
  EXPECT_EQ((*keys)[0].aes_key.size(), 16u);
  EXPECT_EQ((*keys)[1].public_id, "vvccccbdhktj");
  EXPECT_EQ((*keys)[2].public_id, "vvccccbdhktk");
}

TEST(YubicoOtpTest, KeyFileErrorsNameTheLineNotTheSecret) {
  auto r = parse_key_file(
      "vvccccbdhkti,0f1a0c29f5d0,f0a52a51263a1ad4085ca6ad6e6b09eb\n"
      "vvccccbdhktj,0f1a0c29f5d0,f0a52a51263a1ad4085ca6ad6e6b09\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos);
  EXPECT_EQ(r.error().message.find("f0a52a"), std::string::npos);
  EXPECT_FALSE(parse_key_file("xyz,0f1a0c29f5d0,f0a52a51263a1ad4085ca6ad6e6b09eb").has_value());
  EXPECT_FALSE(
      parse_key_file("vvccccbdhkti,0f1a0c29f5,f0a52a51263a1ad4085ca6ad6e6b09eb").has_value());
  EXPECT_FALSE(parse_key_file("vvccccbdhkti,0f1a0c29f5d0").has_value());
  auto empty = parse_key_file("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace twostep::factors::yubico_otp
