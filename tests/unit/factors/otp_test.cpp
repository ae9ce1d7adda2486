#include "twostep/factors/otp.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <stdexcept>

#include "twostep/crypto/encoding.hpp"
#include "twostep/crypto/random.hpp"

namespace twostep::factors {
namespace {

const std::string kSeed20 = "12345678901234567890";
const std::string kSeed32 = "12345678901234567890123456789012";
const std::string kSeed64 = "1234567890123456789012345678901234567890123456789012345678901234";

TEST(HotpTest, Rfc4226AppendixD) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t c = 0; c < 10; ++c) {
    EXPECT_EQ(hotp(HashAlg::kSha1, kSeed20, c, 6), expected[c]) << "counter " << c;
  }
}

TEST(HotpTest, DigitsOutOfRangeThrow) {
  EXPECT_THROW(hotp(HashAlg::kSha1, kSeed20, 0, 0), std::invalid_argument);
  EXPECT_THROW(hotp(HashAlg::kSha1, kSeed20, 0, 11), std::invalid_argument);
  EXPECT_EQ(hotp(HashAlg::kSha1, kSeed20, 0, 10).size(), 10u);
}

struct TotpVector {
  int64_t time;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};

// RFC 6238 Appendix B.
constexpr TotpVector kRfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

TEST(TotpTest, Rfc6238AppendixB) {
  for (const auto& v : kRfc6238) {
    EXPECT_EQ(totp({HashAlg::kSha1, 8, 30}, kSeed20, v.time), v.sha1) << v.time;
    EXPECT_EQ(totp({HashAlg::kSha256, 8, 30}, kSeed32, v.time), v.sha256) << v.time;
    EXPECT_EQ(totp({HashAlg::kSha512, 8, 30}, kSeed64, v.time), v.sha512) << v.time;
  }
}

TEST(TotpTest, Rfc6238VectorsMatchThemselves) {
  for (const auto& v : kRfc6238) {
    const int64_t step = totp_step(v.time, 30);
    EXPECT_EQ(totp_match({HashAlg::kSha1, 8, 30}, kSeed20, v.sha1, v.time, 0), step);
    EXPECT_EQ(totp_match({HashAlg::kSha256, 8, 30}, kSeed32, v.sha256, v.time, 0), step);
    EXPECT_EQ(totp_match({HashAlg::kSha512, 8, 30}, kSeed64, v.sha512, v.time, 0), step);
  }
}

TEST(TotpTest, StepIsFloor) {
  EXPECT_EQ(totp_step(0, 30), 0);
  EXPECT_EQ(totp_step(29, 30), 0);
  EXPECT_EQ(totp_step(30, 30), 1);
  EXPECT_EQ(totp_step(59, 30), 1);
  EXPECT_EQ(totp_step(-1, 30), -1);
  EXPECT_EQ(totp_step(-30, 30), -1);
  EXPECT_EQ(totp_step(-31, 30), -2);
  EXPECT_THROW(totp_step(10, 0), std::invalid_argument);
}

class TotpMatchTest : public ::testing::Test {
 protected:
  const TotpParams p_{};
  const int64_t now_ = 1'700'000'015;  // mid-step
  const int64_t step_ = 1'700'000'015 / 30;
  std::string code_at(int64_t offset_steps) const {
    return totp(p_, kSeed20, now_ + offset_steps * 30);
  }
};

TEST_F(TotpMatchTest, AcceptsWithinWindowAndReturnsStep) {
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(0), now_, 1), step_);
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(-1), now_, 1), step_ - 1);
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(1), now_, 1), step_ + 1);
}

TEST_F(TotpMatchTest, RefusesOutsideWindow) {
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(-2), now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(2), now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(1), now_, 0), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, code_at(2), now_, 2), step_ + 2);
}

TEST_F(TotpMatchTest, RefusesMalformedCodes) {
  const std::string good = code_at(0);
  EXPECT_EQ(totp_match(p_, kSeed20, "", now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, good.substr(0, 5), now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, good + "0", now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, "12345a", now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, " " + good.substr(1), now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, "-12345", now_, 1), std::nullopt);
  EXPECT_EQ(totp_match(p_, kSeed20, good, now_, -1), std::nullopt);
  EXPECT_EQ(totp_match({HashAlg::kSha1, 6, 0}, kSeed20, good, now_, 1), std::nullopt);
}

TEST_F(TotpMatchTest, WrongKeyRefused) {
  EXPECT_EQ(totp_match(p_, "another key of 20 by", code_at(0), now_, 1), std::nullopt);
}

TEST_F(TotpMatchTest, EarliestMatchingStepWins) {
  // With one digit, codes repeat often: find a key whose code at now-1 and now+1 is the same,
  // so two candidates match and the earlier one must be returned.
  const TotpParams one_digit{HashAlg::kSha1, 1, 30};
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const std::string a = totp(one_digit, key, now_ - 30);
    if (a == totp(one_digit, key, now_ + 30)) {
      EXPECT_EQ(totp_match(one_digit, key, a, now_, 1), step_ - 1);
      return;
    }
  }
  FAIL() << "no key with repeating codes found";
}

TEST_F(TotpMatchTest, StepsBeforeEpochAreNotCandidates) {
  const std::string at_zero = totp(p_, kSeed20, 0);
  EXPECT_EQ(totp_match(p_, kSeed20, at_zero, 5, 1), 0);
  EXPECT_EQ(totp_match(p_, kSeed20, at_zero, -20, 1), 0);
}

// An independent implementation: oathtool, run for random secrets and times.
std::string oathtool(const std::string& alg, const std::string& secret_b32, int digits,
                     int64_t time) {
  const std::string cmd = "oathtool --totp=" + alg + " -d " + std::to_string(digits) + " -b " +
                          secret_b32 + " -N @" + std::to_string(time) + " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return "popen failed";
  std::string out;
  char buf[128];
  while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
  ::pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(TotpCrossCheckTest, AgreesWithOathtool) {
  if (std::system("command -v oathtool >/dev/null 2>&1") != 0) {
    FAIL() << "oathtool is not installed (scripts/install-deps installs it): the independent TOTP app is required";
  }
  struct Case {
    HashAlg alg;
    const char* name;
    std::size_t key_size;
    int digits;
  };
  const Case cases[] = {{HashAlg::kSha1, "sha1", 20, 6},     {HashAlg::kSha1, "sha1", 10, 6},
                        {HashAlg::kSha1, "sha1", 15, 8},     {HashAlg::kSha1, "sha1", 32, 6},
                        {HashAlg::kSha256, "sha256", 32, 6}, {HashAlg::kSha512, "sha512", 64, 8}};
  for (const auto& c : cases) {
    const std::string key = crypto::random_bytes(c.key_size);
    const std::string b32 = crypto::base32_encode(key);
    const int64_t t = 1'000'000'000 + crypto::random_uniform(1'000'000'000);
    EXPECT_EQ(totp({c.alg, c.digits, 30}, key, t), oathtool(c.name, b32, c.digits, t))
        << c.name << " key=" << b32 << " t=" << t;
  }
}

TEST(OtpauthTest, EscapesIssuerAndAccount) {
  const std::string uri =
      otpauth_uri(TotpParams{}, "Acme Co", "alice@example.com", "JBSWY3DPEHPK3PXP");
  EXPECT_EQ(uri,
            "otpauth://totp/Acme%20Co:alice%40example.com?secret=JBSWY3DPEHPK3PXP"
            "&issuer=Acme%20Co&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthTest, ColonsAndReservedCharactersAreEncoded) {
  const std::string uri = otpauth_uri({HashAlg::kSha256, 8, 60}, "A:B&C", "x:y?z/é", "ABC");
  EXPECT_EQ(uri,
            "otpauth://totp/A%3AB%26C:x%3Ay%3Fz%2F%C3%A9?secret=ABC&issuer=A%3AB%26C"
            "&algorithm=SHA256&digits=8&period=60");
}

TEST(OtpauthTest, EmptyIssuerLeavesItOut) {
  EXPECT_EQ(otpauth_uri(TotpParams{}, "", "bob", "ABC"),
            "otpauth://totp/bob?secret=ABC&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthTest, HashAlgNames) {
  EXPECT_EQ(parse_hash_alg("SHA1"), HashAlg::kSha1);
  EXPECT_EQ(parse_hash_alg("sha256"), HashAlg::kSha256);
  EXPECT_EQ(parse_hash_alg("Sha512"), HashAlg::kSha512);
  EXPECT_EQ(parse_hash_alg("MD5"), std::nullopt);
  EXPECT_EQ(parse_hash_alg(""), std::nullopt);
  EXPECT_EQ(parse_hash_alg("SHA-1"), std::nullopt);
  for (auto alg : {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha512}) {
    EXPECT_EQ(parse_hash_alg(hash_alg_name(alg)), alg);
  }
  EXPECT_EQ(hash_alg_name(HashAlg::kSha512), "SHA512");
}

}  // namespace
}  // namespace twostep::factors
