#include "twostep/crypto/hash.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::crypto {
namespace {

TEST(HashTest, Sha256KnownAnswer) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256("abc").size(), 32u);
  EXPECT_EQ(hex_encode(sha256("abc")), sha256_hex("abc"));
}

// RFC 2202 (SHA-1) and RFC 4231 (SHA-2) test case 2, plus a key longer than the block.
TEST(HashTest, HmacKnownAnswers) {
  const std::string data = "what do ya want for nothing?";
  EXPECT_EQ(hex_encode(hmac(HashAlg::kSha1, "Jefe", data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(hex_encode(hmac(HashAlg::kSha256, "Jefe", data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex_encode(hmac(HashAlg::kSha512, "Jefe", data)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6"
            "d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  EXPECT_EQ(hex_encode(hmac(HashAlg::kSha1, std::string(80, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First")),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  EXPECT_EQ(hex_encode(hmac(HashAlg::kSha256, "", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(HashTest, ReusedHmacKeyGivesSameMacsAsOneShot) {
  Hmac h(HashAlg::kSha1, "Jefe");
  EXPECT_EQ(h.size(), 20u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(h.mac("what do ya want for nothing?"),
              hmac(HashAlg::kSha1, "Jefe", "what do ya want for nothing?"));
    EXPECT_EQ(h.mac("other"), hmac(HashAlg::kSha1, "Jefe", "other"));
  }
  Hmac moved = std::move(h);
  EXPECT_EQ(moved.mac("x"), hmac(HashAlg::kSha1, "Jefe", "x"));
}

// Hmac (plain digest contexts) and hmac() (EVP_MAC) are separate paths: they must agree for
// every algorithm and for keys around each block size (hashed when longer than a block).
TEST(HashTest, ReusedHmacAgreesWithEvpMacForAllAlgsAndKeySizes) {
  for (auto alg : {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha512}) {
    for (std::size_t key_size : {0, 1, 20, 32, 63, 64, 65, 127, 128, 129, 300}) {
      const std::string key = random_bytes(key_size);
      Hmac h(alg, key);
      ASSERT_EQ(h.size(), hash_size(alg));
      for (std::size_t data_size : {0, 8, 55, 56, 64, 200}) {
        const std::string data = random_bytes(data_size);
        ASSERT_EQ(hex_encode(h.mac(data)), hex_encode(hmac(alg, key, data)))
            << "alg " << static_cast<int>(alg) << " key " << key_size << " data " << data_size;
      }
    }
  }
}

TEST(HashTest, HmacWorksFromManyThreads) {
  const std::string expected = hmac(HashAlg::kSha256, "key", "data");
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (hmac(HashAlg::kSha256, "key", "data") != expected) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(HashTest, KeyedHashMatchesBlake2bAndDependsOnKey) {
  std::string key;
  for (int i = 0; i < 32; ++i) key.push_back(static_cast<char>(i));
  // hashlib.blake2b(b'abcd-efgh', key=bytes(range(32)), digest_size=32)
  EXPECT_EQ(keyed_hash_hex(key, "abcd-efgh"),
            "e9b2113908cc89f1424285d6e43e5cdf3b7da2594806f01bd7664be3357aa205");
  std::string other = key;
  other[0] = 'x';
  EXPECT_NE(keyed_hash_hex(other, "abcd-efgh"), keyed_hash_hex(key, "abcd-efgh"));
  EXPECT_NE(keyed_hash_hex(key, "abcd-efgi"), keyed_hash_hex(key, "abcd-efgh"));
}

TEST(HashTest, KeyedHashRejectsWrongKeySize) {
  EXPECT_THROW(keyed_hash_hex("short", "x"), std::invalid_argument);
  EXPECT_THROW(keyed_hash_hex(std::string(33, 'k'), "x"), std::invalid_argument);
}

TEST(HashTest, CtEqualBasics) {
  EXPECT_TRUE(ct_equal("", ""));
  EXPECT_TRUE(ct_equal("123456", "123456"));
  EXPECT_FALSE(ct_equal("123456", "123457"));
  EXPECT_FALSE(ct_equal("123456", "1234567"));
  EXPECT_FALSE(ct_equal("", "a"));
  EXPECT_TRUE(ct_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ct_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace twostep::crypto
