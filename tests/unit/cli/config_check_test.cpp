#include "twostep/app/config_check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

namespace twostep::app {
namespace {

namespace fs = std::filesystem;

class ConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("twostep-config-check-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  core::Config config_in_dir() const {
    core::Config c;
    c.security.master_key_file = (dir_ / "state/master.key").string();
    c.database.url = "sqlite:" + (dir_ / "state/db.sqlite").string();
    return c;
  }

  static bool has(const std::vector<ConfigFinding>& fs, ConfigFinding::Level level,
                  const std::string& text) {
    return std::any_of(fs.begin(), fs.end(), [&](const ConfigFinding& f) {
      return f.level == level && f.text.find(text) != std::string::npos;
    });
  }

  fs::path dir_;
};

TEST_F(ConfigCheckTest, WhyNotCreatable) {
  EXPECT_EQ(why_not_creatable((dir_ / "a/b/c/file").string()), "");
  std::ofstream(dir_ / "plain") << "x";
  EXPECT_NE(why_not_creatable((dir_ / "plain/file").string()).find("plain is not a directory"),
            std::string::npos);
  EXPECT_EQ(why_not_creatable("relative-file"), "");  // the current directory
  EXPECT_FALSE(fs::exists(dir_ / "a"));
}

TEST_F(ConfigCheckTest, FreshDirectoryHasOnlyNotesAndStaysEmpty) {
  auto found = check_config(config_in_dir(), {});
  EXPECT_TRUE(has(found, ConfigFinding::Level::kNote, "security.master_key_file:"));
  EXPECT_TRUE(has(found, ConfigFinding::Level::kNote, "database.url:"));
  EXPECT_FALSE(has(found, ConfigFinding::Level::kError, ""));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(ConfigCheckTest, ServeStartupChecksAreErrors) {
  core::Config c = config_in_dir();
  c.server.listen = "127.0.0.1:70000";
  c.webauthn.origins = {"not an origin"};
  c.sms.gateway = "carrier-pigeon";
  c.metrics.token_file = (dir_ / "missing.token").string();
  c.database.url = "postgresql://u:pw@[bad";
  auto found = check_config(c, {});
  EXPECT_TRUE(has(found, ConfigFinding::Level::kError, "server.listen:"));
  EXPECT_TRUE(has(found, ConfigFinding::Level::kError, "webauthn"));
  EXPECT_TRUE(has(found, ConfigFinding::Level::kError, "sms.gateway"));
  EXPECT_TRUE(has(found, ConfigFinding::Level::kError, "metrics.token_file"));
  EXPECT_TRUE(has(found, ConfigFinding::Level::kError, "database.url:"));
  for (const auto& f : found) EXPECT_EQ(f.text.find("pw"), std::string::npos) << f.text;
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace twostep::app
