// The [metrics] keys: defaults, a TOML file, environment overrides and bad values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "twostep/core/config.hpp"

namespace twostep::core {
namespace {

TEST(ConfigMetricsTest, DefaultsAreLoopbackOnlyWithoutToken) {
  auto c = load_config(std::nullopt, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->metrics.allow, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
  EXPECT_EQ(c->metrics.token_file, "");
}

TEST(ConfigMetricsTest, FileKeys) {
  std::random_device rd;
  auto path = std::filesystem::temp_directory_path() /
              ("twostep-metrics-" + std::to_string(rd()) + ".toml");
  std::ofstream(path) << R"([metrics]
allow = ["10.0.0.0/8", "2001:db8::/32"]
token_file = "/etc/twostep/metrics.token"
)";
  auto c = load_config(path.string(), {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->metrics.allow, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
  EXPECT_EQ(c->metrics.token_file, "/etc/twostep/metrics.token");

  // The environment wins over the file; an empty list turns metrics off.
  auto env = load_config(path.string(), {{"TWOSTEP_METRICS_ALLOW", "192.0.2.1,::1"},
                                         {"TWOSTEP_METRICS_TOKEN_FILE", "/run/t"}});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->metrics.allow, (std::vector<std::string>{"192.0.2.1", "::1"}));
  EXPECT_EQ(env->metrics.token_file, "/run/t");
  auto off = load_config(path.string(), {{"TWOSTEP_METRICS_ALLOW", ""}});
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->metrics.allow.empty());
  std::ofstream(path, std::ios::trunc) << "[metrics]\nallow = []\n";
  auto off_in_file = load_config(path.string(), {});
  ASSERT_TRUE(off_in_file);
  EXPECT_TRUE(off_in_file->metrics.allow.empty());
  std::filesystem::remove(path);
}

TEST(ConfigMetricsTest, BadRangeStopsStartUpNamingTheKey) {
  for (const char* v : {"10.0.0.0/33", "prometheus.local", "10.0.0.0/", "::/200"}) {
    auto c = load_config(std::nullopt, {{"TWOSTEP_METRICS_ALLOW", v}});
    ASSERT_FALSE(c) << v;
    EXPECT_EQ(c.error().code, Code::kInvalidArgument);
    EXPECT_NE(c.error().message.find("metrics.allow"), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(v), std::string::npos) << c.error().message;
  }
}

TEST(ConfigMetricsTest, TrustedProxiesAreValidatedWithTheConfiguration) {
  auto c = load_config(std::nullopt, {{"TWOSTEP_SERVER_TRUSTED_PROXIES", "127.0.0.1,nginx"}});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("server.trusted_proxies"), std::string::npos)
      << c.error().message;
  EXPECT_TRUE(load_config(std::nullopt, {{"TWOSTEP_SERVER_TRUSTED_PROXIES", "10.0.0.0/8,::1"}}));
}

TEST(ConfigMetricsTest, WrongTypesAreErrors) {
  std::random_device rd;
  auto path = std::filesystem::temp_directory_path() /
              ("twostep-metrics-" + std::to_string(rd()) + ".toml");
  struct Case {
    const char* toml;
    const char* key;
  };
  const Case cases[] = {
      {"[metrics]\nallow = \"127.0.0.1\"\n", "metrics.allow"},
      {"[metrics]\nallow = [127]\n", "metrics.allow"},
      {"[metrics]\ntoken_file = true\n", "metrics.token_file"},
      {"[metrics]\ntoken = \"x\"\n", "metrics.token"},
  };
  for (const auto& k : cases) {
    std::ofstream(path, std::ios::trunc) << k.toml;
    auto c = load_config(path.string(), {});
    ASSERT_FALSE(c) << k.toml;
    EXPECT_NE(c.error().message.find(k.key), std::string::npos) << c.error().message;
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace twostep::core
