// What only the PostgreSQL backend promises, beyond the shared contract: URL handling without
// leaking passwords, migrations numbered like SQLite's and applied once under an advisory lock, the
// schema's cascades, error translation without bound values, client text that PostgreSQL would
// refuse, and the pool's recovery: connections the server closed are replaced, a database that
// cannot be reached answers kUnavailable at once, and calls work again (with the data intact) as
// soon as it is back.
#include "twostep/store/postgres/pg_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "backends.hpp"
#include "twostep/store/migration.hpp"
#include "twostep/store/store.hpp"

namespace twostep::store {
namespace {

using contract::postgres_admin;
using contract::PostgresDatabase;
using core::Code;

constexpr int64_t kNow = 1'700'000'000;
constexpr int kPool = 4;

template <class T>
T must(core::Result<T> r) {
  if (!r) {
    throw std::runtime_error("unexpected error: " + r.error().message + " / " + r.error().detail);
  }
  return std::move(*r);
}

template <class F>
void in_parallel(int n, F body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
}

// --- open_store with postgresql:// URLs (no server needed)
// ---------------------------------

TEST(PgOpenStoreTest, MalformedUrlIsInvalidAndNotEchoed) {
  for (const char* url :
       {"postgresql://u:s3cret@[::1/d", "postgresql://u:s3cret@h/d?s3cret=1", "postgres:s3cret"}) {
    auto r = open_store(url);
    ASSERT_FALSE(r.has_value()) << url;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << url << ": " << r.error().detail;
    EXPECT_NE(r.error().message.find("database.url"), std::string::npos);
    EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos) << url;
    EXPECT_EQ(r.error().detail.find("s3cret"), std::string::npos) << url;
  }
}

TEST(PgOpenStoreTest, UnreachableServerIsUnavailableAndNotEchoed) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  auto started = std::chrono::steady_clock::now();
  auto r = open_store("postgresql://twostep:s3cret@127.0.0.1:1/twostep");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().detail.find("127.0.0.1"), std::string::npos) << r.error().detail;
  EXPECT_EQ(r.error().detail.find("s3cret"), std::string::npos);
  EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

// --- against the test cluster
// ----------------------------------------------------------

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<PostgresDatabase>();
    store_ = must(open_store(db_->url(), StoreOptions{kPool}));
    ASSERT_TRUE(store_->migrate());
  }

  Store& store() { return *store_; }
  // The first column of the first row, from a connection of its own.
  std::string sql(const std::string& q) {
    auto rows = postgres_admin(db_->url(), q);
    return rows.empty() ? std::string() : rows[0];
  }
  // Like sql(), through the cluster's admin database (for statements about this database).
  std::string admin(const std::string& q) {
    auto rows = postgres_admin(db_->admin_url(), q);
    return rows.empty() ? std::string() : rows[0];
  }
  // Server sessions connected to this test's database.
  int backends() {
    return std::stoi(
        admin("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db_->name() + "'"));
  }
  // Ends every server session on this database and waits until they are gone, as a restart of
  // PostgreSQL does to an instance's pool.
  void terminate_backends() {
    admin(
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
        "WHERE datname = '" +
        db_->name() + "' AND pid <> pg_backend_pid()");
    ASSERT_EQ(backends(), 0);
  }
  // Opens every pooled connection by keeping them all busy at once. On a loaded machine the
  // threads may run one after another and share one connection, so rounds repeat (up to 50)
  // until the pool has opened all of them.
  void warm_pool() {
    for (int round = 0; round < 50 && backends() < kPool; ++round) {
      in_parallel(4 * kPool, [&](int) {
        for (int k = 0; k < 5; ++k) {
          must(store().list_users());
        }
      });
    }
  }

  std::unique_ptr<PostgresDatabase> db_;  // outlives store_
  std::unique_ptr<Store> store_;
};

TEST_F(PgStoreTest, MigrationsMirrorSqliteAndAreRecorded) {
  ASSERT_FALSE(kPostgresMigrations.empty());
  // The same numbering scheme per backend: every SQLite migration has its PostgreSQL twin with the
  // same number and name, so that a schema version means the same tables on both.
  ASSERT_EQ(kPostgresMigrations.size(), kSqliteMigrations.size());
  for (size_t i = 0; i < kPostgresMigrations.size(); ++i) {
    EXPECT_EQ(kPostgresMigrations[i].version, kSqliteMigrations[i].version);
    EXPECT_STREQ(kPostgresMigrations[i].name, kSqliteMigrations[i].name);
  }
  int last = kPostgresMigrations.back().version;
  EXPECT_EQ(must(store().migrate()), last);
  EXPECT_EQ(sql("SELECT count(*) FROM schema_version"), std::to_string(kPostgresMigrations.size()));
  EXPECT_EQ(sql("SELECT name FROM schema_version WHERE version = 1"), "0001_init");
}

TEST_F(PgStoreTest, NewerSchemaIsRefused) {
  sql("INSERT INTO schema_version VALUES(9999, '9999_future', 0)");
  auto again = must(open_store(db_->url()));
  auto version = again->migrate();
  ASSERT_FALSE(version.has_value());
  EXPECT_EQ(version.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(version.error().reason, "schema_too_new");
}

TEST_F(PgStoreTest, ManyInstancesMigrateAFreshDatabaseTogether) {
  PostgresDatabase fresh;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 6; ++i) {
    stores.push_back(must(open_store(fresh.url(), StoreOptions{1})));
  }
  std::vector<int> versions(stores.size(), -1);
  std::vector<std::string> errors(stores.size());
  in_parallel(static_cast<int>(stores.size()), [&](int i) {
    auto r = stores[i]->migrate();
    if (r) {
      versions[i] = *r;
    } else {
      errors[i] = r.error().detail;
    }
  });
  for (size_t i = 0; i < stores.size(); ++i) {
    EXPECT_EQ(versions[i], kPostgresMigrations.back().version) << errors[i];
  }
  auto rows = postgres_admin(fresh.url(), "SELECT count(*) FROM schema_version");
  EXPECT_EQ(rows.at(0), std::to_string(kPostgresMigrations.size()));
}

TEST_F(PgStoreTest, DeletingUserCascadesToItsRows) {
  User alice = must(store().create_user("alice", "h", kNow));
  User bob = must(store().create_user("bob", "h", kNow));
  for (const User& u : {alice, bob}) {
    Session s;
    s.token_hash = "tok-" + u.username;
    s.user_id = u.id;
    ASSERT_TRUE(store().create_session(s));
    Method m;
    m.user_id = u.id;
    m.type = "totp";
    m.created_at = kNow;
    ASSERT_TRUE(store().create_method(m));
    ASSERT_TRUE(store().replace_recovery_codes(u.id, {"h1", "h2"}, 1, kNow));
  }

  sql("DELETE FROM users WHERE id = " + std::to_string(alice.id));

  EXPECT_EQ(store().session_by_token_hash("tok-alice").error().code, Code::kNotFound);
  EXPECT_TRUE(must(store().methods_of_user(alice.id)).empty());
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 0);
  EXPECT_TRUE(store().session_by_token_hash("tok-bob"));
  EXPECT_EQ(must(store().methods_of_user(bob.id)).size(), 1u);
  EXPECT_EQ(must(store().remaining_recovery_codes(bob.id)), 2);
}

TEST_F(PgStoreTest, ErrorDetailsNameTheCauseButNeverBoundValues) {
  User alice = must(store().create_user("alice", "h", kNow));
  Session s;
  s.token_hash = "secret-token-hash";
  s.user_id = alice.id;
  ASSERT_TRUE(store().create_session(s));
  auto dup = store().create_session(s);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code, Code::kAlreadyExists);
  EXPECT_NE(dup.error().detail.find("23505"), std::string::npos) << dup.error().detail;
  EXPECT_NE(dup.error().detail.find("sessions_token_hash_key"), std::string::npos);
  EXPECT_EQ(dup.error().detail.find("secret-token-hash"), std::string::npos);

  // Text PostgreSQL cannot hold (NUL) in a field that is not display text: a clear
  // kInvalidArgument, not a 500, and the value is not echoed.
  auto nul = store().create_user(std::string("mallory\0secret-suffix", 21), "h", kNow);
  ASSERT_FALSE(nul.has_value());
  EXPECT_EQ(nul.error().code, Code::kInvalidArgument);
  EXPECT_EQ(nul.error().detail.find("secret-suffix"), std::string::npos) << nul.error().detail;
  EXPECT_EQ(nul.error().detail.find("mallory"), std::string::npos) << nul.error().detail;
  EXPECT_EQ(must(store().list_users()).size(), 1u);
}

TEST_F(PgStoreTest, ClientTextPostgresWouldRefuseIsStoredAsReplacementCharacters) {
  // SQLite keeps any bytes; PostgreSQL TEXT refuses invalid UTF-8 and NUL. A User-Agent header may
  // carry either, and must not turn a sign-in into an error.
  User alice = must(store().create_user("alice", "h", kNow));
  static const char kUa[] = "Caf\xE9 \xF0\x9F\x98\x80 \xC3\xA9 nul:\0:end";
  const std::string ua(kUa, sizeof kUa - 1);
  const std::string want = "Caf\xEF\xBF\xBD \xF0\x9F\x98\x80 \xC3\xA9 nul:\xEF\xBF\xBD:end";
  Session s;
  s.token_hash = "tok";
  s.user_id = alice.id;
  s.user_agent = ua;
  s.ip = "192.0.2.1";
  Session created = must(store().create_session(s));
  EXPECT_EQ(created.user_agent, want);
  EXPECT_EQ(must(store().session_by_id(created.id)).user_agent, want);
  EXPECT_EQ(created.ip, "192.0.2.1");

  AuditEvent e;
  e.user_id = alice.id;
  e.at = kNow;
  e.event = "login_failed";
  e.user_agent = ua;
  e.detail = std::string("{\"username\":\"\xE2\x82") + "\"}";  // a 3-byte character cut short
  ASSERT_TRUE(store().append_audit(e));
  auto events = must(store().audit_of_user(alice.id, 10));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].user_agent, want);
  EXPECT_EQ(events[0].detail, "{\"username\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

TEST_F(PgStoreTest, ReplacesConnectionsTheServerClosed) {
  User alice = must(store().create_user("alice", "h", kNow));
  warm_pool();
  EXPECT_EQ(backends(), kPool);

  // What a restart of PostgreSQL does to idle connections: the health check notices each closed one
  // before use and replaces it, so not a single call fails.
  terminate_backends();
  std::atomic<int> errors{0};
  in_parallel(4 * kPool, [&](int) {
    for (int k = 0; k < 5; ++k) {
      auto u = store().user_by_id(alice.id);
      if (!u || u->username != "alice") {
        ++errors;
      }
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GE(backends(), 1);
  EXPECT_LE(backends(), kPool);
}

TEST_F(PgStoreTest, UnreachableDatabaseAnswersUnavailableThenRecovers) {
  User alice = must(store().create_user("alice", "h", kNow));
  ASSERT_TRUE(store().replace_recovery_codes(alice.id, {"r1"}, 1, kNow));
  warm_pool();

  // The database goes away: no new connection is accepted, existing ones are ended.
  admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS false");
  terminate_backends();

  auto started = std::chrono::steady_clock::now();
  for (int k = 0; k < 20; ++k) {
    auto u = store().user_by_id(alice.id);
    ASSERT_FALSE(u.has_value());
    EXPECT_EQ(u.error().code, Code::kUnavailable);
    EXPECT_EQ(u.error().reason, "unavailable");
    EXPECT_GE(u.error().retry_after_s, 1);
    auto write = store().create_user("bob", "h", kNow);
    ASSERT_FALSE(write.has_value());
    EXPECT_EQ(write.error().code, Code::kUnavailable);
    auto used = store().use_recovery_code(alice.id, 1, "r1", kNow);
    ASSERT_FALSE(used.has_value());
    EXPECT_EQ(used.error().code, Code::kUnavailable);
  }
  // Failing fast matters as much as failing clearly: no worker parks on a dead database.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));

  admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS true");
  // Back within the reconnect backoff, without reopening the store.
  core::Result<User> back = core::fail(Code::kInternal, "x", "x");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    back = store().user_by_id(alice.id);
    if (back) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(back.has_value()) << back.error().detail;
  EXPECT_EQ(back->username, "alice");
  // Nothing written while it was down; nothing lost from before.
  EXPECT_EQ(store().user_by_name("bob").error().code, Code::kNotFound);
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 1);
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "r1", kNow)));
  EXPECT_TRUE(store().create_user("bob", "h", kNow));
}

TEST_F(PgStoreTest, PoolNeverOpensMoreThanItsSize) {
  auto small = must(open_store(db_->url(), StoreOptions{2}));
  store_.reset();  // only the small store's connections count below
  std::atomic<int> errors{0};
  std::atomic<int> most{0};
  in_parallel(12, [&](int i) {
    for (int k = 0; k < 10; ++k) {
      if (!small->throttle_hit("k", kNow, 60, 1000, 60)) {
        ++errors;
      }
    }
    if (i == 0) {
      most = backends();
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(must(small->throttle_get("k")).count, 120);
}

TEST_F(PgStoreTest, ConcurrentConfirmationsLeaveExactlyOneDefault) {
  // Read-then-write verbs lock the user's row, so READ COMMITTED cannot let two of them both see
  // "no default yet" (the second would then fail on the one-default index). Many rounds, because
  // each one is a narrow race.
  auto other = must(open_store(db_->url()));
  constexpr int kThreads = 8;
  for (int round = 0; round < 25; ++round) {
    User user = must(store().create_user("user" + std::to_string(round), "h", kNow));
    std::vector<int64_t> ids;
    for (int i = 0; i < kThreads; ++i) {
      Method m;
      m.user_id = user.id;
      m.type = "totp";
      m.created_at = kNow + i;
      ids.push_back(must(store().create_method(m)).id);
    }
    std::atomic<int> errors{0};
    in_parallel(kThreads, [&](int i) {
      Store& s = i % 2 == 0 ? store() : *other;
      auto r = i % 4 == 3 ? s.set_default_method(user.id,
                                                 ids[i])  // unconfirmed: refused
                          : s.confirm_method(user.id, ids[i], kNow + 100);
      if (!r && r.error().code != Code::kFailedPrecondition) {
        ++errors;
      }
    });
    ASSERT_EQ(errors.load(), 0) << "round " << round;
    int defaults = 0;
    for (const Method& m : must(store().methods_of_user(user.id))) {
      defaults += m.is_default ? 1 : 0;
    }
    ASSERT_EQ(defaults, 1) << "round " << round;
  }
}

}  // namespace
}  // namespace twostep::store
