// Who may read /metrics: the address list, the bearer token and its file.
#include "twostep/api/metrics_access.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace twostep::api {
namespace {

using V = MetricsAccess::Verdict;
constexpr const char* kToken = "s3cr3t-metrics-token-0123456789";

class MetricsAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "twostep_ma_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string token_file(const std::string& content, mode_t mode = 0600) {
    const std::string p = dir_ + "/metrics.token";
    std::filesystem::remove(p);
    std::ofstream(p) << content;
    EXPECT_EQ(::chmod(p.c_str(), mode), 0);
    return p;
  }
  static MetricsAccess load(std::vector<std::string> allow, std::string token_file = "") {
    auto a = MetricsAccess::load(core::MetricsConfig{std::move(allow), std::move(token_file)});
    EXPECT_TRUE(a) << (a ? "" : a.error().message);
    return a.value_or(MetricsAccess{});
  }
  static std::string load_error(const std::string& token_file) {
    auto a = MetricsAccess::load(core::MetricsConfig{{"127.0.0.1"}, token_file});
    EXPECT_FALSE(a) << token_file;
    return a ? "" : a.error().message;
  }
  std::string dir_;
};

TEST_F(MetricsAccessTest, DefaultIsLoopbackOnly) {
  auto a = load(core::MetricsConfig{}.allow);
  EXPECT_TRUE(a.enabled());
  EXPECT_FALSE(a.needs_token());
  EXPECT_EQ(a.check("127.0.0.1", std::nullopt), V::kAllowed);
  EXPECT_EQ(a.check("127.3.2.1", std::nullopt), V::kAllowed);
  EXPECT_EQ(a.check("::1", std::nullopt), V::kAllowed);
  EXPECT_EQ(a.check("192.0.2.1", std::nullopt), V::kAddressRefused);
  EXPECT_EQ(a.check("2001:db8::1", std::nullopt), V::kAddressRefused);
  EXPECT_EQ(a.check("", std::nullopt), V::kAddressRefused);
}

TEST_F(MetricsAccessTest, ForwardedByAnUntrustedProxyIsRefusedEvenFromLoopback) {
  auto a = load(core::MetricsConfig{}.allow);
  EXPECT_EQ(a.check("127.0.0.1", std::nullopt, /*forwarded_untrusted=*/true), V::kUntrustedProxy);
  EXPECT_EQ(a.check("127.0.0.1", std::nullopt, /*forwarded_untrusted=*/false), V::kAllowed);
  // Off stays off (404), whatever the request carries.
  EXPECT_EQ(load({}).check("127.0.0.1", std::nullopt, true), V::kOff);
}

TEST_F(MetricsAccessTest, EmptyListIsOffWhateverTheAddress) {
  auto a = load({});
  EXPECT_FALSE(a.enabled());
  EXPECT_EQ(a.check("127.0.0.1", std::nullopt), V::kOff);
  EXPECT_EQ(a.check("192.0.2.1", std::nullopt), V::kOff);
}

TEST_F(MetricsAccessTest, BadRangeIsAnErrorNamingTheKey) {
  auto a = MetricsAccess::load(core::MetricsConfig{{"10.0.0.0/40"}, ""});
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("metrics.allow"), std::string::npos);
}

TEST_F(MetricsAccessTest, TokenNeededFromAllowedAddresses) {
  auto a = load({"10.0.0.0/8"}, token_file(std::string(kToken) + "\n"));
  EXPECT_TRUE(a.needs_token());
  const std::string good = std::string("Bearer ") + kToken;
  EXPECT_EQ(a.check("10.1.2.3", good), V::kAllowed);
  EXPECT_EQ(a.check("10.1.2.3", std::string("bearer  ") + kToken + " "), V::kAllowed);
  EXPECT_EQ(a.check("10.1.2.3", std::nullopt), V::kTokenMissing);
  EXPECT_EQ(a.check("10.1.2.3", "Bearer"), V::kTokenMissing);
  EXPECT_EQ(a.check("10.1.2.3", "Bearer    "), V::kTokenMissing);
  EXPECT_EQ(a.check("10.1.2.3", std::string("Basic ") + kToken), V::kTokenMissing);
  EXPECT_EQ(a.check("10.1.2.3", "Bearer wrong"), V::kTokenWrong);
  EXPECT_EQ(a.check("10.1.2.3", good + "x"), V::kTokenWrong);
  EXPECT_EQ(a.check("10.1.2.3", good.substr(0, good.size() - 1)), V::kTokenWrong);
  // The address is checked first: an outside client does not learn that a token exists.
  EXPECT_EQ(a.check("192.0.2.1", good), V::kAddressRefused);
  EXPECT_EQ(a.check("192.0.2.1", std::nullopt), V::kAddressRefused);
}

TEST_F(MetricsAccessTest, CrLfAtTheEndOfTheFileIsNotPartOfTheToken) {
  auto a = load({"127.0.0.1"}, token_file(std::string(kToken) + "\r\n"));
  EXPECT_EQ(a.check("127.0.0.1", std::string("Bearer ") + kToken), V::kAllowed);
}

TEST_F(MetricsAccessTest, TokenFileMustBePrivate) {
  const std::string p = token_file(kToken, 0640);
  const std::string e = load_error(p);
  EXPECT_NE(e.find("metrics.token_file"), std::string::npos) << e;
  EXPECT_NE(e.find("0640"), std::string::npos) << e;
  EXPECT_EQ(e.find(kToken), std::string::npos) << "the token reached an error message";
  EXPECT_NE(load_error(token_file(kToken, 0604)).find("group or others"), std::string::npos);
}

TEST_F(MetricsAccessTest, TokenFileMustExistAndBeARegularFile) {
  EXPECT_NE(load_error(dir_ + "/missing").find("does not exist"), std::string::npos);
  EXPECT_NE(load_error(dir_).find("metrics.token_file"), std::string::npos);
  const std::string target = token_file(kToken);
  const std::string link = dir_ + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_NE(load_error(link).find("symbolic link"), std::string::npos);
}

TEST_F(MetricsAccessTest, TokenFileContentIsChecked) {
  EXPECT_NE(load_error(token_file("")).find("at least 16"), std::string::npos);
  EXPECT_NE(load_error(token_file("\n")).find("at least 16"), std::string::npos);
  EXPECT_NE(load_error(token_file("short-token\n")).find("at least 16"), std::string::npos);
  const std::string blanks = load_error(token_file("two words in one token file"));
  EXPECT_NE(blanks.find("printable ASCII"), std::string::npos) << blanks;
  EXPECT_EQ(blanks.find("two words"), std::string::npos) << "the content reached an error";
  EXPECT_NE(load_error(token_file(std::string(kToken) + "\nsecond-line-token-xyz\n"))
                .find("printable ASCII"),
            std::string::npos);
  EXPECT_NE(load_error(token_file(std::string(kToken) + "\xc3\xa9")).find("printable ASCII"),
            std::string::npos);
  EXPECT_NE(load_error(token_file(std::string(5000, 'a'))).find("too large"), std::string::npos);
}

}  // namespace
}  // namespace twostep::api
