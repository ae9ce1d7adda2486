#include "twostep/crypto/encoding.hpp"

#include <gtest/gtest.h>

#include "twostep/crypto/random.hpp"

namespace twostep::crypto {
namespace {

struct Vector {
  const char* plain;
  const char* encoded;
};

// RFC 4648 §10.
constexpr Vector kBase64[] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
constexpr Vector kBase32[] = {{"", ""},
                              {"f", "MY======"},
                              {"fo", "MZXQ===="},
                              {"foo", "MZXW6==="},
                              {"foob", "MZXW6YQ="},
                              {"fooba", "MZXW6YTB"},
                              {"foobar", "MZXW6YTBOI======"}};
constexpr Vector kBase16[] = {{"", ""},
                              {"f", "66"},
                              {"fo", "666F"},
                              {"foo", "666F6F"},
                              {"foob", "666F6F62"},
                              {"fooba", "666F6F6261"},
                              {"foobar", "666F6F626172"}};

std::string strip_padding(std::string s) {
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(EncodingTest, Base64Rfc4648Vectors) {
  for (const auto& v : kBase64) {
    EXPECT_EQ(base64_encode(v.plain), v.encoded) << v.plain;
    EXPECT_EQ(base64_decode(v.encoded), std::string(v.plain)) << v.encoded;
    EXPECT_EQ(base64_decode(strip_padding(v.encoded)), std::string(v.plain)) << v.encoded;
  }
}

TEST(EncodingTest, Base64UrlRfc4648VectorsWithAndWithoutPadding) {
  for (const auto& v : kBase64) {
    EXPECT_EQ(base64url_encode(v.plain), strip_padding(v.encoded)) << v.plain;
    EXPECT_EQ(base64url_decode(v.encoded), std::string(v.plain)) << v.encoded;
    EXPECT_EQ(base64url_decode(strip_padding(v.encoded)), std::string(v.plain)) << v.encoded;
  }
}

TEST(EncodingTest, Base64UrlUsesUrlAlphabet) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), bytes);
  EXPECT_EQ(base64url_decode("+/+/"), std::nullopt);
  EXPECT_EQ(base64_decode("-_-_"), std::nullopt);
}

TEST(EncodingTest, Base32Rfc4648VectorsUnpadded) {
  for (const auto& v : kBase32) {
    EXPECT_EQ(base32_encode(v.plain), strip_padding(v.encoded)) << v.plain;
    EXPECT_EQ(base32_decode(v.encoded), std::string(v.plain)) << v.encoded;
    EXPECT_EQ(base32_decode(strip_padding(v.encoded)), std::string(v.plain)) << v.encoded;
    EXPECT_EQ(base32_decode(lower(v.encoded)), std::string(v.plain)) << v.encoded;
  }
}

TEST(EncodingTest, Base32IgnoresSpacesAndCase) {
  EXPECT_EQ(base32_decode("mzxw 6ytb oi"), std::string("foobar"));
  EXPECT_EQ(base32_decode("MzXw6YtBoI"), std::string("foobar"));
}

TEST(EncodingTest, HexRfc4648Vectors) {
  for (const auto& v : kBase16) {
    EXPECT_EQ(hex_encode(v.plain), lower(v.encoded)) << v.plain;
    EXPECT_EQ(hex_decode(v.encoded), std::string(v.plain)) << v.encoded;
    EXPECT_EQ(hex_decode(lower(v.encoded)), std::string(v.plain)) << v.encoded;
  }
}

TEST(EncodingTest, RoundTripsRandomBytesOfEveryLength) {
  for (std::size_t n = 0; n < 70; ++n) {
    const std::string bytes = random_bytes(n);
    EXPECT_EQ(hex_decode(hex_encode(bytes)), bytes);
    EXPECT_EQ(base32_decode(base32_encode(bytes)), bytes);
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
    EXPECT_EQ(base64url_decode(base64url_encode(bytes)), bytes);
  }
}

TEST(EncodingTest, BadHexIsRejected) {
  EXPECT_EQ(hex_decode("abc"), std::nullopt);  // odd length
  EXPECT_EQ(hex_decode("zz"), std::nullopt);
  EXPECT_EQ(hex_decode("0g"), std::nullopt);
  EXPECT_EQ(hex_decode(" 00"), std::nullopt);
}

TEST(EncodingTest, BadBase32IsRejected) {
  EXPECT_EQ(base32_decode("MZXW1"), std::nullopt);  // '1' is not in the alphabet
  EXPECT_EQ(base32_decode("MZXW8YQ"), std::nullopt);
  EXPECT_EQ(base32_decode("MZ-XW"), std::nullopt);
  EXPECT_EQ(base32_decode("M"), std::nullopt);  // impossible lengths
  EXPECT_EQ(base32_decode("MZX"), std::nullopt);
  EXPECT_EQ(base32_decode("MZXW6Y"), std::nullopt);
  EXPECT_EQ(base32_decode(std::string("MZ\0W", 4)), std::nullopt);
}

TEST(EncodingTest, BadBase64IsRejected) {
  EXPECT_EQ(base64_decode("Zm9v!"), std::nullopt);
  EXPECT_EQ(base64_decode("Z"), std::nullopt);    // impossible length
  EXPECT_EQ(base64_decode("Zg="), std::nullopt);  // padding to a wrong length
  EXPECT_EQ(base64_decode("Zg==="), std::nullopt);
  EXPECT_EQ(base64_decode("Zh=="), std::nullopt);  // non-canonical trailing bits
  EXPECT_EQ(base64_decode("Zm 9v"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zh"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm9v="), std::nullopt);
}

}  // namespace
}  // namespace twostep::crypto
