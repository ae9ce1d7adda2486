// The [admin] section: site administrators by username, canonicalised, from file or environment.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "twostep/core/config.hpp"

namespace twostep::core {
namespace {

TEST(ConfigAdminTest, EmptyByDefault) {
  auto c = load_config(std::nullopt, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->admin.users.empty());
  EXPECT_FALSE(c->site_admin("alice"));
}

TEST(ConfigAdminTest, FileAndEnvironmentAreCanonicalised) {
  std::random_device rd;
  auto path = std::filesystem::temp_directory_path() /
              ("twostep-admin-" + std::to_string(rd()) + ".toml");
  std::ofstream(path) << "[admin]\nusers = [\"Alice\", \"bob.ops\", \"alice\"]\n";
  auto c = load_config(path.string(), {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->admin.users, (std::vector<std::string>{"alice", "bob.ops"}));
  EXPECT_TRUE(c->site_admin("alice"));
  EXPECT_TRUE(c->site_admin("bob.ops"));
  EXPECT_FALSE(c->site_admin("carol"));

  // The environment (a comma list) wins over the file.
  auto env = load_config(path.string(), {{"TWOSTEP_ADMIN_USERS", "CAROL, dave"}});
  ASSERT_TRUE(env) << env.error().message;
  EXPECT_EQ(env->admin.users, (std::vector<std::string>{"carol", "dave"}));
  EXPECT_FALSE(env->site_admin("alice"));
  std::filesystem::remove(path);
}

TEST(ConfigAdminTest, ShownByConfigShowAndReadBack) {
  auto c = load_config(std::nullopt, {{"TWOSTEP_ADMIN_USERS", "alice,bob"}});
  ASSERT_TRUE(c) << c.error().message;
  const std::string text = config_toml(*c);
  EXPECT_NE(text.find("[admin]\nusers = [ 'alice', 'bob' ]"), std::string::npos) << text;
  // load_config accepts the text again.
  std::random_device rd;
  auto path = std::filesystem::temp_directory_path() /
              ("twostep-admin-" + std::to_string(rd()) + ".toml");
  std::ofstream(path) << text;
  auto again = load_config(path.string(), {});
  std::filesystem::remove(path);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->admin.users, c->admin.users);
  EXPECT_NE(config_toml(*load_config(std::nullopt, {})).find("[admin]\nusers = []"),
            std::string::npos);
}

TEST(ConfigAdminTest, BadUsernameStopsStartUpNamingTheKey) {
  const std::vector<std::string> bad = {"al", "alice@example.com", "bob;rm", std::string(65, 'a')};
  for (const auto& v : bad) {
    auto c = load_config(std::nullopt, {{"TWOSTEP_ADMIN_USERS", v}});
    ASSERT_FALSE(c) << v;
    EXPECT_EQ(c.error().code, Code::kInvalidArgument);
    EXPECT_NE(c.error().message.find("admin.users"), std::string::npos) << c.error().message;
  }
  std::random_device rd;
  auto path = std::filesystem::temp_directory_path() /
              ("twostep-admin-" + std::to_string(rd()) + ".toml");
  std::ofstream(path) << "[admin]\nusers = \"alice\"\n";
  auto c = load_config(path.string(), {});
  std::filesystem::remove(path);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("admin.users"), std::string::npos) << c.error().message;
}

}  // namespace
}  // namespace twostep::core
