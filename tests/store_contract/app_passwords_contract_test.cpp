// The store contract for application passwords: what every backend must do, run
// against each entry of store_factories() (the PostgreSQL backend runs it too).
// Tests speak only the Store interface.
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "fixture.hpp"

namespace twostep::store {
namespace {

using contract::kNow;
using contract::must;
using core::Code;

class AppPasswordStoreContract : public contract::ContractFixture {
 protected:
  static AppPassword record(int64_t user_id, const std::string& lookup,
                            const std::string& name = "phone") {
    AppPassword p;
    p.user_id = user_id;
    p.name = name;
    p.scopes = "mail,dav";
    p.lookup = lookup;
    p.hash = "hash-of-" + lookup;
    p.key_id = 7;
    p.created_at = kNow;
    return p;
  }
};

TEST_P(AppPasswordStoreContract, CreateStoresEveryField) {
  User alice = user("alice");
  AppPassword p = must(store().create_app_password(record(alice.id, "abcd", "Thunderbird"), 50));
  EXPECT_GT(p.id, 0);
  EXPECT_EQ(p.user_id, alice.id);
  EXPECT_EQ(p.name, "Thunderbird");
  EXPECT_EQ(p.scopes, "mail,dav");
  EXPECT_EQ(p.lookup, "abcd");
  EXPECT_EQ(p.hash, "hash-of-abcd");
  EXPECT_EQ(p.key_id, 7u);
  EXPECT_EQ(p.created_at, kNow);
  EXPECT_EQ(p.last_used_at, 0);
  EXPECT_EQ(p.last_used_ip, "");
  auto listed = must(store().app_passwords_of_user(alice.id));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, p.id);
  EXPECT_EQ(listed[0].hash, "hash-of-abcd");
}

TEST_P(AppPasswordStoreContract, ListIsPerUserOldestFirst) {
  User alice = user("alice");
  User bob = user("bob");
  AppPassword first = record(alice.id, "aaaa");
  AppPassword second = record(alice.id, "bbbb");
  second.created_at = kNow + 10;
  AppPassword a2 = must(store().create_app_password(second, 50));
  AppPassword a1 = must(store().create_app_password(first, 50));
  must(store().create_app_password(record(bob.id, "cccc"), 50));
  auto listed = must(store().app_passwords_of_user(alice.id));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, a1.id);
  EXPECT_EQ(listed[1].id, a2.id);
  EXPECT_TRUE(must(store().app_passwords_of_user(9999)).empty());
}

TEST_P(AppPasswordStoreContract, LookupIsUniquePerUserOnly) {
  User alice = user("alice");
  User bob = user("bob");
  must(store().create_app_password(record(alice.id, "abcd"), 50));
  auto again = store().create_app_password(record(alice.id, "abcd"), 50);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  EXPECT_TRUE(store().create_app_password(record(bob.id, "abcd"), 50).has_value());
}

TEST_P(AppPasswordStoreContract, UnknownUserIsNotFound) {
  auto r = store().create_app_password(record(4242, "abcd"), 50);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
}

TEST_P(AppPasswordStoreContract, LimitPerUserIsEnforced) {
  User alice = user("alice");
  User bob = user("bob");
  for (int i = 0; i < 3; ++i) {
    must(store().create_app_password(record(alice.id, "look" + std::to_string(i)), 3));
  }
  auto fourth = store().create_app_password(record(alice.id, "more"), 3);
  ASSERT_FALSE(fourth.has_value());
  EXPECT_EQ(fourth.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(fourth.error().reason, "too_many_app_passwords");
  EXPECT_EQ(must(store().app_passwords_of_user(alice.id)).size(), 3u);
  // Another user's count is their own.
  EXPECT_TRUE(store().create_app_password(record(bob.id, "more"), 3).has_value());
}

TEST_P(AppPasswordStoreContract, ConcurrentCreationsNeverPassTheLimit) {
  User alice = user("alice");
  constexpr int kThreads = 12;
  constexpr int kMax = 5;
  std::atomic<int> won{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  in_parallel(kThreads, [&](int i) {
    auto r = store().create_app_password(record(alice.id, "t" + std::to_string(i)), kMax);
    if (r) {
      won++;
    } else if (r.error().code == Code::kFailedPrecondition) {
      refused++;
    } else {
      other++;
    }
  });
  EXPECT_EQ(won.load(), kMax);
  EXPECT_EQ(refused.load(), kThreads - kMax);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(must(store().app_passwords_of_user(alice.id)).size(), static_cast<size_t>(kMax));
}

TEST_P(AppPasswordStoreContract, ForLoginFindsUserAndPasswordInOneRead) {
  User alice = user("alice");
  User bob = user("bob");
  AppPassword p = must(store().create_app_password(record(alice.id, "abcd"), 50));
  must(store().create_app_password(record(bob.id, "wxyz"), 50));
  auto [u, found] = must(store().app_password_for_login("ALICE", "abcd"));
  EXPECT_EQ(u.id, alice.id);
  EXPECT_EQ(u.username, "alice");
  EXPECT_EQ(u.password_hash, "hash-alice");
  EXPECT_EQ(found.id, p.id);
  EXPECT_EQ(found.hash, "hash-of-abcd");
  // Another user's lookup, an unknown lookup, an unknown user: not found.
  for (auto [name, lookup] : std::vector<std::pair<std::string, std::string>>{
           {"alice", "wxyz"}, {"alice", "zzzz"}, {"carol", "abcd"}, {"alice", ""}}) {
    auto r = store().app_password_for_login(name, lookup);
    ASSERT_FALSE(r.has_value()) << name << "/" << lookup;
    EXPECT_EQ(r.error().code, Code::kNotFound);
  }
}

TEST_P(AppPasswordStoreContract, TouchRecordsLastUse) {
  User alice = user("alice");
  AppPassword p = must(store().create_app_password(record(alice.id, "abcd"), 50));
  EXPECT_TRUE(store().touch_app_password(p.id, kNow + 60, "198.51.100.7").has_value());
  auto [u, found] = must(store().app_password_for_login("alice", "abcd"));
  EXPECT_EQ(found.last_used_at, kNow + 60);
  EXPECT_EQ(found.last_used_ip, "198.51.100.7");
  auto missing = store().touch_app_password(p.id + 100, kNow, "x");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_P(AppPasswordStoreContract, DeleteOnlyTheUsersOwnAndOnce) {
  User alice = user("alice");
  User bob = user("bob");
  AppPassword p = must(store().create_app_password(record(alice.id, "abcd", "Mail"), 50));
  auto by_bob = store().delete_app_password(bob.id, p.id);
  ASSERT_FALSE(by_bob.has_value());
  EXPECT_EQ(by_bob.error().code, Code::kNotFound);
  EXPECT_TRUE(store().app_password_for_login("alice", "abcd").has_value());

  AppPassword gone = must(store().delete_app_password(alice.id, p.id));
  EXPECT_EQ(gone.id, p.id);
  EXPECT_EQ(gone.name, "Mail");
  EXPECT_FALSE(store().app_password_for_login("alice", "abcd").has_value());
  auto twice = store().delete_app_password(alice.id, p.id);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, Code::kNotFound);
  // The freed slot and lookup can be used again.
  EXPECT_TRUE(store().create_app_password(record(alice.id, "abcd"), 1).has_value());
}

TEST_P(AppPasswordStoreContract, ConcurrentDeletesSucceedOnce) {
  User alice = user("alice");
  AppPassword p = must(store().create_app_password(record(alice.id, "abcd"), 50));
  std::atomic<int> won{0};
  in_parallel(8, [&](int) {
    if (store().delete_app_password(alice.id, p.id)) won++;
  });
  EXPECT_EQ(won.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, AppPasswordStoreContract,
                         ::testing::ValuesIn(contract::store_factories()), contract::backend_name);

}  // namespace
}  // namespace twostep::store
