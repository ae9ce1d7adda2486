#include "twostep/core/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace twostep::core {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("twostep-config-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& toml) {
    const std::string p = (dir_ / "twostep.toml").string();
    std::ofstream(p, std::ios::trunc) << toml;
    return p;
  }

  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsNeedNoFile) {
  auto c = load_config(std::nullopt, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c->server.public_url, "http://localhost:8080");
  EXPECT_TRUE(c->server.trusted_proxies.empty());
  EXPECT_EQ(c->database.url, "sqlite:var/twostep.db");
  EXPECT_EQ(c->security.master_key_file, "var/master.key");
  EXPECT_EQ(c->security.argon2_memory_kib, 19u * 1024u);
  EXPECT_EQ(c->security.argon2_iterations, 2u);
  EXPECT_TRUE(c->accounts.open_signup);
  EXPECT_EQ(c->sessions.cookie_domain, "");
  EXPECT_EQ(c->sms.allowed_regions, (std::vector<std::string>{"CH", "FR", "BE", "DE"}));
  EXPECT_EQ(c->sms.gateway, "log");
  EXPECT_EQ(c->totp.window, 1);
  EXPECT_FALSE(c->https());
}

TEST_F(ConfigTest, TomlFileSetsValues) {
  const std::string p = write(R"(
[server]
listen = "0.0.0.0:9000"
public_url = "https://auth.example.com"
trusted_proxies = ["10.0.0.1", "10.0.0.2"]

[database]
url = "postgresql://twostep@db:5432/twostep"

[accounts]
open_signup = false

[security]
argon2_memory_kib = 65536

[sms]
allowed_regions = ["CH"]
gateway = "http"
http_url = "http://sms.local/send"
)");
  auto c = load_config(p, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.listen, "0.0.0.0:9000");
  EXPECT_EQ(c->server.public_url, "https://auth.example.com");
  EXPECT_TRUE(c->https());
  EXPECT_EQ(c->server.trusted_proxies, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(c->database.url, "postgresql://twostep@db:5432/twostep");
  EXPECT_FALSE(c->accounts.open_signup);
  EXPECT_EQ(c->security.argon2_memory_kib, 65536u);
  EXPECT_EQ(c->sms.allowed_regions, (std::vector<std::string>{"CH"}));
  EXPECT_EQ(c->sms.gateway, "http");
  EXPECT_EQ(c->sms.http_url, "http://sms.local/send");
  // Keys not in the file keep their defaults.
  EXPECT_EQ(c->security.master_key_file, "var/master.key");
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndDefaults) {
  const std::string p = write("[server]\nlisten = \"0.0.0.0:9000\"\n");
  auto c = load_config(p, {{"TWOSTEP_SERVER_LISTEN", "127.0.0.1:9001"},
                           {"TWOSTEP_ACCOUNTS_OPEN_SIGNUP", "false"},
                           {"TWOSTEP_TOTP_WINDOW", "2"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.listen, "127.0.0.1:9001");
  EXPECT_FALSE(c->accounts.open_signup);
  EXPECT_EQ(c->totp.window, 2);

  auto no_file = load_config(std::nullopt, {{"TWOSTEP_SERVER_LISTEN", "127.0.0.1:0"}});
  ASSERT_TRUE(no_file);
  EXPECT_EQ(no_file->server.listen, "127.0.0.1:0");
}

TEST_F(ConfigTest, EnvironmentListValues) {
  auto c = load_config(std::nullopt, {{"TWOSTEP_SMS_ALLOWED_REGIONS", "FR,DE"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->sms.allowed_regions, (std::vector<std::string>{"FR", "DE"}));
  auto toml_style = load_config(std::nullopt, {{"TWOSTEP_SMS_ALLOWED_REGIONS", R"(["CH", "BE"])"}});
  ASSERT_TRUE(toml_style);
  EXPECT_EQ(toml_style->sms.allowed_regions, (std::vector<std::string>{"CH", "BE"}));
  auto empty = load_config(std::nullopt, {{"TWOSTEP_SERVER_TRUSTED_PROXIES", ""}});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->server.trusted_proxies.empty());
}

TEST_F(ConfigTest, OtherTwostepVariablesAreIgnored) {
  auto c = load_config(std::nullopt, {{"TWOSTEP_BIN", "/usr/bin/twostep"}, {"HOME", "/root"}});
  EXPECT_TRUE(c);
}

TEST_F(ConfigTest, UnknownKeyIsAnErrorNamingIt) {
  auto c = load_config(write("[server]\nlistne = \"0.0.0.0:1\"\n"), {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Code::kInvalidArgument);
  EXPECT_NE(c.error().message.find("server.listne"), std::string::npos) << c.error().message;

  auto section = load_config(write("[nope]\nx = 1\n"), {});
  ASSERT_FALSE(section);
  EXPECT_NE(section.error().message.find("nope.x"), std::string::npos);

  auto top_level = load_config(write("listen = \"x\"\n"), {});
  ASSERT_FALSE(top_level);
}

TEST_F(ConfigTest, WrongTypeIsAnErrorNamingTheKey) {
  struct Case {
    const char* toml;
    const char* key;
  };
  const Case cases[] = {
      {"[server]\nlisten = 8080\n", "server.listen"},
      {"[accounts]\nopen_signup = \"yes\"\n", "accounts.open_signup"},
      {"[totp]\nwindow = \"1\"\n", "totp.window"},
      {"[totp]\nwindow = 1.5\n", "totp.window"},
      {"[sms]\nallowed_regions = \"CH\"\n", "sms.allowed_regions"},
      {"[sms]\nallowed_regions = [1, 2]\n", "sms.allowed_regions"},
      {"[totp]\nwindow = -1\n", "totp.window"},
  };
  for (const auto& k : cases) {
    auto c = load_config(write(k.toml), {});
    ASSERT_FALSE(c) << k.toml;
    EXPECT_EQ(c.error().code, Code::kInvalidArgument);
    EXPECT_NE(c.error().message.find(k.key), std::string::npos) << c.error().message;
  }
}

TEST_F(ConfigTest, WrongTypeInEnvironmentIsAnError) {
  auto c = load_config(std::nullopt, {{"TWOSTEP_TOTP_WINDOW", "one"}});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("TWOSTEP_TOTP_WINDOW"), std::string::npos);
  auto b = load_config(std::nullopt, {{"TWOSTEP_ACCOUNTS_OPEN_SIGNUP", "maybe"}});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("TWOSTEP_ACCOUNTS_OPEN_SIGNUP"), std::string::npos);
}

TEST_F(ConfigTest, MissingOrBrokenFileIsAnError) {
  EXPECT_FALSE(load_config((dir_ / "missing.toml").string(), {}));
  auto broken = load_config(write("[server\nlisten = \n"), {});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("line"), std::string::npos);
}

TEST_F(ConfigTest, BadValuesAreRejected) {
  EXPECT_FALSE(load_config(std::nullopt, {{"TWOSTEP_SERVER_PUBLIC_URL", "auth.example.com"}}));
  EXPECT_FALSE(load_config(std::nullopt, {{"TWOSTEP_SERVER_LISTEN", "8080"}}));
  EXPECT_FALSE(load_config(std::nullopt, {{"TWOSTEP_SECURITY_ARGON2_ITERATIONS", "0"}}));
}

TEST_F(ConfigTest, EnvironmentMapHasOnlyTwostepEntries) {
  ::setenv("TWOSTEP_CONFIG_TEST_PROBE", "v", 1);
  auto env = twostep_environment();
  ::unsetenv("TWOSTEP_CONFIG_TEST_PROBE");
  EXPECT_EQ(env["TWOSTEP_CONFIG_TEST_PROBE"], "v");
  for (const auto& [k, v] : env) EXPECT_EQ(k.rfind("TWOSTEP_", 0), 0u) << k;
}

TEST(ConfigRedactTest, RedactsUserinfoPasswordAndSecretParameters) {
  EXPECT_EQ(redact_url("postgresql://u:pw@db:5432/x"), "postgresql://u:<redacted>@db:5432/x");
  EXPECT_EQ(redact_url("postgresql://u@db/x?password=pw&sslmode=require"),
            "postgresql://u@db/x?password=<redacted>&sslmode=require");
  EXPECT_EQ(redact_url("https://a:b@h/p?to=1&api_key=k&AuthToken=t#frag"),
            "https://a:<redacted>@h/p?to=1&api_key=<redacted>&AuthToken=<redacted>#frag");
  // No password: unchanged (a user name alone, '@' in the path, no query).
  EXPECT_EQ(redact_url("postgresql://u@db/x"), "postgresql://u@db/x");
  EXPECT_EQ(redact_url("https://h/a:b@c"), "https://h/a:b@c");
  EXPECT_EQ(redact_url("sqlite:var/twostep.db"), "sqlite:var/twostep.db");
  EXPECT_EQ(redact_url(""), "");
  EXPECT_EQ(redact_url("https://h/?password"), "https://h/?password");  // no value
}

TEST_F(ConfigTest, ShowPrintsEveryKeyRedactedAndLoadsAgain) {
  std::map<std::string, std::string> env = {
      {"TWOSTEP_DATABASE_URL", "postgresql://u:hunter2@db/x"},
      {"TWOSTEP_SMS_TWILIO_AUTH_TOKEN", "tok-hunter2"},
      {"TWOSTEP_SMS_HTTP_HEADERS", R"(["X-Api-Key: hunter2", "Accept: json"])"},
      {"TWOSTEP_TOTP_ISSUER", "Quote \" back \\ slash 'single'"},
      {"TWOSTEP_ACCOUNTS_OPEN_SIGNUP", "false"},
      {"TWOSTEP_SERVER_THREADS", "7"},
  };
  auto c = load_config(std::nullopt, env);
  ASSERT_TRUE(c) << c.error().message;
  const std::string text = config_toml(*c);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(text.find("url = 'postgresql://u:<redacted>@db/x'"), std::string::npos) << text;
  EXPECT_NE(text.find("twilio_auth_token = '<redacted>'"), std::string::npos) << text;
  EXPECT_NE(text.find("[orgs]\nuser_create = false\n"), std::string::npos) << text;
  // Every key of the defaults appears once; the text loads again to the same values.
  auto again = load_config(write(text), {});
  ASSERT_TRUE(again) << again.error().message << "\n" << text;
  EXPECT_EQ(again->totp.issuer, c->totp.issuer);
  EXPECT_EQ(again->server.threads, 7);
  EXPECT_FALSE(again->accounts.open_signup);
  EXPECT_EQ(again->sms.http_headers,
            (std::vector<std::string>{"X-Api-Key: <redacted>", "Accept: <redacted>"}));
  EXPECT_EQ(config_toml(*again), text);
  // With no secret set, show prints exactly what the defaults are: no "<redacted>" anywhere.
  auto defaults = load_config(std::nullopt, {});
  ASSERT_TRUE(defaults);
  const std::string shown = config_toml(*defaults);
  EXPECT_EQ(shown.find("<redacted>", shown.find("\n\n")), std::string::npos) << shown;
}

}  // namespace
}  // namespace twostep::core
