#include "twostep/factors/push.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "twostep/crypto/encoding.hpp"

namespace twostep::factors::push {
namespace {

std::string unhex(std::string_view h) { return *crypto::hex_decode(h); }

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72). libsodium's secret key
// is seed || public key.
constexpr const char* kSeed1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kPk1 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kSig1 =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6b"
    "d25bf5f0595bbe24655141438e7a100b";
constexpr const char* kSeed2 = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
constexpr const char* kPk2 = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr const char* kSig2 =
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d"
    "8c"
    "387b2eaeb4302aeeb00d291612bb0c00";

TEST(PushSignatureTest, Rfc8032Vectors) {
  EXPECT_EQ(crypto::hex_encode(sign(unhex(kSeed1) + unhex(kPk1), "")), kSig1);
  EXPECT_TRUE(verify(unhex(kPk1), "", unhex(kSig1)));
  EXPECT_EQ(crypto::hex_encode(sign(unhex(kSeed2) + unhex(kPk2), "\x72")), kSig2);
  EXPECT_TRUE(verify(unhex(kPk2), "\x72", unhex(kSig2)));
  EXPECT_FALSE(verify(unhex(kPk1), "\x72", unhex(kSig2)));  // someone else's signature
}

TEST(PushSignatureTest, SigningStringIsExact) {
  // The body digest is SHA-256 in hex: here of "{}".
  EXPECT_EQ(signing_string("POST", "/api/v1/devices/approvals/7?x=1", "dev1", 1700000000123, "{}"),
            "twostep-auth-v1\nPOST\n/api/v1/devices/approvals/7?x=1\ndev1\n1700000000123\n"
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  // An empty body has the digest of the empty string, not an empty digest.
  EXPECT_NE(signing_string("GET", "/a", "d", 1, "")
                .find("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            std::string::npos);
}

TEST(PushSignatureTest, EveryFieldIsCovered) {
  auto kp = generate_keypair();
  ASSERT_EQ(kp.public_key.size(), kPublicKeySize);
  ASSERT_EQ(kp.secret_key.size(), kSecretKeySize);
  const std::string base = signing_string("POST", "/api/v1/x/1", "dev", 1000, "{\"a\":1}");
  const std::string sig = sign(kp.secret_key.view(), base);
  ASSERT_EQ(sig.size(), kSignatureSize);
  EXPECT_TRUE(verify(kp.public_key, base, sig));
  const std::string changed[] = {
      signing_string("GET", "/api/v1/x/1", "dev", 1000, "{\"a\":1}"),
      signing_string("POST", "/api/v1/x/2", "dev", 1000, "{\"a\":1}"),
      signing_string("POST", "/api/v1/x/1", "dew", 1000, "{\"a\":1}"),
      signing_string("POST", "/api/v1/x/1", "dev", 1001, "{\"a\":1}"),
      signing_string("POST", "/api/v1/x/1", "dev", 1000, "{\"a\":2}"),
  };
  for (const auto& m : changed) EXPECT_FALSE(verify(kp.public_key, m, sig)) << m;
  std::string flipped = sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(verify(kp.public_key, base, flipped));
  EXPECT_FALSE(verify(generate_keypair().public_key, base, sig));
}

TEST(PushSignatureTest, WrongSizesAreRefusedNotCrashes) {
  auto kp = generate_keypair();
  const std::string sig = sign(kp.secret_key.view(), "m");
  EXPECT_FALSE(verify(kp.public_key.substr(0, 31), "m", sig));
  EXPECT_FALSE(verify(kp.public_key, "m", sig.substr(0, 63)));
  EXPECT_FALSE(verify(kp.public_key, "m", sig + "x"));
  EXPECT_FALSE(verify("", "m", ""));
  EXPECT_THROW(sign(std::string(32, 'k'), "m"), std::invalid_argument);
}

TEST(PushTimestampTest, OnlyDigits) {
  EXPECT_EQ(parse_timestamp("1700000000123"), 1700000000123);
  EXPECT_EQ(parse_timestamp("0"), 0);
  EXPECT_FALSE(parse_timestamp(""));
  EXPECT_FALSE(parse_timestamp("-5"));
  EXPECT_FALSE(parse_timestamp("+5"));
  EXPECT_FALSE(parse_timestamp("12 3"));
  EXPECT_FALSE(parse_timestamp("1e9"));
  EXPECT_FALSE(parse_timestamp("12345678901234567"));  // 17 digits
}

TEST(PushEnrollmentUriTest, RoundTrip) {
  Enrollment e{"https://id.example.com:8443", "tok_-en", "ann.b", "ACME & Co"};
  std::string uri = enrollment_uri(e);
  EXPECT_EQ(
      uri.rfind("twostep://enroll?server=https%3A%2F%2Fid.example.com%3A8443&token=tok_-en", 0), 0u)
      << uri;
  auto back = parse_enrollment_uri(uri);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->server, e.server);
  EXPECT_EQ(back->token, e.token);
  EXPECT_EQ(back->account, e.account);
  EXPECT_EQ(back->issuer, "ACME & Co");
}

TEST(PushEnrollmentUriTest, ParsesAnyOrderAndTrimsTheServer) {
  auto e = parse_enrollment_uri("twostep://enroll?token=abc&x=1&server=http%3A%2F%2Fh%3A1%2F");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server, "http://h:1");
  EXPECT_EQ(e->token, "abc");
  EXPECT_EQ(e->account, "");
}

TEST(PushEnrollmentUriTest, RefusesWhatIsNotAnEnrolment) {
  for (const char* bad : {
           "",
           "otpauth://totp/x?secret=AAAA",
           "twostep://enroll?server=http%3A%2F%2Fh",                           // no token
           "twostep://enroll?server=ftp%3A%2F%2Fh&token=a",                    // not http(s)
           "twostep://enroll?server=javascript%3Aalert(1)&token=a",            // not http(s)
           "twostep://enroll?server=http%3A%2F%2Fh%0A.evil&token=a",           // a newline
           "twostep://enroll?server=http%3A%2F%2Fh&token=a&account=%1B%5B2J",  // ESC [2J
           "twostep://enroll?server=http%3A%2F%2Fh&token=a%20b",               // a space
           "twostep://enroll?server=http%3A%2F%2Fh&token=%zz",                 // bad escape
           "twostep://enroll?server=http%3A%2F%2Fh&token=a%",                  // cut escape
           "TWOSTEP://enroll?server=http%3A%2F%2Fh&token=a",
       }) {
    EXPECT_FALSE(parse_enrollment_uri(bad)) << bad;
  }
}

TEST(PushNumberTest, ThreeDistinctTwoDigitChoicesHoldTheNumber) {
  std::set<size_t> positions;
  std::set<int> numbers;
  for (int i = 0; i < 300; ++i) {
    auto c = new_number_challenge();
    EXPECT_GE(c.number, 10);
    EXPECT_LE(c.number, 99);
    std::set<int> distinct(c.choices.begin(), c.choices.end());
    EXPECT_EQ(distinct.size(), 3u);
    for (size_t p = 0; p < 3; ++p) {
      EXPECT_GE(c.choices[p], 10);
      EXPECT_LE(c.choices[p], 99);
      if (c.choices[p] == c.number) positions.insert(p);
    }
    EXPECT_TRUE(distinct.count(c.number));
    numbers.insert(c.number);
  }
  // The right answer is not always in the same place, and numbers vary.
  EXPECT_EQ(positions.size(), 3u);
  EXPECT_GT(numbers.size(), 30u);
}

TEST(PushNumberTest, ChoicesTextRoundTripAndStrictParse) {
  EXPECT_EQ(format_choices({12, 47, 83}), "12,47,83");
  auto c = parse_choices("12,47,83");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)[2], 83);
  for (const char* bad : {"", "12,47", "12,47,83,99", "12,47,8", "12,47,830", "09,47,83",
                          "12;47;83", "12,47,83,", "ab,47,83"}) {
    EXPECT_FALSE(parse_choices(bad)) << bad;
  }
}

}  // namespace
}  // namespace twostep::factors::push
