// The [sms] keys: defaults, a TOML file, and environment lists whose items hold spaces.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "twostep/core/config.hpp"

namespace twostep::core {
namespace {

TEST(ConfigSmsTest, Defaults) {
  auto c = load_config(std::nullopt, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->sms.code_ttl_s, 300);
  EXPECT_EQ(c->sms.max_attempts, 5);
  EXPECT_EQ(c->sms.resend_cooldown_s, 60);
  EXPECT_EQ(c->sms.user_daily_max, 10);
  EXPECT_EQ(c->sms.number_daily_max, 5);
  EXPECT_EQ(c->sms.region_daily_budget, 1000);
  EXPECT_TRUE(c->sms.region_budgets.empty());
  EXPECT_TRUE(c->sms.http_headers.empty());
  EXPECT_EQ(c->sms.http_body, R"({"to":"{to}","message":"{message}"})");
  EXPECT_EQ(c->sms.twilio_base_url, "https://api.twilio.com");
}

TEST(ConfigSmsTest, FileKeys) {
  std::random_device rd;
  auto path =
      std::filesystem::temp_directory_path() / ("twostep-sms-" + std::to_string(rd()) + ".toml");
  std::ofstream(path) << R"([sms]
gateway = "twilio"
twilio_account_sid = "AC1"
twilio_auth_token = "t"
twilio_messaging_service_sid = "MG1"
http_headers = ["Authorization: Bearer a b", "X-A: 1"]
http_body = '{"n":"{to}","t":"{message}"}'
timeout_ms = 1500
retries = 0
region_budgets = ["CH=5", "DE=0"]
)";
  auto c = load_config(path.string(), {});
  std::filesystem::remove(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->sms.gateway, "twilio");
  EXPECT_EQ(c->sms.twilio_messaging_service_sid, "MG1");
  EXPECT_EQ(c->sms.http_headers, (std::vector<std::string>{"Authorization: Bearer a b", "X-A: 1"}));
  EXPECT_EQ(c->sms.http_body, R"({"n":"{to}","t":"{message}"})");
  EXPECT_EQ(c->sms.timeout_ms, 1500);
  EXPECT_EQ(c->sms.retries, 0);
  EXPECT_EQ(c->sms.region_budgets, (std::vector<std::string>{"CH=5", "DE=0"}));
}

// "off" is set like the other drivers; the file's value gives way to the environment.
TEST(ConfigSmsTest, GatewayOffFromFileOrEnvironment) {
  std::random_device rd;
  auto path =
      std::filesystem::temp_directory_path() / ("twostep-sms-" + std::to_string(rd()) + ".toml");
  std::ofstream(path) << "[sms]\ngateway = \"off\"\n";
  auto from_file = load_config(path.string(), {});
  auto overridden = load_config(path.string(), {{"TWOSTEP_SMS_GATEWAY", "log"}});
  std::filesystem::remove(path);
  ASSERT_TRUE(from_file) << from_file.error().message;
  EXPECT_EQ(from_file->sms.gateway, "off");
  ASSERT_TRUE(overridden) << overridden.error().message;
  EXPECT_EQ(overridden->sms.gateway, "log");
  auto env = load_config(std::nullopt, {{"TWOSTEP_SMS_GATEWAY", "off"}});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->sms.gateway, "off");
  EXPECT_EQ(load_config(std::nullopt, {})->sms.gateway, "log");  // the default stays
}

TEST(ConfigSmsTest, EnvironmentListsKeepItemsWithSpaces) {
  auto c = load_config(std::nullopt, {{"TWOSTEP_SMS_HTTP_HEADERS",
                                       R"(["Authorization: Bearer x y", "X-Tenant: a, b"])"},
                                      {"TWOSTEP_SMS_REGION_BUDGETS", "CH=5,DE=7"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->sms.http_headers,
            (std::vector<std::string>{"Authorization: Bearer x y", "X-Tenant: a, b"}));
  EXPECT_EQ(c->sms.region_budgets, (std::vector<std::string>{"CH=5", "DE=7"}));
  // A loose bracketed list still works; an array of numbers is an error naming the variable.
  auto loose = load_config(std::nullopt, {{"TWOSTEP_SMS_ALLOWED_REGIONS", "[CH, 'BE']"}});
  ASSERT_TRUE(loose);
  EXPECT_EQ(loose->sms.allowed_regions, (std::vector<std::string>{"CH", "BE"}));
  auto bad = load_config(std::nullopt, {{"TWOSTEP_SMS_ALLOWED_REGIONS", "[1, 2]"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("TWOSTEP_SMS_ALLOWED_REGIONS"), std::string::npos);
  auto negative = load_config(std::nullopt, {{"TWOSTEP_SMS_CODE_TTL_S", "-5"}});
  EXPECT_FALSE(negative);
}

}  // namespace
}  // namespace twostep::core
