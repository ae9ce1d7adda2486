// A services test bed: an in-memory SQLite store, a fake clock, a fixed keyring and cheap
// Argon2id parameters.
#pragma once

#include <memory>

#include <gtest/gtest.h>

#include "twostep/core/clock.hpp"
#include "twostep/core/config.hpp"
#include "twostep/core/metrics.hpp"
#include "twostep/crypto/keyring.hpp"
#include "twostep/services/accounts.hpp"
#include "twostep/services/app_passwords.hpp"
#include "twostep/services/audit.hpp"
#include "twostep/services/login.hpp"
#include "twostep/services/sessions.hpp"
#include "twostep/services/throttle.hpp"
#include "twostep/services/twofa.hpp"
#include "twostep/store/store.hpp"

namespace twostep::services::testing {

inline core::Config test_config() {
  core::Config c;
  c.security.argon2_memory_kib = 8;
  c.security.argon2_iterations = 1;
  return c;
}

class ServicesTest : public ::testing::Test {
 protected:
  ServicesTest()
      : config_(test_config()),
        keyring_(crypto::Keyring::from_keys({{1, std::string(32, '\x42')}}, 1)) {
    auto s = store::open_store("sqlite::memory:");
    EXPECT_TRUE(s.has_value());
    store_ = std::move(*s);
    EXPECT_TRUE(store_->migrate().has_value());
    rebuild();
  }

  // Re-creates the services after a config change.
  void rebuild() {
    Deps d{*store_, clock_, keyring_, config_, metrics_};
    audit_ = std::make_unique<Audit>(d);
    throttles_ = std::make_unique<Throttles>(d);
    sessions_ = std::make_unique<Sessions>(d, *audit_);
    twofa_ = std::make_unique<TwoFactor>(d, *audit_);
    app_passwords_ = std::make_unique<AppPasswords>(d, *audit_, *throttles_, *twofa_);
    accounts_ = std::make_unique<Accounts>(d, *audit_, *sessions_, *app_passwords_);
    login_ = std::make_unique<Login>(d, *audit_, *sessions_, *twofa_, *throttles_);
  }

  store::User make_user(const std::string& name = "alice") {
    auto u = accounts_->create(name, kPassword, client_, "test");
    EXPECT_TRUE(u.has_value()) << (u ? "" : u.error().message);
    return *u;
  }

  std::vector<std::string> count_events(int64_t user_id) {
    std::vector<std::string> out;
    auto events = store_->audit_of_user(user_id, 200);
    EXPECT_TRUE(events.has_value());
    for (const auto& e : *events) out.push_back(e.event);
    return out;
  }

  static constexpr const char* kPassword = "correct horse battery staple 42";
  core::Config config_;
  core::FakeClock clock_;
  core::Metrics metrics_;
  crypto::Keyring keyring_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Audit> audit_;
  std::unique_ptr<Throttles> throttles_;
  std::unique_ptr<Sessions> sessions_;
  std::unique_ptr<TwoFactor> twofa_;
  std::unique_ptr<AppPasswords> app_passwords_;
  std::unique_ptr<Accounts> accounts_;
  std::unique_ptr<Login> login_;
  Client client_{"192.0.2.1", "unit-test"};
};

}  // namespace twostep::services::testing
