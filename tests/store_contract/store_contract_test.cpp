// The store contract: what every backend of store/store.hpp must do, run against each entry
// of store_factories(). Tests speak only the Store interface, so a new backend passes or
// fails the same suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "backends.hpp"
#include "twostep/store/store.hpp"

namespace twostep::core {
// Readable failures: "kNotFound" rather than a byte dump.
inline void PrintTo(Code code, std::ostream* os) {
  static const char* const kNames[] = {
      "kInvalidArgument", "kUnauthenticated",    "kPermissionDenied", "kNotFound",
      "kAlreadyExists",   "kFailedPrecondition", "kPayloadTooLarge",  "kResourceExhausted",
      "kInternal",        "kBadGateway",         "kUnavailable"};
  *os << kNames[static_cast<int>(code)];
}
}  // namespace twostep::core

namespace twostep::store {
namespace {

using contract::StoreFactory;
using contract::TestDatabase;
using core::Code;

constexpr int64_t kNow = 1'700'000'000;

// Unwraps a result or fails the test (gtest reports the exception with the error detail).
template <class T>
T must(core::Result<T> r) {
  if (!r) {
    throw std::runtime_error("unexpected error: " + r.error().message + " / " + r.error().detail);
  }
  return std::move(*r);
}

#define EXPECT_OK(expr)                                                         \
  do {                                                                          \
    auto&& r_ = (expr);                                                         \
    EXPECT_TRUE(r_.has_value()) << #expr << ": " << r_.error().message << " / " \
                                << r_.error().detail;                           \
  } while (0)

#define EXPECT_CODE(expr, expected_code)                      \
  do {                                                        \
    auto&& r_ = (expr);                                       \
    if (r_.has_value()) {                                     \
      ADD_FAILURE() << #expr << " succeeded, expected error"; \
    } else {                                                  \
      EXPECT_EQ(r_.error().code, expected_code) << #expr;     \
    }                                                         \
  } while (0)

class StoreContract : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    db_ = GetParam().make();
    store_ = open();
    version_ = must(store_->migrate());
  }

  std::unique_ptr<Store> open() { return must(open_store(db_->url())); }
  Store& store() { return *store_; }

  User user(const std::string& name) {
    return must(store().create_user(name, "hash-" + name, kNow));
  }

  Session session_for(int64_t user_id, const std::string& token_hash) {
    Session s;
    s.token_hash = token_hash;
    s.user_id = user_id;
    s.state = SessionState::kFull;
    s.created_at = kNow;
    s.last_seen_at = kNow;
    s.expires_at = kNow + 3600;
    s.absolute_expires_at = kNow + 86400;
    s.auth_at = kNow;
    return must(store().create_session(s));
  }

  Method method_for(int64_t user_id, const std::string& type, int64_t created_at,
                    const std::string& lookup = "", bool confirmed = false) {
    Method m;
    m.user_id = user_id;
    m.type = type;
    m.label = type + " label";
    m.secret = "sealed";
    m.params = "{}";
    m.lookup = lookup;
    m.confirmed = confirmed;
    m.created_at = created_at;
    return must(store().create_method(m));
  }

  std::vector<int64_t> default_ids(int64_t user_id) {
    std::vector<int64_t> ids;
    for (const Method& m : must(store().methods_of_user(user_id))) {
      if (m.is_default) {
        ids.push_back(m.id);
      }
    }
    return ids;
  }

  // Runs `body(i)` on `n` threads that start together.
  template <class F>
  static void in_parallel(int n, F body) {
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

  std::unique_ptr<TestDatabase> db_;  // outlives store_
  std::unique_ptr<Store> store_;
  int version_ = 0;
};

// The same contract, for backends where a second handle reaches the same database.
class SharedStoreContract : public StoreContract {};

// --- migrations and opening ------------------------------------------------------------

TEST_P(StoreContract, MigrateIsIdempotent) {
  EXPECT_GE(version_, 1);
  User alice = user("alice");
  EXPECT_EQ(must(store().migrate()), version_);
  EXPECT_EQ(must(store().migrate()), version_);
  EXPECT_EQ(must(store().user_by_id(alice.id)).username, "alice");
}

TEST_P(SharedStoreContract, ReopenedDatabaseKeepsData) {
  User alice = user("alice");
  Session s = session_for(alice.id, "tok-a");
  Method m = method_for(alice.id, "totp", kNow, "", true);
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"h1", "h2"}, 1, kNow));
  store_.reset();

  store_ = open();
  EXPECT_EQ(must(store().migrate()), version_);
  EXPECT_EQ(must(store().user_by_name("alice")).id, alice.id);
  EXPECT_EQ(must(store().session_by_token_hash("tok-a")).id, s.id);
  EXPECT_TRUE(must(store().method_of_user(alice.id, m.id)).is_default);
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 2);
}

TEST_P(SharedStoreContract, TwoHandlesMigrateTogether) {
  auto fresh = GetParam().make();
  auto a = must(open_store(fresh->url()));
  auto b = must(open_store(fresh->url()));
  std::vector<int> versions(2, -1);
  in_parallel(2, [&](int i) {
    auto r = (i == 0 ? a : b)->migrate();
    versions[i] = r ? *r : -1;
  });
  EXPECT_EQ(versions[0], version_);
  EXPECT_EQ(versions[1], version_);
  EXPECT_OK(a->create_user("bob", "h", kNow));
  EXPECT_EQ(must(b->user_by_name("bob")).username, "bob");
}

// --- users -----------------------------------------------------------------------------

TEST_P(StoreContract, CreatesAndReadsUsers) {
  User alice = must(store().create_user("alice", "argon2id$x", kNow));
  EXPECT_GT(alice.id, 0);
  EXPECT_EQ(alice.username, "alice");
  EXPECT_EQ(alice.password_hash, "argon2id$x");
  EXPECT_FALSE(alice.disabled);
  EXPECT_EQ(alice.created_at, kNow);
  EXPECT_EQ(alice.last_login_at, 0);

  User by_name = must(store().user_by_name("alice"));
  EXPECT_EQ(by_name.id, alice.id);
  EXPECT_EQ(by_name.password_hash, "argon2id$x");
  User by_id = must(store().user_by_id(alice.id));
  EXPECT_EQ(by_id.username, "alice");
  EXPECT_EQ(by_id.created_at, kNow);
}

TEST_P(StoreContract, DuplicateUsernameIsAlreadyExists) {
  user("alice");
  EXPECT_CODE(store().create_user("alice", "h", kNow), Code::kAlreadyExists);
  EXPECT_CODE(store().create_user("Alice", "h", kNow), Code::kAlreadyExists);
  EXPECT_CODE(store().create_user("ALICE", "h", kNow), Code::kAlreadyExists);
  EXPECT_EQ(must(store().list_users()).size(), 1u);
}

TEST_P(StoreContract, MissingUserIsNotFound) {
  EXPECT_CODE(store().user_by_name("nobody"), Code::kNotFound);
  EXPECT_CODE(store().user_by_id(4242), Code::kNotFound);
  EXPECT_CODE(store().set_password_hash(4242, "h"), Code::kNotFound);
  EXPECT_CODE(store().set_user_disabled(4242, true), Code::kNotFound);
  EXPECT_CODE(store().set_last_login(4242, kNow), Code::kNotFound);
}

TEST_P(StoreContract, ListsUsersInCreationOrder) {
  EXPECT_TRUE(must(store().list_users()).empty());
  User b = user("bob");
  User a = user("alice");
  auto users = must(store().list_users());
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].id, b.id);
  EXPECT_EQ(users[1].id, a.id);
}

TEST_P(StoreContract, UpdatesUserFields) {
  User alice = user("alice");
  User bob = user("bob");
  EXPECT_OK(store().set_password_hash(alice.id, "new-hash"));
  EXPECT_OK(store().set_user_disabled(alice.id, true));
  EXPECT_OK(store().set_last_login(alice.id, kNow + 5));
  User a = must(store().user_by_id(alice.id));
  EXPECT_EQ(a.password_hash, "new-hash");
  EXPECT_TRUE(a.disabled);
  EXPECT_EQ(a.last_login_at, kNow + 5);
  EXPECT_OK(store().set_user_disabled(alice.id, false));
  EXPECT_FALSE(must(store().user_by_id(alice.id)).disabled);
  User b = must(store().user_by_id(bob.id));  // untouched
  EXPECT_EQ(b.password_hash, "hash-bob");
  EXPECT_EQ(b.last_login_at, 0);
}

// --- sessions --------------------------------------------------------------------------

TEST_P(StoreContract, CreatesAndReadsSessions) {
  User alice = user("alice");
  Session s;
  s.id = 999;  // ignored
  s.token_hash = "aa11";
  s.user_id = alice.id;
  s.state = SessionState::kPendingSecondFactor;
  s.remember = true;
  s.created_at = kNow;
  s.last_seen_at = kNow + 1;
  s.expires_at = kNow + 2;
  s.absolute_expires_at = kNow + 3;
  s.auth_at = kNow + 4;
  s.failed_attempts = 2;
  s.ip = "192.0.2.1";
  s.user_agent = "Firefox/123";
  Session created = must(store().create_session(s));
  EXPECT_GT(created.id, 0);
  EXPECT_NE(created.id, 999);

  for (const Session& got :
       {must(store().session_by_token_hash("aa11")), must(store().session_by_id(created.id))}) {
    EXPECT_EQ(got.id, created.id);
    EXPECT_EQ(got.token_hash, "aa11");
    EXPECT_EQ(got.user_id, alice.id);
    EXPECT_EQ(got.state, SessionState::kPendingSecondFactor);
    EXPECT_TRUE(got.remember);
    EXPECT_EQ(got.created_at, kNow);
    EXPECT_EQ(got.last_seen_at, kNow + 1);
    EXPECT_EQ(got.expires_at, kNow + 2);
    EXPECT_EQ(got.absolute_expires_at, kNow + 3);
    EXPECT_EQ(got.auth_at, kNow + 4);
    EXPECT_EQ(got.failed_attempts, 2);
    EXPECT_EQ(got.ip, "192.0.2.1");
    EXPECT_EQ(got.user_agent, "Firefox/123");
  }
}

TEST_P(StoreContract, SessionErrors) {
  User alice = user("alice");
  session_for(alice.id, "tok");
  Session dup;
  dup.token_hash = "tok";
  dup.user_id = alice.id;
  EXPECT_CODE(store().create_session(dup), Code::kAlreadyExists);
  Session orphan;
  orphan.token_hash = "orphan";
  orphan.user_id = 4242;
  EXPECT_CODE(store().create_session(orphan), Code::kNotFound);

  EXPECT_CODE(store().session_by_token_hash("nope"), Code::kNotFound);
  EXPECT_CODE(store().session_by_id(4242), Code::kNotFound);
  EXPECT_CODE(store().touch_session(4242, kNow, kNow + 1), Code::kNotFound);
  EXPECT_CODE(store().upgrade_session(4242, "x", SessionState::kFull, kNow, kNow + 1),
              Code::kNotFound);
  EXPECT_CODE(store().add_session_failure(4242), Code::kNotFound);
  EXPECT_CODE(store().delete_session(4242), Code::kNotFound);
}

TEST_P(StoreContract, TouchSessionSlidesExpiry) {
  User alice = user("alice");
  Session s = session_for(alice.id, "tok");
  EXPECT_OK(store().touch_session(s.id, kNow + 100, kNow + 5000));
  Session got = must(store().session_by_id(s.id));
  EXPECT_EQ(got.last_seen_at, kNow + 100);
  EXPECT_EQ(got.expires_at, kNow + 5000);
  EXPECT_EQ(got.absolute_expires_at, s.absolute_expires_at);
  EXPECT_EQ(got.token_hash, "tok");
}

TEST_P(StoreContract, UpgradeSessionReplacesToken) {
  User alice = user("alice");
  Session s = session_for(alice.id, "old");
  session_for(alice.id, "other");
  EXPECT_OK(store().upgrade_session(s.id, "new", SessionState::kFull, kNow + 7, kNow + 9000));
  EXPECT_CODE(store().session_by_token_hash("old"), Code::kNotFound);
  Session got = must(store().session_by_token_hash("new"));
  EXPECT_EQ(got.id, s.id);
  EXPECT_EQ(got.state, SessionState::kFull);
  EXPECT_EQ(got.auth_at, kNow + 7);
  EXPECT_EQ(got.expires_at, kNow + 9000);
  // A collision changes nothing.
  EXPECT_CODE(store().upgrade_session(s.id, "other", SessionState::kEnrollmentRequired, 1, 2),
              Code::kAlreadyExists);
  got = must(store().session_by_id(s.id));
  EXPECT_EQ(got.token_hash, "new");
  EXPECT_EQ(got.state, SessionState::kFull);
}

TEST_P(StoreContract, ClearAuthTimesOnlyTouchesThatUser) {
  User alice = user("alice");
  User bob = user("bob");
  Session a1 = session_for(alice.id, "a1");
  Session a2 = session_for(alice.id, "a2");
  Session b1 = session_for(bob.id, "b1");
  EXPECT_EQ(must(store().clear_auth_times(alice.id)), 2);
  EXPECT_EQ(must(store().session_by_id(a1.id)).auth_at, 0);
  EXPECT_EQ(must(store().session_by_id(a2.id)).auth_at, 0);
  EXPECT_EQ(must(store().session_by_id(b1.id)).auth_at, kNow);
  EXPECT_EQ(must(store().clear_auth_times(999999)), 0);
}

TEST_P(StoreContract, CountsSessionFailures) {
  User alice = user("alice");
  Session s = session_for(alice.id, "tok");
  Session t = session_for(alice.id, "tok2");
  EXPECT_EQ(must(store().add_session_failure(s.id)), 1);
  EXPECT_EQ(must(store().add_session_failure(s.id)), 2);
  EXPECT_EQ(must(store().add_session_failure(s.id)), 3);
  EXPECT_EQ(must(store().session_by_id(s.id)).failed_attempts, 3);
  EXPECT_EQ(must(store().session_by_id(t.id)).failed_attempts, 0);
}

TEST_P(StoreContract, DeletesSessions) {
  User alice = user("alice");
  Session s = session_for(alice.id, "tok");
  EXPECT_OK(store().delete_session(s.id));
  EXPECT_CODE(store().session_by_id(s.id), Code::kNotFound);
  EXPECT_CODE(store().session_by_token_hash("tok"), Code::kNotFound);
  EXPECT_CODE(store().delete_session(s.id), Code::kNotFound);
}

TEST_P(StoreContract, UserCannotTouchAnotherUsersSessions) {
  User alice = user("alice");
  User bob = user("bob");
  Session a = session_for(alice.id, "tok-a");
  Session b = session_for(bob.id, "tok-b");

  EXPECT_CODE(store().delete_user_session(bob.id, a.id), Code::kNotFound);
  EXPECT_EQ(must(store().session_by_id(a.id)).user_id, alice.id);

  auto bobs = must(store().sessions_of_user(bob.id));
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].id, b.id);

  EXPECT_EQ(must(store().delete_sessions_of_user(bob.id, 0)), 1);
  EXPECT_EQ(must(store().sessions_of_user(alice.id)).size(), 1u);

  EXPECT_OK(store().delete_user_session(alice.id, a.id));
  EXPECT_TRUE(must(store().sessions_of_user(alice.id)).empty());
}

TEST_P(StoreContract, DeleteSessionsOfUserKeepsOne) {
  User alice = user("alice");
  User bob = user("bob");
  Session keep = session_for(alice.id, "a1");
  session_for(alice.id, "a2");
  session_for(alice.id, "a3");
  session_for(bob.id, "b1");
  EXPECT_EQ(must(store().delete_sessions_of_user(alice.id, keep.id)), 2);
  auto left = must(store().sessions_of_user(alice.id));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, keep.id);
  EXPECT_EQ(must(store().sessions_of_user(bob.id)).size(), 1u);
  EXPECT_EQ(must(store().delete_sessions_of_user(alice.id, 0)), 1);
  EXPECT_EQ(must(store().delete_sessions_of_user(alice.id, 0)), 0);
}

TEST_P(StoreContract, DeletesExpiredSessions) {
  User alice = user("alice");
  Session idle = session_for(alice.id, "idle");  // expires kNow + 3600
  EXPECT_OK(store().touch_session(idle.id, kNow, kNow + 10));
  Session live = session_for(alice.id, "live");  // absolute kNow + 86400
  Session old = session_for(alice.id, "old");
  EXPECT_OK(store().touch_session(old.id, kNow, kNow + 999'999));  // idle ok, absolute passes

  EXPECT_EQ(must(store().delete_expired_sessions(kNow + 5)), 0);
  EXPECT_EQ(must(store().delete_expired_sessions(kNow + 10)), 1);
  EXPECT_CODE(store().session_by_id(idle.id), Code::kNotFound);
  EXPECT_EQ(must(store().delete_expired_sessions(kNow + 3599)), 0);
  EXPECT_EQ(must(store().delete_expired_sessions(kNow + 3600)), 1);  // live's idle expiry
  EXPECT_CODE(store().session_by_id(live.id), Code::kNotFound);
  EXPECT_EQ(must(store().delete_expired_sessions(kNow + 86400)), 1);  // old's absolute expiry
  EXPECT_CODE(store().session_by_id(old.id), Code::kNotFound);
}

// --- audit -----------------------------------------------------------------------------

AuditEvent audit_event(int64_t user_id, int64_t at, const std::string& name) {
  AuditEvent e;
  e.user_id = user_id;
  e.at = at;
  e.event = name;
  e.ip = "198.51.100.7";
  e.user_agent = "curl";
  e.detail = R"({"k":"v"})";
  return e;
}

TEST_P(StoreContract, AuditIsNewestFirstPerUser) {
  User alice = user("alice");
  User bob = user("bob");
  EXPECT_OK(store().append_audit(audit_event(alice.id, kNow, "login_succeeded")));
  EXPECT_OK(store().append_audit(audit_event(alice.id, kNow + 10, "method_added")));
  EXPECT_OK(store().append_audit(audit_event(alice.id, kNow + 10, "recovery_codes_created")));
  EXPECT_OK(store().append_audit(audit_event(alice.id, kNow + 5, "login_failed")));
  EXPECT_OK(store().append_audit(audit_event(bob.id, kNow + 20, "login_succeeded")));
  EXPECT_OK(store().append_audit(audit_event(0, kNow + 30, "login_failed")));  // no user

  auto all = must(store().audit_of_user(alice.id, 100));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].event, "recovery_codes_created");  // same second: later insert first
  EXPECT_EQ(all[1].event, "method_added");
  EXPECT_EQ(all[2].event, "login_failed");
  EXPECT_EQ(all[3].event, "login_succeeded");
  EXPECT_EQ(all[3].at, kNow);
  EXPECT_EQ(all[3].ip, "198.51.100.7");
  EXPECT_EQ(all[3].user_agent, "curl");
  EXPECT_EQ(all[3].detail, R"({"k":"v"})");
  EXPECT_EQ(all[3].user_id, alice.id);
  EXPECT_GT(all[3].id, 0);

  auto two = must(store().audit_of_user(alice.id, 2));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].event, "recovery_codes_created");
  EXPECT_EQ(must(store().audit_of_user(bob.id, 100)).size(), 1u);
  EXPECT_EQ(must(store().audit_of_user(0, 100)).size(), 1u);
}

// The site-wide log: every user's entries and those of no user, newest first, with usernames.
class SiteAuditContract : public StoreContract {
 protected:
  void SetUp() override {
    StoreContract::SetUp();
    alice_ = user("alice");
    bob_ = user("bob");
    append(alice_.id, kNow, "login_succeeded");
    append(bob_.id, kNow + 5, "login_failed");
    append(0, kNow + 5, "login_failed");  // an unknown username
    append(alice_.id, kNow + 10, "login_failed");
    append(0, kNow + 20, "master_key_rotated");  // the operator
    append(999, kNow + 30, "login_succeeded");   // an id that names no account
  }

  void append(int64_t user_id, int64_t at, const std::string& event) {
    EXPECT_OK(store().append_audit(audit_event(user_id, at, event)));
  }

  // The events of site_audit(f) as "user:event" (user = username, or "#id" when it has none).
  std::vector<std::string> read(const AuditFilter& f) {
    std::vector<std::string> out;
    for (const auto& e : must(store().site_audit(f))) {
      out.push_back((e.username.empty() ? "#" + std::to_string(e.user_id) : e.username) + ":" +
                    e.event);
    }
    return out;
  }

  User alice_;
  User bob_;
};

TEST_P(SiteAuditContract, EveryEntryNewestFirstWithTheUsername) {
  using V = std::vector<std::string>;
  EXPECT_EQ(read({}), (V{"#999:login_succeeded", "#0:master_key_rotated", "alice:login_failed",
                        "#0:login_failed", "bob:login_failed", "alice:login_succeeded"}));
  auto all = must(store().site_audit({}));
  ASSERT_EQ(all.size(), 6u);
  const AuditEvent& first = all.back();
  EXPECT_GT(first.id, 0);
  EXPECT_EQ(first.user_id, alice_.id);
  EXPECT_EQ(first.username, "alice");
  EXPECT_EQ(first.at, kNow);
  EXPECT_EQ(first.ip, "198.51.100.7");
  EXPECT_EQ(first.user_agent, "curl");
  EXPECT_EQ(first.detail, R"({"k":"v"})");
  EXPECT_EQ(all[2].id, all[3].id + 1);  // the same second: the later entry first
  EXPECT_EQ(all[0].username, "");
  EXPECT_EQ(all[1].username, "");
}

TEST_P(SiteAuditContract, EachFilterAndTheirCombination) {
  using V = std::vector<std::string>;
  AuditFilter by_user;
  by_user.user_id = alice_.id;
  EXPECT_EQ(read(by_user), (V{"alice:login_failed", "alice:login_succeeded"}));
  AuditFilter no_user;
  no_user.user_id = 0;
  EXPECT_EQ(read(no_user), (V{"#0:master_key_rotated", "#0:login_failed"}));

  AuditFilter by_event;
  by_event.event = "login_failed";
  EXPECT_EQ(read(by_event), (V{"alice:login_failed", "#0:login_failed", "bob:login_failed"}));

  AuditFilter since;
  since.since = kNow + 10;  // at or after
  EXPECT_EQ(read(since), (V{"#999:login_succeeded", "#0:master_key_rotated", "alice:login_failed"}));
  since.since = kNow + 31;
  EXPECT_EQ(read(since), V{});

  AuditFilter all_three;
  all_three.user_id = alice_.id;
  all_three.event = "login_failed";
  all_three.since = kNow + 1;
  EXPECT_EQ(read(all_three), V{"alice:login_failed"});
  all_three.since = kNow + 11;
  EXPECT_EQ(read(all_three), V{});
}

TEST_P(SiteAuditContract, UnknownEventOrUserGivesAnEmptyList) {
  for (const char* event : {"no_such_event", "login", "LOGIN_FAILED", "login_failed ", "\xFF"}) {
    AuditFilter f;
    f.event = event;
    EXPECT_TRUE(must(store().site_audit(f)).empty()) << event;
  }
  AuditFilter f;
  f.user_id = bob_.id + 100;
  EXPECT_TRUE(must(store().site_audit(f)).empty());
}

TEST_P(SiteAuditContract, LimitTakesTheNewestAndIsChecked) {
  using V = std::vector<std::string>;
  AuditFilter f;
  f.limit = 2;
  EXPECT_EQ(read(f), (V{"#999:login_succeeded", "#0:master_key_rotated"}));
  f.limit = 1;
  f.event = "login_failed";
  EXPECT_EQ(read(f), V{"alice:login_failed"});
  f.limit = kMaxAuditPage;
  EXPECT_EQ(read(f).size(), 3u);
  for (int bad : {0, -1, kMaxAuditPage + 1}) {
    f.limit = bad;
    EXPECT_CODE(store().site_audit(f), Code::kInvalidArgument);
  }
}

// --- throttles -------------------------------------------------------------------------

TEST_P(StoreContract, MissingThrottleIsZero) {
  Throttle t = must(store().throttle_get("login:ip:192.0.2.1"));
  EXPECT_EQ(t.count, 0);
  EXPECT_EQ(t.window_start, 0);
  EXPECT_EQ(t.locked_until, 0);
  EXPECT_OK(store().throttle_clear("login:ip:192.0.2.1"));  // clearing nothing is fine
}

TEST_P(StoreContract, ThrottleCountsWithinWindowAndRestarts) {
  const std::string key = "login:user:1";
  Throttle t = must(store().throttle_hit(key, kNow, 60, 10, 300));
  EXPECT_EQ(t.key, key);
  EXPECT_EQ(t.count, 1);
  EXPECT_EQ(t.window_start, kNow);
  EXPECT_EQ(t.locked_until, 0);
  t = must(store().throttle_hit(key, kNow + 30, 60, 10, 300));
  EXPECT_EQ(t.count, 2);
  EXPECT_EQ(t.window_start, kNow);
  t = must(store().throttle_hit(key, kNow + 59, 60, 10, 300));
  EXPECT_EQ(t.count, 3);

  t = must(store().throttle_hit(key, kNow + 61, 60, 10, 300));  // window passed
  EXPECT_EQ(t.count, 1);
  EXPECT_EQ(t.window_start, kNow + 61);
  EXPECT_EQ(t.locked_until, 0);

  Throttle read = must(store().throttle_get(key));
  EXPECT_EQ(read.count, 1);
  EXPECT_EQ(read.window_start, kNow + 61);

  EXPECT_EQ(must(store().throttle_get("other")).count, 0);  // keys are independent
  EXPECT_OK(store().throttle_clear(key));
  EXPECT_EQ(must(store().throttle_get(key)).count, 0);
  EXPECT_EQ(must(store().throttle_hit(key, kNow + 62, 60, 10, 300)).count, 1);
}

TEST_P(StoreContract, ThrottleLocksWhenCountReachesMax) {
  const std::string key = "2fa:user:1";
  EXPECT_EQ(must(store().throttle_hit(key, kNow, 600, 3, 900)).locked_until, 0);
  EXPECT_EQ(must(store().throttle_hit(key, kNow + 1, 600, 3, 900)).locked_until, 0);
  Throttle t = must(store().throttle_hit(key, kNow + 2, 600, 3, 900));
  EXPECT_EQ(t.count, 3);
  EXPECT_EQ(t.locked_until, kNow + 2 + 900);
  EXPECT_EQ(must(store().throttle_get(key)).locked_until, kNow + 902);

  // Hits during the lock still count and never shorten it.
  t = must(store().throttle_hit(key, kNow + 100, 600, 3, 900));
  EXPECT_EQ(t.count, 4);
  EXPECT_GE(t.locked_until, kNow + 902);

  // A new window does not lift a running lock.
  t = must(store().throttle_hit(key, kNow + 700, 600, 3, 900));
  EXPECT_EQ(t.count, 1);
  EXPECT_EQ(t.window_start, kNow + 700);
  EXPECT_GE(t.locked_until, kNow + 902);

  // Clearing lifts it.
  EXPECT_OK(store().throttle_clear(key));
  Throttle cleared = must(store().throttle_get(key));
  EXPECT_EQ(cleared.locked_until, 0);
  EXPECT_EQ(cleared.count, 0);
}

TEST_P(StoreContract, ThrottleWithMaxOneLocksAtOnce) {
  Throttle t = must(store().throttle_hit("sms:user:1", kNow, 60, 1, 30));
  EXPECT_EQ(t.count, 1);
  EXPECT_EQ(t.locked_until, kNow + 30);
}

// --- methods ---------------------------------------------------------------------------

TEST_P(StoreContract, CreatesAndReadsMethods) {
  User alice = user("alice");
  Method m;
  m.id = 777;  // ignored
  m.user_id = alice.id;
  m.type = "totp";
  m.label = "Phone";
  m.secret = std::string("\x00\x01\xff\x7f sealed", 11);  // opaque bytes, NUL included
  m.params = R"({"digits":6})";
  m.created_at = kNow;
  m.last_used_at = 0;
  m.last_step = -1;
  Method created = must(store().create_method(m));
  EXPECT_GT(created.id, 0);
  EXPECT_NE(created.id, 777);

  Method got = must(store().method_of_user(alice.id, created.id));
  EXPECT_EQ(got.user_id, alice.id);
  EXPECT_EQ(got.type, "totp");
  EXPECT_EQ(got.label, "Phone");
  EXPECT_EQ(got.secret, m.secret);
  EXPECT_EQ(got.params, R"({"digits":6})");
  EXPECT_EQ(got.lookup, "");
  EXPECT_FALSE(got.confirmed);
  EXPECT_FALSE(got.is_default);
  EXPECT_EQ(got.created_at, kNow);
  EXPECT_EQ(got.last_used_at, 0);
  EXPECT_EQ(got.last_step, -1);

  Method second = method_for(alice.id, "sms", kNow + 1);
  auto all = must(store().methods_of_user(alice.id));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, created.id);
  EXPECT_EQ(all[1].id, second.id);
  EXPECT_CODE(store().method_of_user(alice.id, 4242), Code::kNotFound);
}

TEST_P(StoreContract, MethodLookupIsUniquePerType) {
  User alice = user("alice");
  User bob = user("bob");
  Method key = method_for(alice.id, "webauthn", kNow, "cred-1", true);
  Method stolen = key;
  stolen.user_id = bob.id;  // another user cannot register the same credential
  EXPECT_CODE(store().create_method(stolen), Code::kAlreadyExists);
  method_for(bob.id, "yubiotp", kNow, "cred-1");  // another type may reuse the value
  method_for(alice.id, "totp", kNow);             // empty lookups never collide
  method_for(alice.id, "totp", kNow);

  Method found = must(store().method_by_lookup("webauthn", "cred-1"));
  EXPECT_EQ(found.id, key.id);
  EXPECT_EQ(found.user_id, alice.id);
  EXPECT_EQ(must(store().method_by_lookup("yubiotp", "cred-1")).user_id, bob.id);
  EXPECT_CODE(store().method_by_lookup("webauthn", "cred-2"), Code::kNotFound);
  EXPECT_CODE(store().method_by_lookup("totp", ""), Code::kNotFound);
}

TEST_P(StoreContract, MethodForMissingUserIsNotFound) {
  Method m;
  m.user_id = 4242;
  m.type = "totp";
  m.created_at = kNow;
  EXPECT_CODE(store().create_method(m), Code::kNotFound);
}

TEST_P(StoreContract, FindsUnconfirmedMethodByLookup) {
  User alice = user("alice");
  Method m = method_for(alice.id, "yubiotp", kNow, "ccccccbcgujh");
  EXPECT_EQ(must(store().method_by_lookup("yubiotp", "ccccccbcgujh")).id, m.id);
}

TEST_P(StoreContract, UserCannotTouchAnotherUsersMethods) {
  User alice = user("alice");
  User bob = user("bob");
  Method a = method_for(alice.id, "totp", kNow, "", true);
  Method b = method_for(bob.id, "totp", kNow, "", true);
  Method a2 = method_for(alice.id, "sms", kNow + 1);

  EXPECT_CODE(store().method_of_user(bob.id, a.id), Code::kNotFound);
  EXPECT_CODE(store().rename_method(bob.id, a.id, "mine"), Code::kNotFound);
  EXPECT_CODE(store().update_method_params(bob.id, a.id, "{}"), Code::kNotFound);
  EXPECT_CODE(store().confirm_method(bob.id, a2.id, kNow), Code::kNotFound);
  EXPECT_CODE(store().set_default_method(bob.id, a.id), Code::kNotFound);
  EXPECT_CODE(store().delete_method(bob.id, a.id), Code::kNotFound);

  Method still = must(store().method_of_user(alice.id, a.id));
  EXPECT_EQ(still.label, "totp label");
  EXPECT_TRUE(still.is_default);
  EXPECT_FALSE(must(store().method_of_user(alice.id, a2.id)).confirmed);
  EXPECT_EQ(default_ids(bob.id), std::vector<int64_t>{b.id});

  auto bobs = must(store().methods_of_user(bob.id));
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].id, b.id);
  EXPECT_EQ(must(store().delete_all_methods(bob.id)), 1);
  EXPECT_EQ(must(store().methods_of_user(alice.id)).size(), 2u);
}

TEST_P(StoreContract, RenamesAndUpdatesParams) {
  User alice = user("alice");
  Method m = method_for(alice.id, "webauthn", kNow, "cred");
  EXPECT_OK(store().rename_method(alice.id, m.id, "YubiKey 5C"));
  EXPECT_OK(store().update_method_params(alice.id, m.id, R"({"sign_count":7})"));
  Method got = must(store().method_of_user(alice.id, m.id));
  EXPECT_EQ(got.label, "YubiKey 5C");
  EXPECT_EQ(got.params, R"({"sign_count":7})");
  EXPECT_EQ(got.secret, "sealed");
  EXPECT_CODE(store().rename_method(alice.id, 4242, "x"), Code::kNotFound);
  EXPECT_CODE(store().update_method_params(alice.id, 4242, "{}"), Code::kNotFound);
}

TEST_P(StoreContract, FirstConfirmedMethodBecomesDefault) {
  User alice = user("alice");
  Method m1 = method_for(alice.id, "totp", kNow);
  Method m2 = method_for(alice.id, "sms", kNow + 1);
  EXPECT_TRUE(default_ids(alice.id).empty());  // unconfirmed methods are never the default

  EXPECT_OK(store().confirm_method(alice.id, m2.id, kNow + 2));
  Method got = must(store().method_of_user(alice.id, m2.id));
  EXPECT_TRUE(got.confirmed);
  EXPECT_TRUE(got.is_default);

  EXPECT_OK(store().confirm_method(alice.id, m1.id, kNow + 3));
  got = must(store().method_of_user(alice.id, m1.id));
  EXPECT_TRUE(got.confirmed);
  EXPECT_FALSE(got.is_default);
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});

  EXPECT_OK(store().confirm_method(alice.id, m2.id, kNow + 4));  // again: no change
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});
  EXPECT_CODE(store().confirm_method(alice.id, 4242, kNow), Code::kNotFound);
}

TEST_P(StoreContract, MethodCreatedConfirmedTakesDefaultOnlyIfNone) {
  User alice = user("alice");
  Method first = method_for(alice.id, "webauthn", kNow, "k1", true);
  EXPECT_TRUE(first.is_default);
  Method second = method_for(alice.id, "webauthn", kNow + 1, "k2", true);
  EXPECT_FALSE(second.is_default);
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{first.id});
}

TEST_P(StoreContract, SetDefaultOnlyForConfirmedMethods) {
  User alice = user("alice");
  Method m1 = method_for(alice.id, "totp", kNow, "", true);
  Method m2 = method_for(alice.id, "push", kNow + 1, "", true);
  Method pending = method_for(alice.id, "sms", kNow + 2);
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m1.id});

  EXPECT_OK(store().set_default_method(alice.id, m2.id));
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});
  EXPECT_OK(store().set_default_method(alice.id, m2.id));  // idempotent
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});

  auto r = store().set_default_method(alice.id, pending.id);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});
  EXPECT_CODE(store().set_default_method(alice.id, 4242), Code::kNotFound);
}

TEST_P(StoreContract, DeletingDefaultPromotesOldestConfirmed) {
  User alice = user("alice");
  Method m1 = method_for(alice.id, "totp", kNow, "", true);    // default
  Method unconfirmed = method_for(alice.id, "sms", kNow + 1);  // oldest left, unconfirmed
  Method m3 = method_for(alice.id, "push", kNow + 3, "", true);
  Method m2 = method_for(alice.id, "webauthn", kNow + 2, "k", true);  // older than m3
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m1.id});

  EXPECT_OK(store().delete_method(alice.id, m1.id));
  EXPECT_CODE(store().method_of_user(alice.id, m1.id), Code::kNotFound);
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});

  // Deleting a method that is not the default leaves the default alone.
  EXPECT_OK(store().delete_method(alice.id, m3.id));
  EXPECT_EQ(default_ids(alice.id), std::vector<int64_t>{m2.id});

  // Only unconfirmed methods left: no default.
  EXPECT_OK(store().delete_method(alice.id, m2.id));
  EXPECT_TRUE(default_ids(alice.id).empty());
  EXPECT_FALSE(must(store().method_of_user(alice.id, unconfirmed.id)).is_default);
  EXPECT_CODE(store().delete_method(alice.id, m2.id), Code::kNotFound);
}

TEST_P(StoreContract, DeleteAllMethodsAlsoDeletesRecoveryCodes) {
  User alice = user("alice");
  User bob = user("bob");
  method_for(alice.id, "totp", kNow, "", true);
  method_for(alice.id, "webauthn", kNow, "k", true);
  method_for(alice.id, "sms", kNow);
  method_for(bob.id, "totp", kNow, "", true);
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"a1", "a2"}, 1, kNow));
  EXPECT_OK(store().replace_recovery_codes(bob.id, {"b1"}, 1, kNow));

  EXPECT_EQ(must(store().delete_all_methods(alice.id)), 3);
  EXPECT_TRUE(must(store().methods_of_user(alice.id)).empty());
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 0);
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 1, "a1", kNow)));
  EXPECT_EQ(must(store().methods_of_user(bob.id)).size(), 1u);
  EXPECT_EQ(must(store().remaining_recovery_codes(bob.id)), 1);
  EXPECT_EQ(must(store().delete_all_methods(alice.id)), 0);
  // The lookup value is free again.
  method_for(alice.id, "webauthn", kNow + 1, "k", true);
}

TEST_P(StoreContract, DeletesOldUnconfirmedMethods) {
  User alice = user("alice");
  Method old_pending = method_for(alice.id, "totp", kNow - 100);
  Method old_confirmed = method_for(alice.id, "push", kNow - 100, "", true);
  Method new_pending = method_for(alice.id, "sms", kNow);
  EXPECT_EQ(must(store().delete_unconfirmed_methods(kNow - 50)), 1);
  EXPECT_CODE(store().method_of_user(alice.id, old_pending.id), Code::kNotFound);
  EXPECT_OK(store().method_of_user(alice.id, old_confirmed.id));
  EXPECT_OK(store().method_of_user(alice.id, new_pending.id));
  EXPECT_EQ(must(store().delete_unconfirmed_methods(kNow - 50)), 0);
}

TEST_P(StoreContract, AdvanceMethodStepOnlyForward) {
  User alice = user("alice");
  Method m = method_for(alice.id, "totp", kNow, "", true);
  EXPECT_TRUE(must(store().advance_method_step(m.id, 1000, kNow + 1)));
  Method got = must(store().method_of_user(alice.id, m.id));
  EXPECT_EQ(got.last_step, 1000);
  EXPECT_EQ(got.last_used_at, kNow + 1);

  EXPECT_FALSE(must(store().advance_method_step(m.id, 1000, kNow + 2)));  // replay
  EXPECT_FALSE(must(store().advance_method_step(m.id, 999, kNow + 2)));   // older step
  got = must(store().method_of_user(alice.id, m.id));
  EXPECT_EQ(got.last_step, 1000);
  EXPECT_EQ(got.last_used_at, kNow + 1);

  EXPECT_TRUE(must(store().advance_method_step(m.id, 1001, kNow + 3)));
  EXPECT_TRUE(must(store().advance_method_step(m.id, 0 + 5000, kNow + 4)));
  EXPECT_CODE(store().advance_method_step(4242, 1, kNow), Code::kNotFound);

  // A fresh method (last_step -1) accepts step / counter 0.
  Method key = method_for(alice.id, "webauthn", kNow, "k");
  EXPECT_TRUE(must(store().advance_method_step(key.id, 0, kNow)));
  EXPECT_FALSE(must(store().advance_method_step(key.id, 0, kNow)));
}

TEST_P(StoreContract, TouchMethodRecordsUse) {
  User alice = user("alice");
  Method m = method_for(alice.id, "push", kNow, "", true);
  EXPECT_OK(store().touch_method(m.id, kNow + 60));
  Method got = must(store().method_of_user(alice.id, m.id));
  EXPECT_EQ(got.last_used_at, kNow + 60);
  EXPECT_EQ(got.last_step, -1);
  EXPECT_CODE(store().touch_method(4242, kNow), Code::kNotFound);
}

// --- recovery codes --------------------------------------------------------------------

TEST_P(StoreContract, RecoveryCodesWorkOnceAndOnlyForTheirUser) {
  User alice = user("alice");
  User bob = user("bob");
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 0);
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"h1", "h2", "h3"}, 1, kNow));
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 3);

  EXPECT_FALSE(must(store().use_recovery_code(bob.id, 1, "h1", kNow)));  // not bob's
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "h1", kNow)));
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 1, "h1", kNow + 1)));  // used
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 1, "nope", kNow)));
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 2);
  EXPECT_EQ(must(store().remaining_recovery_codes(bob.id)), 0);
}

TEST_P(StoreContract, ReplacingRecoveryCodesRetiresTheOldSet) {
  User alice = user("alice");
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"old1", "old2"}, 1, kNow));
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "old1", kNow)));
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"new1", "new2", "new3"}, 1, kNow + 1));
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 3);
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 1, "old2", kNow + 2)));
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "new2", kNow + 2)));

  // A repeated hash in a set is still one code.
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"dup", "dup"}, 1, kNow + 3));
  EXPECT_TRUE(must(store().use_recovery_code(alice.id, 1, "dup", kNow + 3)));
  EXPECT_FALSE(must(store().use_recovery_code(alice.id, 1, "dup", kNow + 3)));

  EXPECT_OK(store().replace_recovery_codes(alice.id, {}, 1, kNow + 4));
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 0);
  EXPECT_CODE(store().replace_recovery_codes(4242, {"x"}, 1, kNow), Code::kNotFound);
}

// --- concurrency: use-once verbs are single conditional writes -------------------------

TEST_P(StoreContract, ConcurrentRecoveryCodeUseWinsOnce) {
  User alice = user("alice");
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"h"}, 1, kNow));
  std::atomic<int> wins{0};
  std::atomic<int> errors{0};
  in_parallel(20, [&](int) {
    auto r = store().use_recovery_code(alice.id, 1, "h", kNow);
    if (!r) {
      ++errors;
    } else if (*r) {
      ++wins;
    }
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(must(store().remaining_recovery_codes(alice.id)), 0);
}

TEST_P(StoreContract, ConcurrentStepAdvanceWinsOnce) {
  User alice = user("alice");
  Method m = method_for(alice.id, "totp", kNow, "", true);
  std::atomic<int> wins{0};
  std::atomic<int> errors{0};
  in_parallel(20, [&](int) {
    auto r = store().advance_method_step(m.id, 56'666'666, kNow);
    if (!r) {
      ++errors;
    } else if (*r) {
      ++wins;
    }
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(must(store().method_of_user(alice.id, m.id)).last_step, 56'666'666);
}

TEST_P(StoreContract, ConcurrentThrottleHitsAllCount) {
  std::atomic<int> errors{0};
  std::vector<int> seen(20, 0);
  in_parallel(20, [&](int i) {
    auto r = store().throttle_hit("login:ip:203.0.113.9", kNow, 60, 1000, 60);
    if (!r) {
      ++errors;
    } else {
      seen[i] = r->count;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(must(store().throttle_get("login:ip:203.0.113.9")).count, 20);
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(seen[i], i + 1);  // each hit saw its own count: no lost update
  }
}

TEST_P(SharedStoreContract, ConcurrentUseAcrossTwoHandlesWinsOnce) {
  // Two handles stand for two processes (or instances) on one database.
  auto other = open();
  User alice = user("alice");
  Method m = method_for(alice.id, "totp", kNow, "", true);
  EXPECT_OK(store().replace_recovery_codes(alice.id, {"h"}, 1, kNow));
  std::atomic<int> code_wins{0};
  std::atomic<int> step_wins{0};
  std::atomic<int> errors{0};
  in_parallel(20, [&](int i) {
    Store& s = i % 2 == 0 ? store() : *other;
    auto code = s.use_recovery_code(alice.id, 1, "h", kNow);
    auto step = s.advance_method_step(m.id, 77, kNow);
    auto hit = s.throttle_hit("k", kNow, 60, 1000, 60);
    if (!code || !step || !hit) {
      ++errors;
      return;
    }
    code_wins += *code ? 1 : 0;
    step_wins += *step ? 1 : 0;
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(code_wins.load(), 1);
  EXPECT_EQ(step_wins.load(), 1);
  EXPECT_EQ(must(other->throttle_get("k")).count, 20);
}

// Backends where a second handle reaches the same data (files, servers) also run the
// reopening and several-processes tests; an in-memory database is not listed there rather
// than skipped.
std::vector<StoreFactory> shared_factories() {
  std::vector<StoreFactory> out;
  for (const auto& f : contract::store_factories()) {
    if (f.shared) out.push_back(f);
  }
  return out;
}
INSTANTIATE_TEST_SUITE_P(Backends, SharedStoreContract, ::testing::ValuesIn(shared_factories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::ValuesIn(contract::store_factories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });
INSTANTIATE_TEST_SUITE_P(Backends, SiteAuditContract,
                         ::testing::ValuesIn(contract::store_factories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace twostep::store
