// What only the SQLite backend and open_store promise: URL parsing, directory creation, the
// schema's foreign keys and cascades (checked from a raw connection, since no store verb
// deletes a user), and the pragmas each pooled connection runs with.
#include "twostep/store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "backends.hpp"
#include "twostep/store/migration.hpp"
#include "twostep/store/store.hpp"

namespace twostep::store {
namespace {

using contract::TempDir;
using core::Code;

constexpr int64_t kNow = 1'700'000'000;

// Runs one statement on a raw connection and returns the first column of the first row.
std::string raw_query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
  std::string out;
  char* err = nullptr;
  int rc = sqlite3_exec(
      db, sql.c_str(),
      [](void* p, int n, char** values, char**) {
        if (n > 0 && values[0] != nullptr && static_cast<std::string*>(p)->empty()) {
          *static_cast<std::string*>(p) = values[0];
        }
        return 0;
      },
      &out, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
  return out;
}

TEST(OpenStoreTest, RejectsUnknownOrEmptyUrls) {
  for (const char* url : {"mysql://u:s3cret@h/d", "", "var/twostep.db", "sqlite:", "sqlite://"}) {
    auto r = open_store(url);
    ASSERT_FALSE(r.has_value()) << url;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << url;
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos);
  }
}

TEST(OpenStoreTest, CreatesParentDirectoryAndFile) {
  TempDir dir;
  std::string path = dir.path() + "/a/b/twostep.db";
  auto store = open_store("sqlite:" + path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  EXPECT_TRUE(std::filesystem::exists(path));
  ASSERT_TRUE((*store)->migrate().has_value());
  EXPECT_EQ(raw_query(path, "PRAGMA journal_mode"), "wal");
}

TEST(OpenStoreTest, AcceptsTripleSlashAbsolutePath) {
  TempDir dir;
  std::string path = dir.path() + "/twostep.db";  // absolute: temp dirs are
  auto store = open_store("sqlite://" + path);
  ASSERT_TRUE(store.has_value()) << store.error().detail;
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(OpenStoreTest, UnwritableDirectoryIsAnError) {
  TempDir dir;
  std::string blocker = dir.path() + "/file";
  ASSERT_EQ(raw_query(":memory:", "SELECT 1"), "1");
  {
    FILE* f = fopen(blocker.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fclose(f);
  }
  auto r = open_store("sqlite:" + blocker + "/sub/twostep.db");  // parent is a regular file
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
}

TEST(OpenStoreTest, EachMemoryStoreIsPrivate) {
  auto a = open_store("sqlite::memory:");
  auto b = open_store("sqlite::memory:");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE((*a)->migrate() && (*b)->migrate());
  ASSERT_TRUE((*a)->create_user("alice", "h", kNow));
  EXPECT_EQ((*b)->user_by_name("alice").error().code, Code::kNotFound);
  EXPECT_TRUE((*b)->create_user("alice", "h", kNow));
}

TEST(SqliteStoreTest, MigrationsAreNumberedAndRecorded) {
  ASSERT_FALSE(kSqliteMigrations.empty());
  int previous = 0;
  for (const Migration& m : kSqliteMigrations) {
    EXPECT_GT(m.version, previous) << m.name;
    previous = m.version;
  }
  TempDir dir;
  std::string path = dir.path() + "/twostep.db";
  auto store = open_store("sqlite:" + path);
  ASSERT_TRUE(store);
  auto version = (*store)->migrate();
  ASSERT_TRUE(version);
  EXPECT_EQ(*version, previous);
  EXPECT_EQ(raw_query(path, "SELECT COUNT(*) FROM schema_version"),
            std::to_string(kSqliteMigrations.size()));
  EXPECT_EQ(raw_query(path, "SELECT name FROM schema_version WHERE version = 1"), "0001_init");
}

// A database made by a twostep older than key ids (schema 6) with recovery codes and an SMS
// code: migration 0007 marks them key id 0 (made with the key current then), and pinning gives
// them that key's id.
TEST(SqliteStoreTest, UpgradeMarksOlderKeyedHashesAsLegacyUntilPinned) {
  TempDir dir;
  std::string path = dir.path() + "/twostep.db";
  ASSERT_TRUE(open_store("sqlite:" + path));  // creates the file
  for (const Migration& m : kSqliteMigrations) {
    if (m.version >= 7) break;
    raw_query(path, std::string(m.sql) + ";" +
                        "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY, "
                        "name TEXT, applied_at INTEGER);" +
                        "INSERT INTO schema_version VALUES(" + std::to_string(m.version) + ", '" +
                        m.name + "', 0)");
  }
  raw_query(path,
            "INSERT INTO users(id, username, password_hash, created_at) VALUES(1, 'alice', 'h', 0);"
            "INSERT INTO recovery_codes(user_id, hash, created_at) VALUES(1, 'r1', 0), "
            "(1, 'r2', 0);"
            "INSERT INTO sms_codes(user_id, method_id, purpose, number_hash, code_hash, "
            "created_at, expires_at, sent) VALUES(1, 1, 'auth', 'n', 'c', 0, 4102444800, 1)");
  auto store = open_store("sqlite:" + path);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->migrate());
  EXPECT_EQ(*(*store)->recovery_code_key_ids(1), std::vector<uint32_t>{0});
  EXPECT_EQ((*store)->sms_latest_code(1, 1, "auth")->key_id, 0u);
  EXPECT_EQ(raw_query(path, "SELECT webauthn_handle IS NULL FROM users WHERE id = 1"), "1");

  EXPECT_EQ(*(*store)->pin_legacy_key_ids(4), 3);
  EXPECT_EQ(*(*store)->recovery_code_key_ids(1), std::vector<uint32_t>{4});
  EXPECT_EQ((*store)->sms_latest_code(1, 1, "auth")->key_id, 4u);
  EXPECT_TRUE(*(*store)->use_recovery_code(1, 4, "r1", kNow));
}

TEST(SqliteStoreTest, NewerSchemaIsRefused) {
  TempDir dir;
  std::string path = dir.path() + "/twostep.db";
  {
    auto store = open_store("sqlite:" + path);
    ASSERT_TRUE(store && (*store)->migrate());
  }
  raw_query(path, "INSERT INTO schema_version VALUES(9999, '9999_future', 0)");
  auto store = open_store("sqlite:" + path);
  ASSERT_TRUE(store);
  auto version = (*store)->migrate();
  ASSERT_FALSE(version.has_value());
  EXPECT_EQ(version.error().code, Code::kFailedPrecondition);
}

TEST(SqliteStoreTest, DeletingUserCascadesToItsRows) {
  TempDir dir;
  std::string path = dir.path() + "/twostep.db";
  auto opened = open_store("sqlite:" + path);
  ASSERT_TRUE(opened && (*opened)->migrate());
  Store& store = **opened;
  User alice = *store.create_user("alice", "h", kNow);
  User bob = *store.create_user("bob", "h", kNow);
  for (const User& u : {alice, bob}) {
    Session s;
    s.token_hash = "tok-" + u.username;
    s.user_id = u.id;
    ASSERT_TRUE(store.create_session(s));
    Method m;
    m.user_id = u.id;
    m.type = "totp";
    m.created_at = kNow;
    ASSERT_TRUE(store.create_method(m));
    ASSERT_TRUE(store.replace_recovery_codes(u.id, {"h1", "h2"}, 1, kNow));
  }

  raw_query(path, "DELETE FROM users WHERE id = " + std::to_string(alice.id));

  EXPECT_EQ(store.session_by_token_hash("tok-alice").error().code, Code::kNotFound);
  EXPECT_TRUE(store.methods_of_user(alice.id)->empty());
  EXPECT_EQ(*store.remaining_recovery_codes(alice.id), 0);
  EXPECT_TRUE(store.session_by_token_hash("tok-bob"));
  EXPECT_EQ(store.methods_of_user(bob.id)->size(), 1u);
  EXPECT_EQ(*store.remaining_recovery_codes(bob.id), 2);
}

TEST(SqliteStoreTest, UsesWalAndEnforcesForeignKeysOnEveryConnection) {
  TempDir dir;
  std::string path = dir.path() + "/twostep.db";
  auto opened = open_store("sqlite:" + path);
  ASSERT_TRUE(opened && (*opened)->migrate());
  EXPECT_EQ(raw_query(path, "PRAGMA journal_mode"), "wal");
  // Each pooled connection must refuse orphans, whichever one serves the call.
  for (int i = 0; i < 2 * sqlite::SqliteStore::kFilePoolSize; ++i) {
    Session s;
    s.token_hash = "orphan-" + std::to_string(i);
    s.user_id = 4242;
    auto r = (*opened)->create_session(s);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Code::kNotFound);
  }
}

TEST(SqliteStoreTest, ErrorDetailsNeverCarryBoundValues) {
  auto opened = open_store("sqlite::memory:");
  ASSERT_TRUE(opened && (*opened)->migrate());
  Store& store = **opened;
  User alice = *store.create_user("alice", "h", kNow);
  Session s;
  s.token_hash = "secret-token-hash";
  s.user_id = alice.id;
  ASSERT_TRUE(store.create_session(s));
  auto dup = store.create_session(s);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_EQ(dup.error().detail.find("secret-token-hash"), std::string::npos);
  EXPECT_FALSE(dup.error().detail.empty());
}

}  // namespace
}  // namespace twostep::store
