// What the contract test files of each area share: unwrapping results, error-code checks, a
// fresh migrated database per test (run against every entry of store_factories()), and
// threads that start together for the use-once tests. store_contract_test.cpp keeps its own,
// larger fixture.
#pragma once

#include <gtest/gtest.h>

#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends.hpp"
#include "twostep/store/store.hpp"

// Checks that `expr` failed with `expected_code`.
#define EXPECT_CODE(expr, expected_code)                      \
  do {                                                        \
    auto&& r_ = (expr);                                       \
    if (r_.has_value()) {                                     \
      ADD_FAILURE() << #expr << " succeeded, expected error"; \
    } else {                                                  \
      EXPECT_EQ(r_.error().code, expected_code) << #expr;     \
    }                                                         \
  } while (0)

namespace twostep::store::contract {

inline constexpr int64_t kNow = 1'700'000'000;

// Unwraps a result or fails the test (gtest reports the exception with the error detail).
template <class T>
T must(core::Result<T> r) {
  if (!r) {
    throw std::runtime_error("unexpected error: " + r.error().message + " / " + r.error().detail);
  }
  return std::move(*r);
}

inline void must_ok(const core::Status& st) {
  if (!st) {
    throw std::runtime_error("unexpected error: " + st.error().message + " / " + st.error().detail);
  }
}

class ContractFixture : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    db_ = GetParam().make();
    store_ = must(open_store(db_->url()));
    must(store_->migrate());
  }
  Store& store() { return *store_; }

  User user(const std::string& name) {
    return must(store().create_user(name, "hash-" + name, kNow));
  }

  Session session_for(int64_t user_id, const std::string& token_hash,
                      SessionState state = SessionState::kFull) {
    Session s;
    s.token_hash = token_hash;
    s.user_id = user_id;
    s.state = state;
    s.created_at = kNow;
    s.last_seen_at = kNow;
    s.expires_at = kNow + 3600;
    s.absolute_expires_at = kNow + 86400;
    s.auth_at = kNow;
    return must(store().create_session(s));
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
    for (auto& t : threads) t.join();
  }

  std::unique_ptr<TestDatabase> db_;  // outlives store_
  std::unique_ptr<Store> store_;
};

// The gtest parameter name of a backend.
inline std::string backend_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

}  // namespace twostep::store::contract
